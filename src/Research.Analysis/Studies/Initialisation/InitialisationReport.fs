namespace Research.Analysis.Studies.Initialisation

open System
open System.Globalization
open Plotly.NET
open Research.Core.Capture
open Research.Core.Studies.Initialisation
open Research.Analysis

/// The report blocks of the initialisation study (figures, the notebooks' tables, notes; the runner
/// adds the verdicts, methods and provenance).
module InitialisationReport =

    let private g4 (x: float) = if Double.IsNaN x then "–" else x.ToString("G4", CultureInfo.InvariantCulture)
    let private e1 (x: float) = x.ToString("0.0e+0", CultureInfo.InvariantCulture)
    let private lrText (lr: float) = lr.ToString("G3", CultureInfo.InvariantCulture)
    let private spreadText (s: Spread) = $"{g4 s.Mean} [{g4 s.Lower}, {g4 s.Upper}]"

    /// A paragraph from sentences given one per line.
    let private prose (sentences: string list) = Paragraph(String.Join(" ", sentences))

    /// The title of a network's section.
    let networkTitle (network: InitNetwork) =
        match network with
        | InitNetwork.SeminarWide -> "The seminar's wide net, 784 → 500 (×10) → 10"
        | InitNetwork.SeminarDeep -> "The seminar's deep net, 784 → 64 → 32 → 16 (×30) → 10"
        | InitNetwork.LectureSigmoid -> "The lecture's sigmoid net, 784 → 100 (×3) → 10, batches of 32"
        | InitNetwork.Stack256 -> "Square layers, 784 → 256 (×10) → 10"
        | other -> string other

    let private families (cs: ConfigurationAnalysis list) = cs |> List.groupBy (fun c -> c.Configuration.Network)

    let private layerCount (cs: ConfigurationAnalysis list) =
        cs |> List.map (fun c -> c.Layers.Length) |> List.fold max 0

    /// Std per Linear layer (log scale): the seminar's one batch as the line, the 95% range over B
    /// batches (same weights) as the band; one curve per initialisation.
    let private perLayerFigure (yTitle: string) (select: LayerSummary -> float * Spread)
                               (cs: ConfigurationAnalysis list) =
        Figures.bands true
            [ for c in cs ->
                let points = c.Layers |> Array.map select
                let lower, upper = points |> Array.map (fun (_, s: Spread) -> s.Lower, s.Upper) |> Array.unzip
                { Name = c.Configuration.Title
                  X = c.Layers |> Array.map (fun l -> float (l.Index + 1))
                  Y = points |> Array.map fst
                  Band = Some(lower, upper) } ]
        |> Chart.withXAxis (
            LayoutObjects.LinearAxis.init (
                Title = Title.init "Linear layer l (the statistic of its input)",
                DTick = (if layerCount cs <= 12 then 1 else 5)))
        |> Figures.withLogY yTitle
        |> Chart.withSize (1100, 430)

    let private forward (l: LayerSummary) = l.OneBatch.InputStd, l.InputStd
    let private backward (l: LayerSummary) = l.OneBatch.InputGradientStd, l.InputGradientStd

    let private layerTable (batches: int) (c: ConfigurationAnalysis) =
        let k = c.Configuration
        { Title =
            $"{k.Id}: {k.NetworkText}, {k.Init} (one row per Linear layer; mean [2.5%%, 97.5%%] over {batches} "
            + "batches or reruns)"
          Columns =
            [ "layer"; "in → out"; "input std (one batch)"; "over batches"; "over reruns"; "∂L/∂input std (one batch)"
              "over batches"; "over reruns"; "‖∂L/∂W‖ (one batch)"; "pre-activation std (one batch)" ]
          Rows =
            [ for l in c.Layers ->
                [ l.Name; $"{l.InFeatures} → {l.OutFeatures}"; g4 l.OneBatch.InputStd; spreadText l.InputStd
                  spreadText l.InputStdReruns; g4 l.OneBatch.InputGradientStd; spreadText l.InputGradientStd
                  spreadText l.InputGradientStdReruns; g4 l.OneBatch.WeightGradientNorm; g4 l.OneBatch.OutputStd ] ]
          CsvName = Some $"layers-{k.Id}.csv" }

    let private relative (ours: float) (theirs: float) = abs (ours - theirs) / abs theirs

    /// The largest relative difference of one layer's four statistics from PyTorch's.
    let private layerDeviation (o: LinearLayerStatistics) (p: ReferenceLayer) =
        List.max
            [ relative o.InputStd p.InputStd; relative o.InputGradientStd p.InputGradientStd
              relative o.OutputStd p.PreactivationStd; relative o.WeightGradientStd p.WeightGradientStd ]

    /// The largest relative difference from PyTorch over every layer's four statistics and the loss.
    let referenceDeviation (c: ConfigurationAnalysis) : float option =
        match c.Reference, Option.ofObj c.Measurement.ReferenceProtocol with
        | Some r, Some ours when r.Layers.Length = ours.Layers.Count ->
            Seq.map2 layerDeviation ours.Layers r.Layers |> Seq.append [ relative ours.Loss r.Loss ] |> Seq.max |> Some
        | _ -> None

    let private referenceTable (c: ConfigurationAnalysis) (r: ReferenceConfiguration) (ours: NetworkStatistics) =
        { Title =
            $"{c.Configuration.Id} under init_variance.json's protocol (randn(100, 784), weights after "
            + $"manual_seed(0)): ours beside PyTorch 1.13.1's '{r.Key}'; loss {g4 ours.Loss} vs {g4 r.Loss}"
          Columns =
            [ "layer"; "input std (ours)"; "(PyTorch)"; "∂L/∂input std (ours)"; "(PyTorch)"; "pre-activation std (ours)"
              "(PyTorch)"; "∂L/∂W std (ours)"; "(PyTorch)"; "largest relative difference" ]
          Rows =
            [ for o, p in Seq.zip ours.Layers r.Layers ->
                [ o.Name; g4 o.InputStd; g4 p.InputStd; g4 o.InputGradientStd; g4 p.InputGradientStd; g4 o.OutputStd
                  g4 p.PreactivationStd; g4 o.WeightGradientStd; g4 p.WeightGradientStd; e1 (layerDeviation o p) ] ]
          CsvName = Some $"pytorch-{c.Configuration.Id}.csv" }

    /// Per configuration: how far apart the 2.5% and 97.5% quantiles lie (largest over layers of upper/lower).
    let private reliabilityTable (batches: int) (cs: ConfigurationAnalysis list) =
        let widest (select: LayerSummary -> Spread) (c: ConfigurationAnalysis) =
            let ratios =
                c.Layers |> Array.map (fun l -> (select l).Upper / (select l).Lower) |> Array.filter Double.IsFinite
            if ratios.Length = 0 then nan else Array.max ratios
        { Title =
            "What one batch can tell: the largest ratio over layers of the 97.5% to the 2.5% quantile, over "
            + $"{batches} batches (same weights) and over {batches} reruns (fresh weights and batch)"
          Columns =
            [ "configuration"; "input std: batches"; "input std: reruns"; "∂L/∂input std: batches"
              "∂L/∂input std: reruns" ]
          Rows =
            [ for c in cs ->
                [ c.Configuration.Id; g4 (widest (fun l -> l.InputStd) c); g4 (widest (fun l -> l.InputStdReruns) c)
                  g4 (widest (fun l -> l.InputGradientStd) c); g4 (widest (fun l -> l.InputGradientStdReruns) c) ] ]
          CsvName = Some "one-batch-reliability.csv" }

    let private histogramFigure (cs: ConfigurationAnalysis list) =
        [ for c in cs ->
            let w = c.Measurement.FirstLayerWeights |> Array.map float |> Array.sort
            let edges, densities = Histogram.densityOfSorted 60 (0.0, 1.0) w
            let std = c.Measurement.OneBatch.Layers.[0].WeightStd
            $"{c.Configuration.Id} (std {g4 std})", Figures.histogramWithDensity edges densities None false ]
        |> Figures.grid 4 240

    /// At most n evenly spaced points of a curve over steps 1..T, so long runs keep the report small.
    let private thinned (n: int) (y: float[]) =
        let keep =
            if y.Length <= n then Array.init y.Length id
            else Array.init n (fun k -> int (float k * float (y.Length - 1) / float (n - 1)))
        keep |> Array.map (fun i -> float (i + 1)), keep |> Array.map (fun i -> y.[i])

    let private curves (select: TrainingAnalysis -> float[]) (runs: TrainingAnalysis list) =
        Figures.bands false
            [ for t in runs ->
                let x, y = thinned 2000 (select t)
                { Name = t.Result.Run.Title; X = x; Y = y; Band = None } ]

    let private trainingFigure (runs: TrainingAnalysis list) =
        [ "training loss, smoothed (β = 0.9)",
          curves (fun t -> t.SmoothedTrainLoss) runs |> Figures.withAxes "step" "cross-entropy"
          "test-batch loss, smoothed (β = 0.9)",
          curves (fun t -> t.SmoothedTestLoss) runs
          |> Figures.withAxes "step" ""
          |> Chart.withTraceInfo (ShowLegend = false) ]
        |> Figures.grid 2 420

    let private boxFigure (logY: bool) (select: LayerSnapshot -> float32[]) (runs: TrainingAnalysis list) =
        [ for i, t in List.indexed runs ->
            let series =
                [ for s in t.Result.Snapshots -> s.Label, [ for l in s.Layers -> l.Layer, Array.map float (select l) ] ]
            let chart = Figures.groupedBoxPlots 400 (i = 0) series |> Figures.withAxes "Linear layer" ""
            t.Result.Run.Title, (if logY then chart |> Figures.withLogY "" else chart) ]
        |> Figures.grid 2 380

    let private epochTable (runs: TrainingAnalysis list) =
        { Title = "Per epoch: the batch losses' mean ± std (n − 1), and the whole test set's loss and accuracy after it"
          Columns =
            [ "lr"; "run"; "epoch"; "steps"; "batch loss mean"; "batch loss std"; "test loss"; "test accuracy (%)" ]
          Rows =
            [ for t in runs do
                for e in t.Epochs ->
                    [ lrText t.Result.LearningRate; t.Result.Run.Id; string e.Epoch; string e.Steps; g4 e.LossMean
                      g4 e.LossStd; g4 e.TestLoss
                      (100.0 * e.TestAccuracy).ToString("F2", CultureInfo.InvariantCulture) ] ]
          CsvName = Some "training-epochs.csv" }

    let private boxTable (runs: TrainingAnalysis list) =
        let cells (b: BoxSummary) =
            [ string b.Count; g4 b.Min; g4 b.LowerWhisker; g4 b.Q1; g4 b.Median; g4 b.Q3; g4 b.UpperWhisker; g4 b.Max ]
        { Title =
            "The box plots' numbers: per run, iteration and Linear layer, the layer's input and |∂L/∂W| (quantiles as "
            + "numpy; whiskers at 1.5 IQR)"
          Columns =
            [ "lr"; "run"; "iteration"; "layer"; "quantity"; "n"; "min"; "lower whisker"; "q25"; "median"; "q75"
              "upper whisker"; "max" ]
          Rows =
            [ for t in runs do
                for b in t.Boxes do
                    let head = [ lrText t.Result.LearningRate; t.Result.Run.Id; string b.Iteration; b.Layer ]
                    yield head @ ("input" :: cells b.Inputs)
                    yield head @ ("|dL/dW|" :: cells b.WeightGradientAbs) ]
          CsvName = Some "box-quantiles.csv" }

    let private lastAccuracy (t: TrainingAnalysis) = t.Epochs.[t.Epochs.Length - 1].TestAccuracy

    let private accuracyText (runs: TrainingAnalysis list) (lr: float) =
        let parts =
            [ for t in runs do
                if t.Result.LearningRate = lr then yield $"{t.Result.Run.Title} {(100.0 * lastAccuracy t):F1}%%" ]
        String.Join("; ", parts)

    /// The learning-rate note: what the nets reached at each rate, and what that says about the lecture.
    let private learningRateNote (runs: TrainingAnalysis list) (learningRates: float list) =
        let lecture, contrasts = List.head learningRates, List.tail learningRates
        let epochs = match runs with t :: _ -> t.Epochs.Length | [] -> 0
        let learners = [ "sigmoid-n2-normal0.01"; "sigmoid-n3-xavier" ]
        let learnt (lr: float) =
            runs
            |> List.filter (fun t -> t.Result.LearningRate = lr && List.contains t.Result.Run.Id learners)
            |> List.filter (fun t -> lastAccuracy t > 0.8)
            |> List.length
        let elsewhere = String.Join("", contrasts |> List.map (fun lr -> $", {learnt lr} at {lrText lr}"))
        let verdict =
            if learnt lecture = 2 then "the lecture's picture appears at its stated learning rate"
            elif contrasts |> List.exists (fun lr -> learnt lr > learnt lecture) then
                "the picture the lecture describes is closer to what the nets do at a larger learning rate, so the "
                + "lecture most likely trained with another learning rate (or optimizer) than the one it states"
            else $"the lecture's picture appears at none of these learning rates within {epochs} epoch(s)"
        let contrastText =
            String.Join("; ", contrasts |> List.map (fun lr -> $"at {lrText lr}, {accuracyText runs lr}"))
        prose
            [ $"The learning rate. With the lecture's stated SGD lr {lrText lecture} (batch 32, no momentum), after"
              $"{epochs} epoch(s): {accuracyText runs lecture}."
              (if contrasts.IsEmpty then "No contrast learning rate was trained."
               else $"The contrasts: {contrastText}.")
              $"Of the two nets the lecture says learn (n = 2 with N(0, 0.01), n = 3 with Xavier), {learnt lecture}"
              $"reach 80%% test accuracy at the stated lr{elsewhere}: {verdict}. The claims at the lecture's lr keep"
              "their expected verdicts and are reported refuted where they fail; the contrasts have no expectation." ]

    /// Where the notebooks were wrong or ambiguous, with this run's numbers.
    let private notes (cs: ConfigurationAnalysis list) (runs: TrainingAnalysis list) (learningRates: float list) =
        let deviations = cs |> List.choose referenceDeviation
        let worst = if deviations.IsEmpty then "–" else e1 (List.max deviations)
        let batches = match cs with c :: _ -> c.Measurement.OverBatches.Count | [] -> 0
        [ Heading(2, "Where the notebooks were wrong or ambiguous")
          prose
              [ "Backward hooks. The seminar printed the std of the gradient with respect to each Linear layer's input"
                "from Module.register_backward_hook, which PyTorch deprecated because it reports the grad_input of the"
                "module's last autograd operation, not of the module: for nn.Linear with a bias that is addmm's"
                "(∂L/∂b, ∂L/∂h, ∂L/∂Wᵀ), so the number printed depends on the index the notebook took, and for other"
                "modules it can be the gradient of an intermediate result. This study keeps each layer's input with"
                "retain_grad() and reports the exact ∂L/∂(input); TorchSharp has no backward hooks." ]
          prose
              [ "Which batch. The seminar drew one network and printed one batch of 100. Here every configuration is"
                $"measured on that one batch, on {batches} more batches with the same weights, and on as many reruns"
                "with fresh weights and a fresh batch (the cell run again). The table 'What one batch can tell' shows"
                "how far apart the middle 95% lie: where the weight draw matters more than the batch, a claim about a"
                "scheme is judged over reruns, not on one printout." ]
          prose
              [ "PyTorch's numbers. init_variance.json's values depend on PyTorch's generator; the toolkit's"
                "initialisers draw the same numbers for a seed, so under the file's protocol (randn(100, 784) after"
                "manual_seed(1), weights after manual_seed(0)) every per-layer statistic and the loss can be compared"
                $"with PyTorch 1.13.1: the largest relative difference over the {deviations.Length} configurations is"
                $"{worst}. The MNIST statistics differ from the file's because MNIST is not white noise: its pixels are"
                "correlated and its normalised background is −0.42, not 0." ]
          prose
              [ "\"Does not learn at all\", measured. The lecture judged it by eye from a loss curve. Here it is a test"
                "accuracy below 20% after the first epoch (chance is 10%; always answering the most frequent digit, 1,"
                "gives 11.35%), with a Wilson 95% interval; \"learns\" is an accuracy above 80%." ]
          learningRateNote runs learningRates
          prose
              [ "The lecture's \"default\" initialisation. The lecture's first runs are taken as N(0, 0.01) (its"
                "\"normal\" initialisation). PyTorch's own default for nn.Linear, U(±1/√fan_in), is measured at"
                "initialisation (sigmoid-default) and, in the full tier, trained as well." ]
          prose
              [ "Xavier with tanh on the deep net (claim xavier-tanh-deep-within-2). Glorot and Bengio's derivation"
                "treats tanh as linear at 0 and averages the two fans; tanh's slope is below 1 away from 0, so with"
                "gain 1 the activations shrink a little at every layer and the gradients grow toward the output, which"
                "over 32 layers is far more than a factor 2. PyTorch's calculate_gain(\"tanh\") = 5/3 counters the"
                "slope (compare wide-tanh-xavier-gain with wide-tanh-xavier in the first figure)." ]
          prose
              [ "He on a narrow deep net. He et al.'s scaling preserves the mean square of the activations in"
                "expectation, but with 16 units per layer the log of the activation norm is a random walk whose"
                "variance grows like the sum of 1/width over the layers (Hanin and Rolnick, \"How to start training:"
                "the effect of initialization and architecture\", NeurIPS 2018), so a typical draw of the 31 narrow"
                "layers drifts far from its first layer; the reruns show how far. The seminar's one draw could not"
                "show this." ] ]

    let private atInitialisation (batches: int) (cs: ConfigurationAnalysis list) =
        [ yield Heading(2, "Per-layer statistics at initialisation")
          yield prose
              [ "For each configuration, one network is drawn and one batch of MNIST training images (normalised with"
                "(0.1307, 0.3081)) is passed forward and backward; for each Linear layer we record the std of its input"
                "(the seminar's forward hook), of ∂L/∂(input) (its backward hook), of the pre-activation and the norm"
                $"of ∂L/∂W. Lines are that one batch; bands are the 2.5–97.5%% range over {batches} more batches with"
                $"the same weights. The tables below add {batches} reruns with fresh weights and batches. Layer l's"
                "input is the data for l = 1 and the previous layer's activation after it." ]
          for network, group in families cs do
              let title = networkTitle network
              yield Heading(3, title)
              yield Figure($"{title}: std of each Linear layer's input (forward), one batch with the 95%% range over "
                           + $"{batches} batches.", perLayerFigure "std of the layer's input h" forward group)
              yield Figure($"{title}: std of ∂L/∂(input) of each Linear layer (backward), one batch with the 95%% "
                           + $"range over {batches} batches.", perLayerFigure "std of ∂L/∂h" backward group)
          yield Table(reliabilityTable batches cs)
          yield Heading(2, "Histograms of the first layer's initial weights")
          yield Figure("The first Linear layer's initial weights of each configuration (the one-batch draw), as "
                       + "densities; uniform schemes have flat tops and hard edges, normal ones tails.",
                       histogramFigure cs) ]

    let private training (runs: TrainingAnalysis list) (learningRates: float list) =
        [ yield Heading(2, "Training the lecture's sigmoid nets")
          yield prose
              [ "784 → 100 → (100)ⁿ⁻¹ → 10 with sigmoid activations, SGD without momentum, batch 32, MNIST normalised"
                "with the lecture's (0.13, 0.3); the same initial weights for the runs of one scheme and the same batch"
                "order for all. After every step the loss of the next test batch (32 test images, cycling through the"
                "test set in a seeded order) is recorded, and after every epoch the whole test set's loss and"
                "accuracy." ]
          for lr in learningRates do
              let atRate = runs |> List.filter (fun t -> t.Result.LearningRate = lr)
              if not atRate.IsEmpty then
                  yield Heading(3, $"Learning rate {lrText lr}")
                  yield Figure($"lr {lrText lr}: training loss of each step and loss of one test batch after each "
                               + "step, smoothed as in the lecture.", trainingFigure atRate)
                  yield Figure($"lr {lrText lr}: each Linear layer's input over the batch at the recorded iterations.",
                               boxFigure false (fun l -> l.Input) atRate)
                  yield Figure($"lr {lrText lr}: |∂L/∂W| of each Linear layer at the recorded iterations (log scale): "
                               + "the lecture's \"network paralysis\" is the first layers' boxes far below the last's.",
                               boxFigure true (fun l -> l.WeightGradientAbs) atRate)
          yield Table(epochTable runs) ]

    /// The study's figures and tables, in reading order.
    let blocks (batches: int) (cs: ConfigurationAnalysis list) (runs: TrainingAnalysis list) (learningRates: float list)
               : ReportBlock list =
        [ yield! atInitialisation batches cs
          yield! training runs learningRates
          yield! notes cs runs learningRates
          yield Heading(2, "The notebooks' tables: per-layer statistics, one row per layer")
          yield prose
              [ "On MNIST: the seminar's one batch, and mean [2.5%, 97.5%] over batches (same weights) and over reruns"
                "(fresh weights and batch). For the eight configurations of init_variance.json, the same statistics"
                "under that file's protocol beside PyTorch 1.13.1's values." ]
          for c in cs do
              yield Table(layerTable batches c)
              match c.Reference, Option.ofObj c.Measurement.ReferenceProtocol with
              | Some r, Some ours -> yield Table(referenceTable c r ours)
              | _ -> ()
          yield Heading(2, "The box plots' numbers")
          yield Table(boxTable runs) ]
