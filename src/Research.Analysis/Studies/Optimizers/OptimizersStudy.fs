namespace Research.Analysis.Studies.Optimizers

open System
open System.Globalization
open Argu
open Research.Core.Studies.Optimizers
open Research.Analysis

/// <summary>Steps of the self-study notes' runs on x²/20 + y² (the notes: 30 each; 1,000 and 10,000 for
/// the long Momentum and AdaGrad runs; SGD runs as long as Momentum so that both can reach ‖x‖ &lt; 0.1).</summary>
type NotesSteps = { Sgd: int; Momentum: int; Adagrad: int }

/// <summary>The MNIST comparison's settings.</summary>
type MnistSettings =
    { Networks: SeminarNetwork list
      /// Epochs per optimizer (the seminar: 20).
      Epochs: int
      /// Seeds per optimizer (intervals over seeds need at least 3).
      Replicates: int
      BatchSize: int
      /// The first N training images (None: all 60,000).
      TrainExamples: int option
      /// The first N test images (None: all 10,000).
      TestExamples: int option }

/// <summary>The training regimes' and the range test's settings.</summary>
type ScheduleSettings =
    { Epochs: int
      BatchSize: int
      TrainExamples: int option
      TestExamples: int option
      /// Seeds of the CyclicLR runs (the claim asks "in at least one seed").
      Replicates: int
      RangeStart: float
      RangeEnd: float
      RangeEpochs: int
      /// The lecture's smoothing weight of the newest loss.
      Smoothing: float }

/// <summary>Every setting of the optimizers study.</summary>
type OptimizersOptions =
    { Functions: TestFunctionKind list
      /// A start for every function instead of each one's own (None: the notebooks' starts).
      Start: PlanePoint option
      /// The seminar's learning rate, for its hand-written optimizers and PyTorch's at its settings.
      LearningRate: float
      /// The seminar's steps per run.
      Steps: int
      Notes: NotesSteps
      /// Groups on x²/20 + y² that are run again with the notes' central-difference gradient.
      CentralDifferenceGroups: PathGroup list
      /// At most this many steps for those repeats (None: as many as with autograd).
      CentralDifferenceCap: int option
      /// Grid points per axis of the contour and surface figures.
      SurfacePoints: int
      /// Grid points per axis of the notes' quiver.
      QuiverPoints: int
      Mnist: MnistSettings
      Schedules: ScheduleSettings
      /// λ of the weight-decay comparison.
      DecayLambda: float
      DecaySteps: int
      /// libtorch intra-op threads (the tensors are tiny: 1 is fastest).
      Threads: int }

/// <summary>The study's own command-line options.</summary>
type OptimizersArgs =
    | [<Unique>] Functions of keys: string list
    | [<Unique; EqualsAssignmentOrSpaced>] Start of point: string
    | [<Unique; EqualsAssignmentOrSpaced>] Lr of float
    | [<Unique>] Steps of int
    | [<Unique>] Epochs of int
    | [<Unique>] Replicates of int
    | [<Unique>] Train_Examples of int
    | [<Unique; EqualsAssignmentOrSpaced>] Range_Start of float
    | [<Unique; EqualsAssignmentOrSpaced>] Range_End of float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Functions _ -> "test functions to run (default all): seminar-saddle, seminar-sine, …, notes-quadratic, \
                rosenbrock, beale."
            | Start _ -> "one start x,y for every function instead of each one's own (e.g. --start=-1.2,1); f must \
                be finite there."
            | Lr _ -> "the seminar's learning rate for its optimizers and PyTorch's at its settings (default 0.1), > 0."
            | Steps _ -> "the seminar's steps per 2-D run (default 500)."
            | Epochs _ -> "MNIST epochs per optimizer (quick 1, full 20, the seminar's)."
            | Replicates _ -> "MNIST seeds per optimizer (default 3; intervals over seeds need at least 3)."
            | Train_Examples _ -> "use the first N MNIST training images for the comparison and the regimes (quick \
                9,600 and 6,400; full: all)."
            | Range_Start _ -> "the LR range test's first rate (default 1e-8), > 0 and < --range-end."
            | Range_End _ -> "the LR range test's last rate (default 10)."

