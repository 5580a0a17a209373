namespace Research.Analysis.Studies.Optimizers

open System
open System.Globalization
open Plotly.NET
open Research.Core.Studies.Optimizers
open Research.Analysis

/// <summary>The report blocks of the optimizers study (figures, tables and prose; the runner adds the
/// verdicts, methods and provenance).</summary>
module OptimizersReport =

    let private inv = CultureInfo.InvariantCulture
    let private g4 (x: float) = if Double.IsNaN x then "–" else x.ToString("G4", inv)
    let private f4 (x: float) = if Double.IsNaN x then "–" else x.ToString("F4", inv)

    /// A value rounded to 6 significant digits: what a figure can show, in a third of the JSON.
    let private g6 (x: float) = if Double.IsFinite x then Double.Parse(x.ToString("G6", inv), inv) else x

    /// A surface grid rounded for a figure.
    let private rounded (s: SurfaceGrid) = s.Xs, s.Ys, s.Z |> Array.map (Array.map g6)

    /// At most <paramref name="n"/> evenly spaced indices of 0..length−1, always with the first and the last.
    let private thin (n: int) (length: int) : int[] =
        if length <= n then Array.init length id
        else
            Array.init n (fun i -> int (Math.Round(float i * float (length - 1) / float (n - 1)))) |> Array.distinct

    let private last (a: float[]) = if a.Length = 0 then nan else a.[a.Length - 1]

    let private inside (f: TestFunction) (x: float) (y: float) =
        x >= f.XRange.Min && x <= f.XRange.Max && y >= f.YRange.Min && y <= f.YRange.Max

    /// The path's points for a plane figure (at most 600).
    let private planePoints (path: Trajectory) =
        thin 600 path.X.Length |> Array.map (fun k -> g6 path.X.[k], g6 path.Y.[k])

    /// The path's points on the surface, inside the rectangle only (3-D axes would stretch to an escaped point).
    let private surfacePoints (f: TestFunction) (path: Trajectory) =
        thin 600 path.X.Length
        |> Array.map (fun k -> g6 path.X.[k], g6 path.Y.[k], g6 path.F.[k])
        |> Array.filter (fun (x, y, _) -> inside f x y)

    let private withRange (f: TestFunction) (chart: GenericChart) =
        chart
        |> Chart.withXAxisStyle (TitleText = "x", MinMax = (f.XRange.Min, f.XRange.Max))
        |> Chart.withYAxisStyle (TitleText = "y", MinMax = (f.YRange.Min, f.YRange.Max))

    /// Legend entries once per name: a panel that repeats an earlier panel's names shows none.
    let private legendOnce (charts: (string * string list * GenericChart) list) =
        let shown = Collections.Generic.HashSet<string>()
        [ for title, names, chart in charts ->
            let fresh = names |> List.exists (fun n -> not (shown.Contains n))
            for n in names do shown.Add n |> ignore
            title, (if fresh then chart else chart |> Chart.withTraceInfo (ShowLegend = false)) ]

    let private groupTitle (group: PathGroup) (gradient: GradientSource) =
        match group, gradient with
        | PathGroup.Seminar, _ -> "the seminar's hand-written optimizers, lr 0.1"
        | PathGroup.PyTorch, _ -> "PyTorch-exact optimizers at the seminar's settings"
        | PathGroup.Notes, GradientSource.Autograd -> "the notes' runs (autograd)"
        | PathGroup.Notes, _ -> "the notes' runs (central differences, h = 1e-4)"

    /// The runs of a function by panel: (group, gradient source) in a fixed order.
    let private panels (r: FunctionResult) =
        [ for group in [ PathGroup.Seminar; PathGroup.PyTorch; PathGroup.Notes ] do
            for gradient in [ GradientSource.Autograd; GradientSource.CentralDifference ] do
                let runs = r.Runs |> List.filter (fun p -> p.Group = group && p.Path.Gradient = gradient)
                if not runs.IsEmpty then yield groupTitle group gradient, runs ]

    let private contourFigure (r: FunctionResult) =
        let xs, ys, z = rounded r.Surface
        [ for title, runs in panels r ->
            let paths = [ for p in runs -> p.Recipe.Label, planePoints p.Path ]
            title, List.map fst paths, Figures.contourWithTrajectories xs ys z paths |> withRange r.Function ]
        |> legendOnce
        |> Figures.grid 2 520

    let private surfaceFigure (r: FunctionResult) =
        let xs, ys, z = rounded r.Surface
        let shown (p: PathRun) =
            p.Group = PathGroup.Seminar || (p.Group = PathGroup.Notes && p.Path.Gradient = GradientSource.Autograd)
        Figures.surfaceWithTrajectories xs ys z
            [ for p in r.Runs do if shown p then yield p.Recipe.Label, surfacePoints r.Function p.Path ]
        |> Chart.withSize (1100, 640)

    /// The lowest f among the reference points (the floor of the log plot of f − f*).
    let private floorOf (r: FunctionResult) =
        if r.References.Length = 0 then 0.0 else r.References |> Array.map (fun p -> p.F) |> Array.min

    let private curvesFigure (r: FunctionResult) =
        let fStar = floorOf r
        let curve (p: PathRun) (value: int -> float) =
            let k = thin 400 p.Path.X.Length
            { Name = p.Recipe.Label; X = Array.map float k; Y = Array.map (value >> g6) k; Band = None }
        let panel (title: string) (yTitle: string) (runs: PathRun list) (value: PathRun -> int -> float) =
            title, [ for p in runs -> p.Recipe.Label ],
            Figures.bands true [ for p in runs -> curve p (value p) ]
            |> Figures.withAxes "step" ""
            |> Figures.withLogY yTitle
        [ for title, runs in panels r do
            let d = runs |> List.map (fun p -> p.Path, Paths.distances r.References p.Path) |> dict
            yield panel $"{title}: distance" "distance" runs (fun p k -> d.[p.Path].[k])
            yield panel $"{title}: f − f*" $"f − f* (f* = {g4 fStar})" runs (fun p k -> p.Path.F.[k] - fStar) ]
        |> legendOnce
        |> Figures.grid 2 380

    let private pathTable (r: FunctionResult) =
        let start = r.Function.Start
        { Title = $"{r.Function.Formula}: every optimizer from ({g4 start.X}, {g4 start.Y})"
          Columns =
            [ "optimizer"; "group"; "gradient"; "steps"; $"steps to ‖x − x*‖ < {g4 Paths.Tolerance}"; "final f"
              "final distance"; "sign changes of the x-step"; "of the y-step"; "diverged" ]
          Rows =
            [ for p in r.Runs ->
                let m = Paths.measure r.References p.Path
                let diverged = if p.Path.Diverged then $"yes, at step {p.Path.DivergedAtStep.Value}" else "no"
                [ p.Recipe.Label; string p.Group; string p.Path.Gradient; string p.Path.Steps
                  (match m.StepsToTolerance with Some k -> string k | None -> "never")
                  g4 m.FinalF; g4 m.FinalDistance; string m.SignChangesX; string m.SignChangesY; diverged ] ]
          CsvName = Some $"paths-{r.Function.Key}.csv" }

    let private referenceText (r: FunctionResult) =
        match r.References |> Array.toList with
        | [] -> "no local minimum in the rectangle"
        | [ p ] -> $"{p.Kind} at ({g4 p.X}, {g4 p.Y}), f = {g4 p.F}"
        | p :: _ as ps -> $"{ps.Length} local minima in the rectangle; the lowest at ({g4 p.X}, {g4 p.Y}), f = {g4 p.F}"

    let private functionsTable (functions: FunctionResult list) =
        { Title = "The test functions (as coded in the notebooks, and as titled where the titles differ)"
          Columns = [ "key"; "f(x, y)"; "source"; "start"; "rectangle"; "reference points" ]
          Rows =
            [ for r in functions ->
                let f = r.Function
                let rectangle = $"[{g4 f.XRange.Min}, {g4 f.XRange.Max}] × [{g4 f.YRange.Min}, {g4 f.YRange.Max}]"
                [ f.Key; f.Formula; f.Source; $"({g4 f.Start.X}, {g4 f.Start.Y})"; rectangle; referenceText r ] ]
          CsvName = Some "test-functions.csv" }

    /// The notebooks' variants and how each differs from PyTorch.
    let private variantsTable =
        { Title = "The notebooks' hand-written optimizers, as implemented here (Research.Core/Studies/Optimizers), \
                   and PyTorch's"
          Columns = [ "notebook"; "update rule"; "PyTorch's rule"; "consequence" ]
          Rows =
            [ [ "seminar GD, notes SGD"; "p ← p − lr·g"; "SGD: the same"; "identical; run as SGD" ]
              [ "seminar Momentum, notes Momentum"; "v ← γv + lr·g, p ← p − v (notes: v ← μv − lr·g, p ← p + v)"
                "SGD(momentum): b ← μb + g, p ← p − lr·b"
                "one path at a constant rate (v = lr·b); differs when lr changes" ]
              [ "seminar NAG"; "g = ∇f(p − γv), v ← γv + lr·g, p ← p − v (look-ahead)"
                "SGD(nesterov): b ← μb + g(p), p ← p − lr(g + μb)"
                "PyTorch stores the look-ahead point: the same sequence shifted by γv" ]
              [ "seminar Adagrad"; "G ← G + g², p ← p − lr·g/√(G + ε), ε = 1e-8 (assumed)"
                "p ← p − lr·g/(√G + ε), ε = 1e-10"
                "a coordinate with |g| < √ε ≈ 1e-4 moves far less than lr at first" ]
              [ "notes AdaGrad"; "h ← h + g², p ← p − lr·g/(√h + 1e-7)"; "Adagrad with ε = 1e-7: the same"
                "identical; run as Adagrad(eps = 1e-7)" ]
              [ "seminar Adadelta"
                "E[g²] ← γE[g²] + (1−γ)g², Δ = −√(E[Δ²]+ε)/√(E[g²]+ε)·g, E[Δ²] ← γE[Δ²] + (1−γ)Δ², p ← p + Δ; γ = 0.1"
                "ρ = 0.9, p ← p + lr·Δ"; "lr is ignored (effective lr 1) and the averages remember about one step" ]
              [ "seminar Adam"
                "m ← β1m + (1−β1)g, v ← β2v + (1−β2)g², then m ← m/(1−β1ᵗ), v ← v/(1−β2ᵗ) stored; p ← p − lr·m/(√v + ε)"
                "the same corrections as new values; m and v stay uncorrected"
                "v is divided again at every step and grows ≈ 1/(t(1−β2))-fold per step: the optimizer stands still \
                 after a few steps" ] ]
          CsvName = Some "variants.csv" }

    let private notesBlocks (e: OptimizersEvidence) =
        match e.NotesField with
        | None -> []
        | Some field ->
            let arrows =
                [| for i in 0 .. field.Ys.Length - 1 do
                     for j in 0 .. field.Xs.Length - 1 ->
                         field.Xs.[j], field.Ys.[i], -field.Dx.[i].[j], -field.Dy.[i].[j] |]
            let away, total = GradientDirection.countAway 10.0 field (0.0, 0.0)
            let quiver =
                [ Figures.quiver "−∇f (central differences)" 0.9 arrows
                  Figures.line "minimum (0, 0)" 1 [| 0.0 |] [| 0.0 |] |> Chart.withMarkerStyle (Size = 10) ]
                |> Chart.combine
                |> Figures.withAxes "x" "y"
                |> Chart.withSize (1100, 600)
            [ Heading(3, "The notes' gradient field")
              Paragraph $"−∇f of x²/20 + y² by the notes' central differences on a {field.Xs.Length} × \
                          {field.Ys.Length} grid; the arrows are scaled to the longest. At {away} of {total} grid \
                          points −∇f points more than 10° away from the minimum (0, 0): only on the axes does it \
                          point at the minimum."
              Figure("Quiver of −∇f over [−10, 10] × [−5, 5]; the gradient is steep in y and flat in x, so it points \
                      mostly across the valley.", quiver) ]

    /// Mean and min–max band over seeds of per-seed series of equal length (NaN where no seed has a value).
    let private seedBand (name: string) (x: float[]) (perSeed: float[][]) =
        let column k = perSeed |> Array.map (fun c -> c.[k]) |> Array.filter Double.IsFinite
        let stat f = Array.init x.Length (fun k -> let v = column k in if v.Length = 0 then nan else f v)
        { Name = name; X = x; Y = stat Array.average; Band = Some(stat Array.min, stat Array.max) }

    /// The loss over windows of steps, per optimizer, with x in epochs from an offset (sequential segments).
    let private windowBands (window: int) (perEpoch: float) (runs: (string * float * MnistRun list) list) =
        [ for name, offset, rs in runs do
            if not rs.IsEmpty then
                let means = rs |> List.map (fun r -> MnistMeasures.windowMeans window r.Curves.StepLoss) |> Array.ofList
                let n = means |> Array.map Array.length |> Array.min
                let x = Array.init n (fun k -> offset + (float k + 0.5) * float window / perEpoch)
                yield seedBand name x (means |> Array.map (fun m -> m.[.. n - 1])) ]

    let private protocolName (p: TrainingProtocol) =
        match p with TrainingProtocol.Fresh -> "fresh" | _ -> "sequential"

    let private networkName (n: SeminarNetwork) = match n with SeminarNetwork.Mlp -> "MLP" | _ -> "CNN"

    let private networkLabel (n: SeminarNetwork) =
        match n with
        | SeminarNetwork.Mlp -> "MLP 784→64→10 (no activation)"
        | _ -> "CNN conv(1→3)-ReLU-pool-fc(588→10)"

    let private mnistNetworkBlocks (e: OptimizersEvidence) (optimizers: string list) (network: SeminarNetwork) =
        let label = networkLabel network
        let select protocol o = MnistMeasures.select network protocol o e.Mnist
        let sample = e.Mnist |> List.find (fun r -> r.Network = network)
        let perEpoch = float sample.Curves.StepLoss.Length / float (max 1 sample.Curves.EpochTrainLoss.Length)
        let window = max 1 (int perEpoch / 10)
        let lossPanel title bands =
            title, optimizers,
            Figures.bands false bands |> Figures.withAxes "epoch" "training loss (mean over windows of steps)"
        let fresh = windowBands window perEpoch [ for o in optimizers -> o, 0.0, select TrainingProtocol.Fresh o ]
        let sequential =
            windowBands window perEpoch
                [ for i, o in List.indexed optimizers ->
                    o, float (i * e.MnistEpochs), select TrainingProtocol.Sequential o ]
        let perEpochBands protocol (series: MnistRun -> float[]) =
            [ for o in optimizers ->
                let padded (r: MnistRun) =
                    let a = series r in Array.init e.MnistEpochs (fun k -> if k < a.Length then a.[k] else nan)
                seedBand o (Array.init e.MnistEpochs (fun k -> float (k + 1)))
                    (select protocol o |> List.map padded |> Array.ofList) ]
        let trainLoss (r: MnistRun) = r.Curves.EpochTrainLoss
        let accuracy (r: MnistRun) = r.Curves.EpochTestAccuracy |> Array.map ((*) 100.0)
        [ yield Figure($"{label}: training loss per tenth of an epoch, mean and range (band) over seeds.",
                       [ yield lossPanel "fresh model per optimizer" fresh
                         if not sequential.IsEmpty then
                             yield lossPanel "sequential (the seminar's protocol): each continues the previous" sequential ]
                       |> legendOnce
                       |> Figures.grid 2 420)
          if e.MnistEpochs >= 2 then
              let series =
                  [ "training loss", trainLoss, "mean training loss"; "test accuracy", accuracy, "test accuracy (%)" ]
              yield Figure($"{label}: per-epoch mean training loss and test accuracy, mean and range over seeds \
                             (fresh | sequential, each optimizer's own epochs).",
                           [ for name, values, axis in series do
                               for protocol in [ TrainingProtocol.Fresh; TrainingProtocol.Sequential ] ->
                                   $"{name}, {protocolName protocol}", optimizers,
                                   Figures.bands false (perEpochBands protocol values)
                                   |> Figures.withAxes "epoch" axis ]
                           |> legendOnce
                           |> Figures.grid 2 380)
          else
              yield Paragraph $"{label}: one epoch per optimizer, so the per-epoch training loss and test accuracy \
                                are single values: see the table below." ]

    let private mnistTable (e: OptimizersEvidence) (optimizers: string list) (networks: SeminarNetwork list) =
        let span (v: float list) =
            match v |> List.filter Double.IsFinite with
            | [] -> "–"
            | f -> $"{f4 (List.average f)} [{f4 (List.min f)}, {f4 (List.max f)}]"
        { Title = "MNIST: last epoch of each optimizer, mean [min, max] over seeds"
          Columns =
            [ "network"; "protocol"; "optimizer"; "seeds"; "final train loss"; "final test accuracy (%)"
              "spread of the epoch loss"; "late decrease"; "diverged" ]
          Rows =
            [ for network in networks do
                for protocol in [ TrainingProtocol.Fresh; TrainingProtocol.Sequential ] do
                    for o in optimizers do
                        let rs = MnistMeasures.select network protocol o e.Mnist
                        if not rs.IsEmpty then
                            let curves = rs |> List.map (MnistMeasures.epochLoss e.MnistEpochs) |> Array.ofList
                            yield [ networkName network; protocolName protocol; o; string rs.Length
                                    span [ for r in rs -> last r.Curves.EpochTrainLoss ]
                                    span [ for r in rs -> 100.0 * last r.Curves.EpochTestAccuracy ]
                                    g4 (MnistMeasures.pooledSpread curves)
                                    span [ for r in rs -> MnistMeasures.lateDecrease r.Curves.StepLoss ]
                                    string (rs |> List.filter (fun r -> r.Curves.Diverged) |> List.length) ] ]
          CsvName = Some "mnist.csv" }

    let private mnistBlocks (e: OptimizersEvidence) =
        if e.Mnist.IsEmpty then []
        else
            let optimizers = e.Mnist |> List.map (fun r -> r.Optimizer) |> List.distinct
            let networks = e.Mnist |> List.map (fun r -> r.Network) |> List.distinct
            [ yield Heading(2, "MNIST: the seminar's comparison, with fresh models and as the seminar ran it")
              yield Paragraph "Fresh: for each seed every optimizer starts from the same freshly initialised model \
                               and sees the same batch order. Sequential (the seminar's protocol, labelled as such): \
                               one model per seed is trained by Adam, Adagrad, Adadelta and SGD(0.01) in turn, so \
                               each starts where the previous one stopped. Bands are the range over seeds."
              for network in networks do yield! mnistNetworkBlocks e optimizers network
              yield Table(mnistTable e optimizers networks) ]

    let private rangeBlocks (e: OptimizersEvidence) =
        match e.Range with
        | None -> []
        | Some(run, s) ->
            let n = s.Smoothed.Length
            let lr = run.LearningRate.[.. n - 1]
            let top = 1.5 * s.Smoothed.[0]
            let marker name colour x = Figures.line name colour [| x; x |] [| 0.0; top |]
            let chart =
                [ Figures.line "loss of each batch" 7 lr run.Loss.[.. n - 1]
                  Figures.line $"smoothed (α = {s.Alpha})" 0 lr s.Smoothed
                  marker $"lecture max_lr = argmin/10 = {g4 s.LectureMax}" 1 s.LectureMax
                  marker $"lecture min_lr = onset/6 = {g4 s.LectureMin}" 2 s.LectureMin
                  marker $"steepest descent = {g4 s.SteepestLr}" 3 s.SteepestLr ]
                |> Chart.combine
                |> Figures.withLogX "learning rate"
                |> Chart.withYAxisStyle (TitleText = "training loss", MinMax = (0.0, top))
                |> Chart.withSize (1100, 480)
            [ Heading(3, "The LR range test")
              Paragraph $"{run.Settings}. The lecture smooths the loss with weight 0.05 on the newest batch (here a \
                          bias-corrected moving average, as fastai's lr_find) and reads the bounds off the plot: \
                          max_lr = the rate at the minimum of the smoothed loss / 10, min_lr = the rate where the \
                          descent begins / 6. Read automatically, the onset is where the smoothed loss has fallen a \
                          tenth of the way from its start to its minimum. The steadier rule offered beside it takes \
                          max_lr at the steepest descent (least-squares slope over one decade of lr, before the \
                          minimum) and min_lr = max_lr/4 (Smith 2017): it does not depend on where the noisy loss \
                          happens to be lowest just before it explodes."
              Figure("Loss per batch against the learning rate (log scale), smoothed, with the suggested bounds; \
                      losses above 1.5× the first are cut off.", chart)
              Table
                { Title = "Bounds suggested by the range test"
                  Columns = [ "rule"; "min_lr"; "max_lr"; "based on" ]
                  Rows =
                    [ [ "lecture"; g4 s.LectureMin; g4 s.LectureMax; $"onset {g4 s.OnsetLr}, argmin {g4 s.ArgminLr}" ]
                      [ "steepest descent (this study's choice)"; g4 s.RobustMin; g4 s.RobustMax
                        $"steepest descent at {g4 s.SteepestLr}" ] ]
                  CsvName = Some "range-test.csv" } ]

    /// Why "the last model is not the best" depends on where the cycle ends.
    let private cyclePhase (e: OptimizersEvidence) =
        match e.Schedules |> List.tryFind (fun r -> r.Kind = ScheduleKind.CyclicLR) with
        | Some r ->
            let epochs = r.Curves.EpochTrainLoss.Length
            let ends = if epochs % 2 = 0 then "base_lr, where the model is best placed to be the best" else "max_lr"
            $"The CyclicLR cycle lasts two epochs (one up, one down), and these runs last {epochs} epochs, so the last \
              epoch ends at {ends}: whether 'the last model is not the best' shows up depends on that phase as much \
              as on the schedule."
        | None -> ""

    let private scheduleCharts (e: OptimizersEvidence) =
        let first = e.Schedules |> List.distinctBy (fun r -> r.Kind)
        let perEpoch (r: ScheduleRun) = float r.StepLearningRate.Length / float (max 1 r.Curves.EpochTrainLoss.Length)
        let curve name (r: ScheduleRun) (a: float[]) =
            let k = thin 2000 a.Length
            { Name = name; X = k |> Array.map (fun i -> float i / perEpoch r); Y = k |> Array.map (fun i -> a.[i])
              Band = None }
        let cyclic = [ ScheduleKind.CyclicLR; ScheduleKind.CyclicLRWithoutMomentumCycling ]
        let lr =
            Figures.bands true [ for r in first -> curve (string r.Kind) r r.StepLearningRate ]
            |> Figures.withAxes "epoch" ""
            |> Figures.withLogY "learning rate"
        let momentum =
            Figures.bands false
                [ for r in first do if List.contains r.Kind cyclic then yield curve (string r.Kind) r r.StepMomentum ]
            |> Figures.withAxes "epoch" "SGD momentum"
        let loss =
            Figures.bands false
                [ for r in first ->
                    let window = max 1 (int (perEpoch r) / 10)
                    let m = MnistMeasures.windowMeans window r.Curves.StepLoss
                    let x = Array.init m.Length (fun k -> (float k + 0.5) * float window / perEpoch r)
                    { Name = string r.Kind; X = x; Y = m; Band = None } ]
            |> Figures.withAxes "epoch" "training loss (mean per tenth of an epoch)"
        let test =
            Figures.bands false
                [ for r in first ->
                    let x = Array.init r.Curves.EpochTestLoss.Length (fun k -> float (k + 1))
                    { Name = string r.Kind; X = x; Y = r.Curves.EpochTestLoss; Band = None } ]
            |> Figures.withAxes "epoch" "test loss"
        lr, momentum, loss, test

    let private scheduleTable (e: OptimizersEvidence) =
        { Title = "Regimes: settings, best epoch (model kept) and the kept model's test accuracy"
          Columns =
            [ "regime"; "seed"; "settings"; "best epoch"; "epochs"; "last epoch's test loss"
              "kept model's test accuracy (%)"; "diverged" ]
          Rows =
            [ for r in e.Schedules ->
                let best = if r.BestEpoch.HasValue then string (r.BestEpoch.Value + 1) else "–"
                [ string r.Kind; string r.Seed; r.Settings; best; string r.Curves.EpochTrainLoss.Length
                  f4 (last r.Curves.EpochTestLoss); f4 (100.0 * r.KeptTestAccuracy)
                  (if r.Curves.Diverged then "yes" else "no") ] ]
          CsvName = Some "schedules.csv" }

    let private scheduleBlocks (e: OptimizersEvidence) =
        if e.Schedules.IsEmpty then []
        else
            let lr, momentum, loss, test = scheduleCharts e
            [ Heading(2, "Training regimes (the lecture, parts 5–6)")
              Paragraph $"Each regime trains the same ReLU MLP 784→64→10 from the same initial weights and batch \
                          order (the lecture's own network is not in the material). The Adam regimes start at lr \
                          1e-2; CyclicLR runs SGD between the lecture-rule bounds of the range test, once with \
                          PyTorch's default cycle_momentum=True (which sets the SGD's momentum to 0.9 and cycles it \
                          between 0.9 and 0.8 although the SGD was created without momentum, as the lecture's was) \
                          and once without, and keeps the model of the epoch with the lowest test loss. The test set \
                          serves as the validation set, as in the lecture. {cyclePhase e}"
              yield! rangeBlocks e
              Figure("Learning rate of every step (the two CyclicLR runs share one rate).",
                     lr |> Chart.withSize (1100, 420))
              Figure("CyclicLR: the momentum every step used. With PyTorch's default the 'plain' SGD trains with \
                      momentum 0.8–0.9.", momentum |> Chart.withSize (1100, 360))
              Figure("Training loss (seed of the first replicate).", loss |> Chart.withSize (1100, 420))
              Figure("Test loss after each epoch.", test |> Chart.withSize (1100, 380))
              Table(scheduleTable e) ]

    let private decayBlocks (surface: SurfaceGrid option) (e: OptimizersEvidence) =
        match surface with
        | Some s when not e.WeightDecay.IsEmpty ->
            let problem = WeightDecayComparison.Problem
            let xs, ys, z = rounded s
            let chart =
                Figures.contourWithTrajectories xs ys z [ for r in e.WeightDecay -> r.Path.Label, planePoints r.Path ]
                |> withRange problem
                |> Chart.withSize (1100, 560)
            let find o f = e.WeightDecay |> List.tryFind (fun r -> r.Optimizer = o && r.Form = f)
            let gap o =
                match find o DecayForm.L2InLoss, find o DecayForm.WeightDecay with
                | Some a, Some b -> Paths.relativeGap a.Path b.Path
                | _ -> nan
            let sgdGap, adamGap = gap "SGD", gap "Adam"
            [ Heading(2, "L2 in the loss, weight_decay, and AdamW's decoupled decay")
              Paragraph $"On the fixed problem {problem.Formula} from ({g4 problem.Start.X}, {g4 problem.Start.Y}), \
                          λ = 0.1: for SGD the L2 term in the loss and weight_decay are one update rule (largest \
                          relative gap {g4 sgdGap}); Adam's weight_decay is also an L2 term in the gradient (gap \
                          to Adam with L2 in the loss {g4 adamGap}), which Adam then divides by √v; AdamW \
                          shrinks the weights by lr·λ outside the adaptive step and ends elsewhere."
              Figure("Trajectories on the fixed problem; its minimum is (3, 2), the penalised minimum (1.5, 1.905).",
                     chart)
              Table
                { Title = "Weight decay: end points and f of the problem (without the penalty)"
                  Columns = [ "run"; "end x"; "end y"; "f at the end" ]
                  Rows =
                    [ for r in e.WeightDecay ->
                        let n = r.Path.Steps
                        [ r.Path.Label; g4 r.Path.X.[n]; g4 r.Path.Y.[n]; g4 r.Path.F.[n] ] ]
                  CsvName = Some "weight-decay.csv" } ]
        | _ -> []

    /// The places where the notebooks were wrong, as measured here.
    let private corrections =
        [ Heading(2, "Where the notebooks were wrong")
          Facts
            [ "titles vs code",
              "The seminar's first cell is titled x² + y² but computes x²/10 − y²/10, a saddle with no minimum; the \
               second and third are titled with sin in both terms but use cos in the y-term. Both versions are run \
               here."
              "sequential protocol",
              "The seminar's MNIST comparison trains one model with Adam, then Adagrad, then Adadelta, then SGD: each \
               later optimizer starts from a trained model, which confounds every ranking. It is run here as \
               labelled, beside a fresh model per optimizer (claim sequential-changes-rankings)."
              "CyclicLR's momentum",
              "PyTorch's CyclicLR defaults to cycle_momentum=True and sets SGD's momentum to 0.9–0.8 although the \
               lecture's SGD was created without momentum; the lecture's cyclic run therefore had momentum without \
               saying so (run here with and without)."
              "hand-written Adam",
              "Writing the bias correction back into m and v divides v again at every step; the seminar's Adam \
               stands still after a few steps (claim seminar-adam-stalls)."
              "hand-written Adagrad, NAG, Adadelta",
              "The seminar's Adagrad puts ε inside the root, its NAG takes the look-ahead gradient (PyTorch stores \
               the look-ahead point), its Adadelta ignores lr and uses γ = 0.1; each is implemented as written and \
               compared with PyTorch's (table below)."
              "Momentum and SGD",
              "The seminar's GD and the notes' SGD are PyTorch's SGD; the heavy-ball Momentum of both notebooks is \
               PyTorch's SGD momentum at a constant rate (claim heavy-ball-equals-sgd-momentum); the notes' AdaGrad \
               is PyTorch's Adagrad with ε = 1e-7."
              "reconstruction",
              "The notebook files are not in this repository: constants the specification does not give (the \
               seminar's γ = 0.9 for Momentum and NAG, ε of its Adagrad and Adam, the reading of its Adadelta γ) are \
               assumptions, named in the Core classes' documentation." ] ]

    /// The study's figures and tables, in reading order.
    let blocks (decaySurface: SurfaceGrid option) (e: OptimizersEvidence) : ReportBlock list =
        [ yield! corrections
          yield Heading(2, "Test functions: every optimizer from the same start")
          yield Table(functionsTable e.Functions)
          yield Table variantsTable
          for r in e.Functions do
              yield Heading(3, $"{r.Function.Formula} ({r.Function.Key})")
              yield Paragraph $"{r.Function.Source}. Reference points: {referenceText r}. Runs that leave the \
                                rectangle continue outside the picture; a run whose f became NaN or infinite stopped \
                                there and is marked diverged in the table."
              yield Figure("Contours of f with every trajectory (the start is the first point).", contourFigure r)
              yield Figure("The surface with the trajectories of the seminar's optimizers (and the notes' runs), \
                            inside the rectangle.", surfaceFigure r)
              yield Figure("Distance to the nearest reference point and f − f* per step (log scale; points ≤ 0 are \
                            left out).", curvesFigure r)
              yield Table(pathTable r)
              if r.Kind = TestFunctionKind.ElongatedQuadratic then yield! notesBlocks e
          yield! decayBlocks decaySurface e
          yield! mnistBlocks e
          yield! scheduleBlocks e ]
