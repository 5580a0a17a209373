namespace Research.Analysis.Studies.Regularisation

open System
open System.Globalization
open Plotly.NET
open Research.Core.Training
open Research.Core.Studies.Regularisation
open Research.Analysis
open Research.Analysis.Studies.Regularisation.RegularisationAnalysis

/// <summary>The report blocks of the regularisation study (the runner adds the verdicts, methods and
/// provenance): the seminar CNN's heads, the normalisation variants, the sigmoid MLP, the penalties and
/// BatchNorm's running mean, the overfitting demo, Monte Carlo dropout, and where the notebooks were
/// wrong.</summary>
module RegularisationReport =

    let private pct (x: float) =
        if Double.IsNaN x then "–" else (100.0 * x).ToString("F2", CultureInfo.InvariantCulture)
    let private f4 (x: float) = if Double.IsNaN x then "–" else x.ToString("F4", CultureInfo.InvariantCulture)
    let private g3 (x: float) = if Double.IsNaN x then "–" else x.ToString("G3", CultureInfo.InvariantCulture)

    /// "mean [lower, upper]", or "mean (seeds: a, b)" where there are too few seeds for an interval.
    let private summaryText (format: float -> string) (s: SeedSummary) =
        if Double.IsNaN s.Lower then $"""{format s.Mean} (seeds: {String.Join(", ", s.Values |> Array.map format)})"""
        else $"{format s.Mean} [{format s.Lower}, {format s.Upper}]"

    let private pctInterval = summaryText pct
    let private interval = summaryText f4

    /// The mean over seeds with its interval, given a name for its bootstrap stream.
    type private Summary = string -> float[] -> SeedSummary

    /// An x axis of whole epochs.
    let private epochAxis (chart: GenericChart) =
        chart |> Chart.withXAxis (LayoutObjects.LinearAxis.init (Title = Title.init "epoch", DTick = 1))

    let private hideLegend (chart: GenericChart) = chart |> Chart.withTraceInfo (ShowLegend = false)

    /// Median and 10–90% band over seeds of per-seed curves, against x = 1, 2, ….
    let private seedBand (name: string) (curves: float[][]) : BandedCurve =
        let b = Quantile.band curves
        let x = Array.init b.Median.Length (fun i -> float (i + 1))
        { Name = name; X = x; Y = b.Median; Band = Some(b.Q10, b.Q90) }

    let private testAccuracy (s: EpochSummary) = s.TestAccuracy

    /// Each configuration's test accuracy per epoch, with its band over seeds.
    let private accuracyCurves (runs: (string * CnnRun[]) list) =
        Figures.bands false [ for name, rs in runs -> seedBand name (curves testAccuracy rs) ]
        |> epochAxis
        |> Chart.withYAxisStyle (TitleText = "test accuracy")
        |> Chart.withSize (1100, 460)

    /// One panel per quantity, every configuration's band in it; the legend once.
    let private panels (runs: (string * CnnRun[]) list) (quantities: (string * (EpochSummary -> float)) list) =
        [ for i, (title, select) in List.indexed quantities ->
            let chart = Figures.bands false [ for name, rs in runs -> seedBand name (curves select rs) ]
            title, (if i = 0 then chart else hideLegend chart) ]

    // ---- the CNN ----------------------------------------------------------------------------------

    let private variantsById =
        dict [ for v in Array.append CnnVariant.SeminarHeads CnnVariant.NormalizationVariants -> v.Id, v ]

    let private accuracyTable (title: string) (csv: string) (summary: Summary) (rows: (string * CnnRun[]) list) =
        { Title = title
          Columns = [ "run"; "what"; "seeds"; "parameters"; "test accuracy %: mean [95% interval]"
                      "eval-mode train accuracy %"; "train-mode train accuracy %"; "seconds per run" ]
          Rows =
            [ for id, runs in rows ->
                let mean (select: EpochSummary -> float) = pct (Array.average (final select runs))
                [ id; variantsById.[id].Title; string runs.Length; string runs.[0].Parameters
                  pctInterval (summary id (final testAccuracy runs))
                  mean (fun s -> s.TrainEvalAccuracy); mean (fun s -> s.TrainAccuracy)
                  (runs |> Array.averageBy (fun r -> r.Seconds)).ToString("F1", CultureInfo.InvariantCulture) ] ]
          CsvName = Some csv }

    /// Why the seminar's train loss looked worse than its test loss: three losses per head.
    let private lossPanels (heads: (string * CnnRun[]) list) =
        [ for i, (name, runs) in List.indexed heads ->
            let chart =
                Figures.bands false
                    [ seedBand "train mode (as trained)" (curves (fun s -> s.TrainLoss) runs)
                      seedBand "train, eval mode" (curves (fun s -> s.TrainEvalLoss) runs)
                      seedBand "test" (curves (fun s -> s.TestLoss) runs) ]
            name, (if i = 0 then chart else hideLegend chart) ]
        |> Figures.grid 3 300

    let private cnnBlocks (summary: Summary) (r: CnnResults) =
        let heads =
            [ for v in CnnVariant.SeminarHeads do
                let runs = runsOf v.Id r.Heads
                if runs.Length > 0 then yield v.Id, runs ]
        let epochs = if heads.IsEmpty then 0 else (snd heads.Head).[0].Epochs.Length
        let compareResults =
            panels heads
                [ "training loss (train mode)", (fun s -> s.TrainLoss); "test loss", (fun s -> s.TestLoss)
                  "training accuracy (train mode)", (fun s -> s.TrainAccuracy); "test accuracy", testAccuracy ]
        [ Heading(2, "The seminar CNN: five heads, DropConnect both ways")
          Paragraph(
              $"The seminar's TestNetwork (conv 1→2, pool, ReLU, conv 2→4, pool, ReLU, 196 features) with each "
              + $"head, Adam lr 1e-3, batch 128, {epochs} epochs on {r.TrainExamples} training images, tested on "
              + $"{r.TestExamples} test images; a fresh model per head and seed, and for each seed the same batch "
              + "order and the same convolution weights for every head. Bands are the median and the 10–90% "
              + "range over seeds.")
          Figure("Test accuracy per epoch (median and 10–90% band over seeds).", accuracyCurves heads)
          Figure("The notebook's compare_results view: train-mode loss and accuracy of the batches as trained, "
                 + "test loss and accuracy, per epoch.", compareResults |> Figures.grid 2 320)
          Figure("Why \"train quality is worse than test\": per head, the training loss as the notebook saw it "
                 + "(train mode, averaged over the epoch's batches while the weights moved), the training loss "
                 + "in eval mode after the epoch, and the test loss.", lossPanels heads)
          Table(accuracyTable "Final test accuracy per head (mean over seeds with its 95% bootstrap interval)"
                    "cnn-heads.csv" summary heads) ]

    /// Per head of the sensitivity: its runs grouped by batch size (the comparison's own batch size included).
    let private sensitivityGroups (r: CnnResults) =
        [ for id in r.Sensitivity |> Array.map (fun s -> s.Variant) |> Array.distinct ->
            let own = r.Sensitivity |> Array.filter (fun s -> s.Variant = id)
            let seeds = own |> Array.map (fun s -> s.Seed) |> Array.distinct
            let comparison =
                Array.append r.Heads r.Variants |> Array.filter (fun x -> x.Variant = id && Array.contains x.Seed seeds)
            id, Array.append comparison own |> Array.groupBy (fun x -> x.BatchSize) |> Array.sortBy fst ]

    let private sensitivityBlocks (r: CnnResults) =
        let groups = sensitivityGroups r
        let meanAccuracy (runs: CnnRun[]) = Array.average (final testAccuracy runs)
        if not (groups |> List.exists (fun (_, g) -> g.Length > 1)) then
            [ Paragraph "The batch-size sensitivity (BatchNorm, LayerNorm at batch 8, 32, 128) runs in the full tier." ]
        else
            [ Figure("Batch-size sensitivity: final test accuracy (mean over seeds) against the batch size.",
                     [ for i, (id, g) in List.indexed groups ->
                         Figures.line id i [| for b, _ in g -> float b |] [| for _, runs in g -> meanAccuracy runs |] ]
                     |> Chart.combine
                     |> Figures.withLogX "batch size"
                     |> Chart.withYAxisStyle (TitleText = "test accuracy")
                     |> Chart.withSize (900, 420))
              Table({ Title = "Batch-size sensitivity: final test accuracy (mean over seeds, %)"
                      Columns = [ "head"; "batch size"; "seeds"; "test accuracy %"; "epochs" ]
                      Rows =
                        [ for id, g in groups do
                            for b, runs in g ->
                                [ id; string b; string runs.Length; pct (meanAccuracy runs)
                                  string runs.[0].Epochs.Length ] ]
                      CsvName = Some "batch-size-sensitivity.csv" }) ]

    let private variantBlocks (summary: Summary) (r: CnnResults) =
        let variants =
            [ for v in CnnVariant.NormalizationVariants do
                let runs = runsOf v.Id r.Variants
                if runs.Length > 0 then yield v.Id, runs ]
        let seeds = match variants with (_, runs) :: _ -> runs |> Array.map (fun x -> x.Seed) | [] -> [||]
        let reference =
            [ for id in [ "baseline"; "batchnorm-wide"; "seminar-layernorm" ] ->
                id, runsOf id r.Heads |> Array.filter (fun x -> Array.contains x.Seed seeds) ]
            |> List.filter (fun (_, runs) -> runs.Length > 0)
        [ yield Heading(2, "Normalisation variants")
          yield Paragraph(
              "The seminar's LayerNormalization normalises with one mean and one standard deviation of the whole "
              + "batch tensor; TorchSharp's nn.LayerNorm normalises each example over its features. The notebook's "
              + "BatchNorm head is wider (512 units) than the others; \"batchnorm\" is the same head at the "
              + "baseline's width. GroupNorm after each convolution with one group is layer normalisation of the "
              + "feature map and with one group per channel instance normalisation (2 and 4 channels here).")
          if variants.IsEmpty then yield Paragraph "No normalisation variants were run in this configuration."
          else
              let title = $"Final test accuracy of each variant, with the seminar's heads on its {seeds.Length} seed(s)"
              yield Table(accuracyTable title "cnn-variants.csv" summary (reference @ variants))
              yield Figure("Test accuracy per epoch of the variants (median and 10–90% band over their seeds).",
                           accuracyCurves (reference @ variants))
          yield! sensitivityBlocks r ]

    // ---- the sigmoid MLP --------------------------------------------------------------------------

    let private mlpTable (summary: Summary) (runs: SigmoidMlpRun[]) =
        let lastOf (r: SigmoidMlpRun) = last r.Epochs
        { Title = "The sigmoid MLP 784-100-100-100-10: final test accuracy (mean over seeds with its 95% interval)"
          Columns = [ "run"; "what"; "seeds"; "test accuracy %"; "final train-mode loss"; "penalty λ" ]
          Rows =
            [ for spec in SigmoidRun.Lecture do
                let rs = mlpRuns spec.Id runs
                if rs.Length > 0 then
                    let penalty =
                        if spec.Penalty.HasValue then g3 (rs |> Array.averageBy (fun r -> r.PenaltyStrength)) else "–"
                    yield [ spec.Id; spec.Title; string rs.Length
                            pctInterval (summary $"mlp {spec.Id}" (rs |> Array.map (fun r -> (lastOf r).TestAccuracy)))
                            f4 (rs |> Array.averageBy (fun r -> (lastOf r).TrainLoss)); penalty ] ]
          CsvName = Some "sigmoid-mlp.csv" }

    /// Box plots per layer of the spread of ∂L/∂W for the given runs, in palette order.
    let private gradientBoxes (title: string) (pick: SigmoidMlpRun -> Research.Core.Capture.NetworkStatistics[])
                              (shown: string list) (runs: SigmoidMlpRun[]) =
        [ for i, id in List.indexed shown do
            let rs = mlpRuns id runs
            if rs.Length > 0 then
                yield Figures.boxPlots id i (perLayer (fun l -> l.WeightGradientStd) (rs |> Seq.collect pick)) ]
        |> fun charts -> title, (Chart.combine charts |> Figures.withLogY "std of ∂L/∂W over the layer's entries")

    /// The training loss of every step (moving average over 50), median and band over seeds, per run.
    let private stepLossFigure (runs: SigmoidMlpRun[]) =
        let shown = [ "plain-lr-1e-4"; "plain-lr-1e-2"; "bn-lr-1e-4"; "bn-lr-1e-2"; "bn-after-lr-1e-2"
                      "bn-dropout-lr-1e-2"; "plain-lr-0.1"; "dropout-lr-0.1" ]
        Figures.bands false
            [ for id in shown do
                let rs = mlpRuns id runs
                if rs.Length > 0 then yield seedBand id [| for r in rs -> movingAverage 50 r.StepLoss |] ]
        |> Figures.withAxes "step" "training loss (train mode)"
        |> Chart.withSize (1100, 460)

    let private mlpBlocks (summary: Summary) (runs: SigmoidMlpRun[]) =
        let steps = if runs.Length = 0 then 0 else runs.[0].StepLoss.Length
        // at the start the learning rate does not matter yet: BatchNorm at 1e-4 and 1e-2 start alike
        let boxes =
            [ gradientBoxes "at the initial weights" (fun r -> r.GradientsAtStart) [ "plain-lr-1e-2"; "bn-lr-1e-2" ]
                  runs
              gradientBoxes "after training" (fun r -> r.GradientsAtEnd)
                  [ "plain-lr-1e-2"; "bn-lr-1e-2"; "bn-lr-1e-4" ] runs
              |> fun (t, c) -> t, hideLegend c ]
        [ Heading(2, "The sigmoid MLP: BatchNorm and the learning rate")
          Paragraph(
              "The lecture's sigmoid MLP 784→100→100→100→10 (Xavier-normal weights with the sigmoid's gain, zero "
              + "biases; bias-free Linear → BatchNorm1d → sigmoid in the BatchNorm runs), SGD without momentum, "
              + $"batch 32, {steps} steps. \"After the sigmoid\" puts BatchNorm after the activation instead. The "
              + "box plots take the initialisation study's per-layer statistics (LayerStatistics.Measure) on the "
              + "same training batches, at the initial weights and after training, pooled over seeds.")
          Figure("Training loss per step (moving average over 50 steps; median and 10–90% band over seeds).",
                 stepLossFigure runs)
          Table(mlpTable summary runs)
          Paragraph(
              "The hand-written Dropout (inverted scaling: survivors × 1/(1 − p) in training, the identity in "
              + "evaluation) is compared on the plain net at lr 0.1. Where BatchNorm follows a Dropout layer "
              + "(bn-dropout-lr-1e-2, full tier), its running variance is learnt with Dropout on and used with "
              + "Dropout off, a variance shift at test time (Li, Chen, Hu and Yang, \"Understanding the Disharmony "
              + "between Dropout and Batch Normalization by Variance Shift\", CVPR 2019).")
          Figure("Per-layer gradients: the spread of ∂L/∂W in each Linear layer, over the measured batches and "
                 + "seeds, at the start and after training.",
                 boxes |> Figures.grid 2 420 |> Chart.withLayoutStyle (BoxMode = StyleParam.BoxMode.Group)) ]

    // ---- penalties and BatchNorm's running mean ---------------------------------------------------

    let private weightFigures (withWeights: (string * SigmoidMlpRun[]) list) =
        let pooled (rs: SigmoidMlpRun[]) = rs |> Array.collect (fun r -> r.FinalWeights)
        let histogram (id: string, rs: SigmoidMlpRun[]) =
            let edges, dens = logMagnitudeHistogram 80 (pooled rs)
            let threshold = Figures.referenceLine "|w| = 1e-3" [| -3.0; -3.0 |] [| 0.0; Array.max dens |] |> hideLegend
            id, Chart.combine [ Figures.histogramWithDensity edges dens None false; threshold ]
        let thresholds = Array.init 71 (fun k -> 10.0 ** (-8.0 + 0.1 * float k))
        let cumulative =
            [ for i, (id, rs) in List.indexed withWeights ->
                let all = pooled rs
                Figures.line id i thresholds (thresholds |> Array.map (fun t -> fractionBelow t all)) ]
            @ [ Figures.referenceLine "|w| = 1e-3" [| 1e-3; 1e-3 |] [| 0.0; 0.2 |] ]
        [ Figure("Final weights: histogram (density) of log10|w| without a penalty, with L1 and with L2.",
                 withWeights |> List.map histogram |> Figures.grid 3 320)
          Figure("The fraction of final weights with |w| below a threshold (pooled over seeds), against the threshold.",
                 Chart.combine cumulative
                 |> Figures.withLogX "threshold t"
                 |> Chart.withYAxisStyle (TitleText = "fraction |w| < t")
                 |> Chart.withSize (900, 420)) ]

    let private penaltyTable (summary: Summary) (withWeights: (string * SigmoidMlpRun[]) list) =
        { Title = "Fraction of weights with |w| < 1e-3 after training (mean over seeds with its 95% interval)"
          Columns = [ "run"; "penalty λ"; "fraction |w| < 1e-3"; "test accuracy %" ]
          Rows =
            [ for id, rs in withWeights ->
                let fractions = rs |> Array.map (fun r -> fractionBelow 1e-3 r.FinalWeights)
                [ id; g3 (rs |> Array.averageBy (fun r -> r.PenaltyStrength))
                  interval (summary $"near-zero {id}" fractions)
                  pct (rs |> Array.averageBy (fun r -> (last r.Epochs).TestAccuracy)) ] ]
          CsvName = Some "penalties.csv" }

    let private runningMeanBlocks (bnRuns: (string * SigmoidMlpRun[]) list) =
        let error (pick: RunningMeanCheck -> float[]) (r: SigmoidMlpRun) =
            medianRelativeError (pick r.RunningMean) r.RunningMean.PopulationMean
        let relative (pick: RunningMeanCheck -> float[]) (r: SigmoidMlpRun) =
            Array.map2 (fun e p -> abs (e - p) / abs p) (pick r.RunningMean) r.RunningMean.PopulationMean
        let boxes (name: string) (colour: int) (pick: RunningMeanCheck -> float[]) =
            Figures.boxPlots name colour [ for id, rs in bnRuns -> id, rs |> Array.collect (relative pick) ]
        [ Paragraph(
              "BatchNorm's running mean (an exponential moving average, momentum 0.1: one vector of memory) against "
              + "the mean of every batch mean of the first epoch (a store of all of them) and the population mean "
              + "of the first BatchNorm layer's input over the whole training data at the weights after the epoch.")
          Table({ Title = "Relative error of the two estimates of the mean: median over features, mean over seeds"
                  Columns = [ "run"; "seeds"; "batches stored"; "running mean (EMA)"; "mean of stored batch means" ]
                  Rows =
                    [ for id, rs in bnRuns ->
                        [ id; string rs.Length; string rs.[0].RunningMean.Batches
                          f4 (rs |> Array.averageBy (error (fun c -> c.RunningMean)))
                          f4 (rs |> Array.averageBy (error (fun c -> c.MeanOfBatchMeans))) ] ]
                  CsvName = Some "running-mean.csv" })
          Figure("Per-feature relative error |estimate − population| / |population| of the two estimates, pooled "
                 + "over seeds.",
                 [ boxes "running mean (EMA)" 0 (fun c -> c.RunningMean)
                   boxes "mean of stored batch means" 1 (fun c -> c.MeanOfBatchMeans) ]
                 |> Chart.combine
                 |> Chart.withLayoutStyle (BoxMode = StyleParam.BoxMode.Group)
                 |> Figures.withLogY "relative error"
                 |> Chart.withSize (1100, 440)) ]

    let private penaltyBlocks (summary: Summary) (runs: SigmoidMlpRun[]) =
        let withWeights =
            [ for id in [ "plain-lr-0.1"; "l1-lr-0.1"; "l2-lr-0.1" ] do
                let rs = mlpRuns id runs |> Array.filter (fun r -> not (isNull r.FinalWeights))
                if rs.Length > 0 then yield id, rs ]
        let bnRuns =
            [ for spec in SigmoidRun.Lecture do
                let rs = mlpRuns spec.Id runs |> Array.filter (fun r -> not (isNull r.RunningMean))
                if rs.Length > 0 then yield spec.Id, rs ]
        [ yield Heading(2, "Weight penalties and BatchNorm's running statistics")
          yield Paragraph(
              "L1 and L2 penalties on the plain sigmoid MLP at lr 0.1 (where it trains without BatchNorm), of "
              + "matched strength: λ₂ = λ₁·Σ|w₀|/Σw₀² at each seed's initial weights, so that both penalties start "
              + "at the same value. The histograms are of log10|w| over every weight matrix, pooled over seeds; the "
              + "dashed line is |w| = 1e-3.")
          if not withWeights.IsEmpty then
              yield! weightFigures withWeights
              yield Table(penaltyTable summary withWeights)
          if not bnRuns.IsEmpty then yield! runningMeanBlocks bnRuns ]

    // ---- the overfitting demo ---------------------------------------------------------------------

    /// The fitted curves of the first replicate at every kept epoch, one panel each.
    let private curvePanels (data: RegressionData) (plain: RegressionRun) (dropout: RegressionRun) =
        [ for k in 0 .. plain.SnapshotEpochs.Length - 1 ->
            let chart =
                Chart.combine
                    [ Figures.points "train" 7 data.TrainX data.TrainY
                      Figures.points "test" 8 data.TestX data.TestY
                      Figures.line "without Dropout" 0 data.Grid plain.Curves.[k]
                      Figures.line "with Dropout" 1 data.Grid dropout.Curves.[min k (dropout.Curves.Length - 1)] ]
            $"epoch {plain.SnapshotEpochs.[k]}", (if k = 0 then chart else hideLegend chart) ]
        |> Figures.grid 4 260

    let private mseFigure (plain: RegressionRun[]) (dropout: RegressionRun[]) (asRun: RegressionRun[]) =
        let band name (runs: RegressionRun[]) (select: EpochSummary -> float) =
            seedBand name [| for r in runs -> r.Epochs |> Array.map select |]
        let train (s: EpochSummary) = s.TrainEvalLoss
        let test (s: EpochSummary) = s.TestLoss
        Figures.bands true
            [ yield band "train, without Dropout" plain train
              yield band "test, without Dropout" plain test
              yield band "train, with Dropout" dropout train
              yield band "test, with Dropout" dropout test
              if asRun.Length > 0 then yield band "test, Dropout as the lecture ran it" asRun test ]
        |> Figures.withAxes "epoch" ""
        |> Figures.withLogY "MSE"
        |> Chart.withSize (1100, 460)

    let private mcBlocks (data: RegressionData) (d: RegressionRun) =
        let b = band 0 data.Grid.Length d.McPredictions
        let passes = d.McPredictions.GetLength 0
        let onTest = band data.Grid.Length data.TestX.Length d.McPredictions
        let withNoise = coverageWithNoise d.TrainMse data.Grid.Length data.TestX.Length d.McPredictions data.TestY
        let mean = { Name = "MC-dropout mean and 95% band"; X = data.Grid; Y = b.Mean; Band = Some(b.Lower, b.Upper) }
        [ Figure($"Monte Carlo dropout (first replicate): the mean of {passes} passes with Dropout on and their "
                 + "2.5–97.5% band, with the test points.",
                 Chart.combine [ Figures.bands false [ mean ]
                                 Figures.points "test" 8 data.TestX data.TestY
                                 Figures.points "train" 7 data.TrainX data.TrainY ]
                 |> Figures.withAxes "x" "y"
                 |> Chart.withSize (1000, 460))
          Paragraph(
              "The band is the spread of the passes: the model's uncertainty alone. The test points scatter around "
              + "y = x with the data's own noise (σ = 0.3), which no pass contains, so the band covers "
              + $"{pct (coverage onTest data.TestY)}%% of them in this replicate; adding the noise variance estimated "
              + "from the training residuals (σ̂² = train MSE) to the passes' variance, mean ± 1.96·σ covers "
              + $"{pct withNoise}%%.") ]

    let private mseTable (summary: Summary) (nets: (string * RegressionRun[]) list) =
        { Title = "After the last epoch: train and test MSE (eval mode), mean over seeds with its 95% interval"
          Columns = [ "net"; "seeds"; "epochs"; "train MSE"; "test MSE"; "test / train" ]
          Rows =
            [ for name, rs in nets do
                if rs.Length > 0 then
                    let epochs = String.Join(" ", rs |> Array.map (fun r -> r.Epochs.Length) |> Array.distinct)
                    yield [ name; string rs.Length; epochs
                            interval (summary $"train mse {name}" (rs |> Array.map (fun r -> r.TrainMse)))
                            interval (summary $"test mse {name}" (rs |> Array.map (fun r -> r.TestMse)))
                            f4 (rs |> Array.averageBy (fun r -> r.TestMse / r.TrainMse)) ] ]
          CsvName = Some "overfitting-demo.csv" }

    let private regressionBlocks (summary: Summary) (results: RegressionResults) =
        let plain = regressionRuns RegressionNet.Plain results
        let dropout = regressionRuns RegressionNet.Dropout results
        let asRun = regressionRuns RegressionNet.DropoutAsRun results
        let stopped = regressionRuns RegressionNet.EarlyStopped results
        [ yield Heading(2, "The overfitting demo")
          yield Paragraph(
              "y = x + 0.3·ε on linspace(−1, 1, 50) for training and, with fresh noise, for testing; 1→100→100→1 "
              + "ReLU with and without Dropout (0.5 after the first hidden layer, 0.2 after the second), Adam lr "
              + "0.01, MSE on the full batch every epoch, through the toolkit's training loop. The lecture called "
              + "model.eval() every 100 epochs to draw the curves and never model.train() again, so its Dropout "
              + "was off from epoch 1 on and both of its nets trained without Dropout; the runs here return to "
              + "train mode after each drawing (the intended experiment), and \"Dropout as the lecture ran it\" "
              + "reproduces the bug. \"Early stopped\" is the net without Dropout stopped when 50 further "
              + "validation points (fresh noise) had not improved for the patience, its best weights restored.")
          if plain.Length > 0 && dropout.Length > 0 then
              let p, d = plain.[0], dropout.[0]
              let data = dataOf results p
              let every = if p.SnapshotEpochs.Length > 1 then p.SnapshotEpochs.[1] else 0
              yield Figure($"Fitted curves (first replicate, eval mode) before training and every {every} epochs.",
                           curvePanels data p d)
              yield Figure("Train MSE (eval mode) and test MSE per epoch (median and 10–90% band over seeds).",
                           mseFigure plain dropout asRun)
              if not (isNull d.McPredictions) then yield! mcBlocks data d
          else yield Paragraph "The demo's nets with and without Dropout were not both run."
          yield Table(mseTable summary
                          [ "without Dropout", plain; "with Dropout", dropout; "Dropout as the lecture ran it", asRun
                            "early stopped (no Dropout)", stopped ]) ]

    // ---- Monte Carlo dropout on MNIST -------------------------------------------------------------

    let private mcMnistBlocks (r: CnnResults) =
        if r.McDropout.Length = 0 then []
        else
            let classified = [ for m in r.McDropout -> classify m.Logits m.Labels ]
            let first = classified.Head
            let passes = r.McDropout.[0].Logits.GetLength 0
            let edges, dens = Histogram.densityOfSorted 60 (0.0, 1.0) (Array.sort first.Entropy)
            let row (k: int) (m: McClassification) =
                let certain, uncertain = accuracyByCertainty 0.1 m
                let correct = Array.map2 (=) m.Predicted m.Labels |> Array.filter id |> Array.length
                [ string (k + 1); string m.Entropy.Length; pct (float correct / float m.Entropy.Length)
                  pct certain; pct uncertain ]
            [ Heading(2, "Monte Carlo dropout on MNIST")
              Paragraph(
                  $"The Dropout head after training, {passes} passes over {first.Entropy.Length} test images with "
                  + "Dropout on (everything else in eval mode); the prediction is the arg-max of the mean softmax, "
                  + "its uncertainty the predictive entropy of that mean.")
              Figure("Predictive entropy of the test images (first replicate).",
                     Figures.histogramWithDensity edges dens None false
                     |> Figures.withAxes "predictive entropy (nats)" "density"
                     |> Chart.withSize (900, 380))
              Table({ Title = "Accuracy of the MC-dropout prediction, overall and on the 10% most and least certain"
                      Columns = [ "replicate"; "images"; "accuracy %"; "10% most certain %"; "10% most uncertain %" ]
                      Rows = classified |> List.mapi row
                      CsvName = Some "mc-dropout-mnist.csv" }) ]

    /// The notebooks' mistakes, found while reproducing them.
    let private mistakes : ReportBlock list =
        [ Heading(2, "Where the notebooks were wrong")
          Paragraph(
              "The lecture's overfitting demo calls model.eval() every 100 epochs to draw its curves and never "
              + "model.train() again, so Dropout is off after epoch 0 and its \"with Dropout\" net is a second net "
              + "without Dropout; \"Dropout as the lecture ran it\" above reproduces that (its curves follow the net "
              + "without Dropout), and every other run returns to train mode.")
          Paragraph(
              "The seminar's DropConnect run used a single DropConnect(196, 10, p = 0.8) layer as the whole head: "
              + "the loop that would have replaced every Linear layer is commented out. Its \"DropConnect\" is "
              + "therefore a linear classifier on the 196 features, not the baseline with DropConnect; both are "
              + "run here (dropconnect-as-run, dropconnect-all-layers). p is read as the probability of keeping a "
              + "weight, as the toolkit's DropConnectLinear takes it.")
          Paragraph(
              "The seminar's BatchNorm head is 196→512→128→10, four times wider in its first layer than every other "
              + "head, so \"BatchNorm is better\" mixes normalisation with width; \"batchnorm\" among the variants is "
              + "the same head at the baseline's width.")
          Paragraph(
              "The seminar's LayerNormalization normalises with x.mean() and x.std() of the whole batch tensor (one "
              + "scalar each, unbiased std, +1e-8 on σ), not per example as layer normalisation does: every "
              + "example's output depends on the rest of its batch, and at test time on the evaluation batch. "
              + "Per-example nn.LayerNorm is run as a variant.")
          Paragraph(
              "The seminar's \"train quality is much worse than test\" compares the training loss in train mode "
              + "(Dropout on, and averaged over an epoch while the weights improve) with the test loss in eval "
              + "mode; the training loss in eval mode after the epoch is shown beside it.") ]

    /// <summary>The study's figures and tables, in reading order.</summary>
    /// <param name="summary">The mean over seeds with its interval, given a name for its bootstrap stream.</param>
    /// <param name="scale">The paragraph that says at what scale the run was made.</param>
    /// <param name="e">Everything the study trained.</param>
    let blocks (summary: string -> float[] -> SeedSummary) (scale: string) (e: RegularisationEvidence)
               : ReportBlock list =
        [ yield Paragraph scale
          yield! cnnBlocks summary e.Cnn
          yield! variantBlocks summary e.Cnn
          yield! mlpBlocks summary e.Mlp
          yield! penaltyBlocks summary e.Mlp
          yield! regressionBlocks summary e.Regression
          yield! mcMnistBlocks e.Cnn
          yield! mistakes ]