/// <summary>
/// The optimizers study: the optimization seminar's optimizers on 2-D test functions (its hand-written
/// variants beside PyTorch's), the self-study notes' SGD, Momentum and AdaGrad on x²/20 + y², the
/// seminar's MNIST comparison with fresh models and with its sequential protocol, and the lecture's
/// learning-rate regimes, range test and weight decay.
/// </summary>
module OptimizersStudy =

    /// The study's name everywhere.
    [<Literal>]
    let Name = "optimizers"

    let private inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// The configuration of a tier. Quick: the 2-D runs at the notebooks' scale, MNIST for one epoch of the
    /// first 9,600 images × 3 seeds, the regimes for 6 epochs of 6,400 images. Full: the notebooks' scale
    /// (20 epochs of all of MNIST × 3 seeds, the regimes for 15 epochs, central differences for every run).
    let defaults (tier: Tier) : OptimizersOptions =
        let quick = tier = Tier.Quick
        { Functions = List.ofSeq TestFunctions.Kinds
          Start = None
          LearningRate = 0.1
          Steps = 500
          Notes = { Sgd = 1000; Momentum = 1000; Adagrad = 10000 }
          CentralDifferenceGroups =
            if quick then [ PathGroup.Notes ] else [ PathGroup.Seminar; PathGroup.PyTorch; PathGroup.Notes ]
          CentralDifferenceCap = (if quick then Some 1000 else None)
          SurfacePoints = 61
          QuiverPoints = 21
          Mnist =
            { Networks = [ SeminarNetwork.Mlp; SeminarNetwork.Cnn ]
              Epochs = (if quick then 1 else 20)
              Replicates = 3
              BatchSize = 32
              TrainExamples = (if quick then Some 9600 else None)
              TestExamples = (if quick then Some 2000 else None) }
          Schedules =
            { Epochs = (if quick then 6 else 15)
              BatchSize = 32
              TrainExamples = (if quick then Some 6400 else None)
              TestExamples = (if quick then Some 2000 else None)
              Replicates = 3
              RangeStart = 1e-8
              RangeEnd = 10.0
              RangeEpochs = 2
              Smoothing = 0.05 }
          DecayLambda = 0.1
          DecaySteps = 300
          Threads = 1 }

    /// A small deterministic configuration (CI, the script's --small, the fast-tier tests): the saddle,
    /// x² + y² and the notes' quadratic at the notebooks' steps (central differences for 300), 21-point
    /// grids, MNIST for 2 epochs of 1,280 images (500 test images) × 3 seeds, the regimes for 3 epochs.
    let small : OptimizersOptions =
        let quick = defaults Tier.Quick
        { quick with
            Functions = [ TestFunctionKind.SeminarSaddle; TestFunctionKind.Sphere; TestFunctionKind.ElongatedQuadratic ]
            CentralDifferenceCap = Some 300
            SurfacePoints = 21
            Mnist = { quick.Mnist with Epochs = 2; TrainExamples = Some 1280; TestExamples = Some 500 }
            Schedules = { quick.Schedules with Epochs = 3; TrainExamples = Some 1280; TestExamples = Some 500 } }

    let private examples (n: int option) = match n with Some n -> string n | None -> "all"

    /// Every setting, for the methods section and the result folder's identity.
    let describe (o: OptimizersOptions) : (string * string) list =
        let m, s = o.Mnist, o.Schedules
        [ "test functions", String.Join(", ", o.Functions |> List.map (fun k -> (TestFunctions.Of k).Key))
          "start",
          (match o.Start with
           | Some p -> $"({inv p.X}, {inv p.Y}) for every function"
           | None -> "each function's own")
          "seminar runs", $"lr {inv o.LearningRate}, {o.Steps} steps"
          "notes runs", $"SGD lr 0.95 {o.Notes.Sgd} steps; Momentum lr 0.1 μ 0.95 {o.Notes.Momentum} steps; AdaGrad \
              lr 1.5 ε 1e-7 {o.Notes.Adagrad} steps"
          "central differences",
          (let groups = String.Join(", ", o.CentralDifferenceGroups)
           let steps = match o.CentralDifferenceCap with Some c -> $"at most {c} steps" | None -> "every step"
           $"h = 1e-4 for the {groups} runs on x²/20 + y², {steps}")
          "figure grids", $"{o.SurfacePoints} × {o.SurfacePoints} (surfaces), {o.QuiverPoints} × {o.QuiverPoints} \
              (quiver)"
          "MNIST comparison",
          (let networks = String.Join(", ", m.Networks)
           $"{networks}; Adam 1e-3, Adagrad 1e-2, Adadelta 1.0, SGD 0.01 (PyTorch's defaults otherwise); \
             {m.Epochs} epochs, batch {m.BatchSize}, {m.Replicates} seeds, {examples m.TrainExamples} training and \
             {examples m.TestExamples} test images; protocols fresh and sequential")
          "regimes",
          $"ReLU MLP 784-64-10, {s.Epochs} epochs, batch {s.BatchSize}, {examples s.TrainExamples} training and \
              {examples s.TestExamples} test images; Adam 1e-2 with ReduceLROnPlateau (0.1, patience 1), StepLR (2, \
              0.1), warm-up 1 epoch; CyclicLR (SGD, lecture bounds, 1 epoch up and down) × {s.Replicates} seeds with \
              and without momentum cycling"
          "range test", $"SGD from {inv s.RangeStart} to {inv s.RangeEnd} over {s.RangeEpochs} epochs, smoothing \
              {inv s.Smoothing}"
          "weight decay", $"λ = {inv o.DecayLambda}, SGD lr 0.5, Adam/AdamW lr 0.1, {o.DecaySteps} steps"
          "threads", string o.Threads ]

    /// An exception's message without .NET's " (Parameter 'x')" suffix.
    let private messageOf (e: exn) = e.Message.Split(" (Parameter").[0]

    let private positive (name: string) (v: int) =
        if v < 1 then Error $"--{name}: expected a whole number ≥ 1, got {v}" else Ok v

    let private parseStart (text: string) : Result<PlanePoint, string> =
        let number (s: string) = Double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture)
        match text.Split(',') |> Array.map number with
        | [| (true, x); (true, y) |] when Double.IsFinite x && Double.IsFinite y -> Ok(PlanePoint(x, y))
        | _ -> Error $"--start: expected two finite numbers x,y (e.g. --start=-1.2,1), got '{text}'"

    /// The C# check of a start (f must be finite there), as an Error naming the function.
    let private checkStart (kinds: TestFunctionKind list) (p: PlanePoint) : Result<PlanePoint, string> =
        kinds
        |> List.tryPick (fun k ->
            try
                FunctionRuns.CheckStart(TestFunctions.Of k, p)
                None
            with :? ArgumentException as e -> Some(messageOf e))
        |> function Some m -> Error $"--start: {m}" | None -> Ok p

    /// Applies the command-line options to a tier's configuration.
    let configure (args: ParseResults<OptimizersArgs>) (o: OptimizersOptions) : Result<OptimizersOptions, string> =
        let functions =
            match args.TryGetResult Functions with
            | None -> Ok o.Functions
            | Some [] -> Error "--functions: expected one or more test functions, got none"
            | Some keys ->
                try Ok(keys |> List.map TestFunctions.Parse |> List.distinct)
                with :? ArgumentException as e -> Error $"--functions: {messageOf e}"
        let lr = args.GetResult(Lr, defaultValue = o.LearningRate)
        let rangeStart = args.GetResult(Range_Start, defaultValue = o.Schedules.RangeStart)
        let rangeEnd = args.GetResult(Range_End, defaultValue = o.Schedules.RangeEnd)
        functions
        |> Result.bind (fun fs ->
            if not (lr > 0.0 && Double.IsFinite lr) then Error $"--lr: expected a finite learning rate > 0, got \
                {inv lr}"
            else Ok fs)
        |> Result.bind (fun fs ->
            try
                ScheduleRuns.CheckRange(rangeStart, rangeEnd)
                Ok fs
            with :? ArgumentException as e -> Error $"--range-start/--range-end: {messageOf e}")
        |> Result.bind (fun fs ->
            match args.TryGetResult Start with
            | None -> Ok(fs, None)
            | Some text -> parseStart text |> Result.bind (checkStart fs) |> Result.map (fun p -> fs, Some p))
        |> Result.bind (fun (fs, start) ->
            positive "steps" (args.GetResult(Steps, defaultValue = o.Steps))
            |> Result.bind (fun steps ->
                positive "epochs" (args.GetResult(Epochs, defaultValue = o.Mnist.Epochs))
                |> Result.bind (fun epochs ->
                    positive "replicates" (args.GetResult(Replicates, defaultValue = o.Mnist.Replicates))
                    |> Result.bind (fun replicates ->
                        match args.TryGetResult Train_Examples with
                        | Some n when n < 1 -> Error $"--train-examples: expected a whole number ≥ 1, got {n}"
                        | given ->
                            let train (fallback: int option) = match given with Some n -> Some n | None -> fallback
                            Ok { o with
                                    Functions = fs
                                    Start = start
                                    LearningRate = lr
                                    Steps = steps
                                    Mnist =
                                        { o.Mnist with
                                            Epochs = epochs
                                            Replicates = replicates
                                            TrainExamples = train o.Mnist.TrainExamples }
                                    Schedules =
                                        { o.Schedules with
                                            RangeStart = rangeStart
                                            RangeEnd = rangeEnd
                                            TrainExamples = train o.Schedules.TrainExamples } }))))

    /// The seminar's hand-written optimizers (its GD is SGD itself) at its learning rate.
    let seminarRecipes (lr: float) : OptimizerRecipe list =
        [ OptimizerRecipe("seminar GD (= SGD)", UpdateRule.Sgd, lr)
          OptimizerRecipe("seminar Momentum", UpdateRule.HeavyBall, lr, 0.9)
          OptimizerRecipe("seminar NAG", UpdateRule.LookAheadNesterov, lr, 0.9)
          OptimizerRecipe("seminar Adagrad", UpdateRule.SeminarAdagrad, lr)
          OptimizerRecipe("seminar Adadelta", UpdateRule.SeminarAdadelta, lr)
          OptimizerRecipe("seminar Adam", UpdateRule.SeminarAdam, lr) ]

    /// PyTorch's optimizers at the seminar's settings (Adadelta at its default lr 1, which is what the
    /// seminar's Adadelta, ignoring lr, amounts to).
    let pytorchRecipes (lr: float) : OptimizerRecipe list =
        [ OptimizerRecipe("SGD momentum 0.9", UpdateRule.Momentum, lr, 0.9)
          OptimizerRecipe("SGD Nesterov 0.9", UpdateRule.Nesterov, lr, 0.9)
          OptimizerRecipe("Adagrad", UpdateRule.Adagrad, lr)
          OptimizerRecipe("Adadelta (lr 1)", UpdateRule.Adadelta, 1.0)
          OptimizerRecipe("RMSprop", UpdateRule.RmsProp, lr)
          OptimizerRecipe("Adam", UpdateRule.Adam, lr)
          OptimizerRecipe("RAdam", UpdateRule.RAdam, lr) ]

    /// The self-study notes' runs with their steps.
    let notesRecipes (n: NotesSteps) : (OptimizerRecipe * int) list =
        [ OptimizerRecipe("notes SGD (lr 0.95)", UpdateRule.Sgd, 0.95), n.Sgd
          OptimizerRecipe("notes Momentum (lr 0.1, μ 0.95)", UpdateRule.HeavyBall, 0.1, 0.95), n.Momentum
          OptimizerRecipe("notes AdaGrad (lr 1.5, ε 1e-7)", UpdateRule.Adagrad, 1.5, Eps = 1e-7), n.Adagrad ]

    /// Runs every optimizer on one function (and the central-difference repeats on the notes' function).
    let runFunction (o: OptimizersOptions) (log: string -> unit) (kind: TestFunctionKind) : FunctionResult =
        let f = TestFunctions.Of kind
        let start = o.Start |> Option.defaultValue f.Start
        let notes = kind = TestFunctionKind.ElongatedQuadratic
        let plan =
            [ for r in seminarRecipes o.LearningRate -> PathGroup.Seminar, r, o.Steps
              for r in pytorchRecipes o.LearningRate -> PathGroup.PyTorch, r, o.Steps
              if notes then for r, steps in notesRecipes o.Notes -> PathGroup.Notes, r, steps ]
        let clock = Diagnostics.Stopwatch.StartNew()
        let runs =
            [ for group, recipe, steps in plan do
                yield { Group = group; Recipe = recipe; Path = FunctionRuns.Run(f, recipe, start, steps) }
                if notes && List.contains group o.CentralDifferenceGroups then
                    let capped = match o.CentralDifferenceCap with Some c -> min c steps | None -> steps
                    yield { Group = group; Recipe = recipe
                            Path = FunctionRuns.Run(f, recipe, start, capped, GradientSource.CentralDifference) } ]
        let diverged = runs |> List.filter (fun r -> r.Path.Diverged) |> List.map (fun r -> r.Recipe.Label)
        let steps = runs |> List.sumBy (fun r -> r.Path.Steps)
        let names = if diverged.IsEmpty then "none" else String.Join(", ", diverged)
        log $"{f.Key}: {runs.Length} runs, {steps} steps in {clock.Elapsed.TotalSeconds:F1} s; diverged: {names}"
        { Kind = kind
          Function = f
          References = Array.ofSeq f.ReferencePoints
          Surface = f.Surface o.SurfacePoints
          Runs = runs }

    let private mnistConfig (o: MnistSettings) (seeds: int64 list) (threads: int) =
        MnistComparisonConfig(
            Networks = Array.ofList o.Networks, Epochs = o.Epochs, BatchSize = o.BatchSize, Seeds = Array.ofList seeds,
            TrainExamples = Option.toNullable o.TrainExamples, TestExamples = Option.toNullable o.TestExamples,
            Threads = threads)

    let private scheduleConfig (s: ScheduleSettings) (bounds: float * float) (threads: int) =
        ScheduleConfig(
            Epochs = s.Epochs, BatchSize = s.BatchSize, TrainExamples = Option.toNullable s.TrainExamples,
            TestExamples = Option.toNullable s.TestExamples, CyclicBaseLearningRate = fst bounds,
            CyclicMaxLearningRate = snd bounds, Threads = threads)

    /// Runs everything, evaluates the claims and builds the report; returns the output and the evidence.
    let execute (expectations: Map<string, Verdict option>) (ctx: StudyContext) (o: OptimizersOptions)
                : StudyOutput * OptimizersEvidence =
        ctx.Step "test functions and weight decay"
        let functions, field, decay, decaySurface =
            use _ = Research.Core.Runtime.TorchThreads.Use o.Threads
            let functions = o.Functions |> List.map (runFunction o ctx.Info)
            let field =
                if List.contains TestFunctionKind.ElongatedQuadratic o.Functions then
                    let notes = TestFunctions.Of TestFunctionKind.ElongatedQuadratic
                    Some(notes.GradientGrid(o.QuiverPoints, GradientSource.CentralDifference))
                else None
            let decay = WeightDecayComparison.Run(o.DecayLambda, 0.5, 0.1, o.DecaySteps, o.Threads) |> List.ofSeq
            functions, field, decay, WeightDecayComparison.Problem.Surface o.SurfacePoints
        ctx.Step "MNIST comparison"
        let seeds = [ for k in 1 .. o.Mnist.Replicates -> ctx.Stream $"mnist replicate {k}" ]
        let mnist =
            MnistComparison.Run(mnistConfig o.Mnist seeds o.Threads, ctx.Mnist.Train, ctx.Mnist.Test, ctx.Log)
            |> List.ofSeq
        ctx.Step "range test and training regimes"
        let s = o.Schedules
        let rangeConfig = scheduleConfig s (1e-3, 1e-2) o.Threads
        let range =
            ScheduleRuns.RangeTest(rangeConfig, s.RangeStart, s.RangeEnd, s.RangeEpochs, ctx.Stream "range test",
                                   ctx.Mnist.Train, ctx.Log)
        let suggestion = RangeTest.suggest s.Smoothing range
        ctx.Info $"range test suggests min_lr {suggestion.LectureMin:G3}, max_lr {suggestion.LectureMax:G3} \
            (lecture's rule)"
        let config = scheduleConfig s (suggestion.LectureMin, suggestion.LectureMax) o.Threads
        let cyclicSeeds = [ for k in 1 .. s.Replicates -> ctx.Stream $"regimes replicate {k}" ]
        let run kind seed = ScheduleRuns.Run(config, kind, seed, ctx.Mnist.Train, ctx.Mnist.Test, ctx.Log)
        let schedules =
            let adamKinds =
                [ ScheduleKind.Constant; ScheduleKind.ReduceLROnPlateau; ScheduleKind.StepLR
                  ScheduleKind.LinearWarmup ]
            [ for kind in adamKinds ->
                run kind cyclicSeeds.Head
              for kind in [ ScheduleKind.CyclicLR; ScheduleKind.CyclicLRWithoutMomentumCycling ] do
                  for seed in cyclicSeeds -> run kind seed ]
        ctx.Step "claims"
        let evidence =
            { Functions = functions
              NotesField = field
              Mnist = mnist
              MnistEpochs = o.Mnist.Epochs
              WeightDecay = decay
              Range = Some(range, suggestion)
              Schedules = schedules
              Stream = ctx.Stream }
        let claims =
            OptimizersClaims.all expectations |> List.map (Claims.evaluate [ "seed", string ctx.Seed ] evidence)
        let stepsOf = functions |> List.sumBy (fun f -> f.Runs |> List.sumBy (fun r -> r.Path.Steps))
        let methods =
            [ "2-D runs", $"{functions |> List.sumBy (fun f -> f.Runs.Length)} runs, {stepsOf} steps, float64, \
                through Trainer.Minimize; a run whose f became NaN or infinite stopped there"
              "optimizers (2-D)",
              String.Join("; ", [ for r in seminarRecipes o.LearningRate @ pytorchRecipes o.LearningRate ->
                                    $"{r.Label}: {r.Describe()}" ])
              "MNIST data",
              (let seedList = String.Join(", ", seeds)
               $"{ctx.Mnist.Source}; normalised (x/255 − 0.1307)/0.3081; seeds {seedList} (initial weights and \
                 batch order)")
              "MNIST runs", $"{mnist.Length} runs, {mnist |> List.sumBy (fun r -> r.Curves.StepLoss.Length)} steps, \
                  {mnist |> List.sumBy (fun r -> r.Seconds):F0} s; \
                  {mnist |> List.filter (fun r -> r.Curves.Diverged) |> List.length} diverged"
              "range test", range.Settings
              "regime seeds", String.Join(", ", cyclicSeeds) ]
        { Title = $"Optimizers on test functions and MNIST, and learning-rate schedules (seed {ctx.Seed})"
          Summary =
            "This report reproduces, corrects and extends three notebooks: the optimization-methods seminar \
                (hand-written GD, Momentum, NAG, Adagrad, Adadelta and Adam on 2-D functions, then Adam, Adagrad, \
                Adadelta and SGD on MNIST), the self-study notes on SGD, Momentum and AdaGrad (Deep Learning from \
                Scratch, ch. 6), and the lecture's parts 5–6 (learning-rate regimes, the LR range test, L2 vs weight \
                decay). The seminar's optimizers run as it wrote them beside the toolkit's PyTorch-exact ones, from \
                the same starts; the MNIST comparison runs with a fresh model per optimizer and, labelled as such, \
                as the seminar ran it. Every conclusion is a claim with a decision rule fixed in code before the runs."
          Blocks = OptimizersReport.blocks (Some decaySurface) evidence
          Claims = claims
          Methods = methods
          Inputs = [] },
        evidence

    /// The study on the shared shape.
    let study : Study<OptimizersOptions, OptimizersArgs> =
        { Name = Name
          Description = "Optimizers on 2-D test functions and MNIST (the notebooks' variants beside PyTorch's), \
              learning-rate regimes and the range test"
          Notebooks =
            [ "the optimization-methods seminar (hand-written optimizers on 2-D functions; Adam, Adagrad, Adadelta, \
                SGD on MNIST)"
              "the self-study notes on SGD, Momentum, AdaGrad (Saito, Deep Learning from Scratch, ch. 6)"
              "the lecture, parts 5–6 (optimizer formulas, L2 vs weight decay, ReduceLROnPlateau, StepLR, LR range \
                  test, CyclicLR, warm-up)" ]
          Steps =
            fun _ ->
                [ "test functions and weight decay"; "MNIST comparison"; "range test and training regimes"; "claims" ]
          Defaults = defaults
          Configure = configure
          Describe = describe
          UsesMnist = fun _ -> true
          Run = fun ctx o -> fst (execute Map.empty ctx o) }
