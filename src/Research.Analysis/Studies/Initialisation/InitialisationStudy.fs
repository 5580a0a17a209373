namespace Research.Analysis.Studies.Initialisation

open System
open System.Diagnostics
open System.Globalization
open System.Security.Cryptography
open Argu
open Research.Core.Studies.Initialisation
open Research.Analysis

/// <summary>Everything the initialisation study depends on.</summary>
type InitialisationOptions =
    { /// The configurations measured at initialisation (Research.Core: network, activation, scheme, batch size).
      Configurations: InitConfiguration list
      /// B: batches (same weights) and reruns (fresh weights and batch) per configuration besides the one batch.
      Batches: int
      /// The sigmoid nets trained, and how.
      Training: SigmoidTrainingConfig
      /// "auto", "cpu" or "cuda".
      Device: string
      /// libtorch intra-op threads (1: robust on a shared 2-core machine; see Research.Core.Runtime.TorchThreads).
      Threads: int }

/// <summary>The study's own command-line options.</summary>
type InitialisationArgs =
    | [<Unique>] Batches of int
    | [<Unique>] Epochs of int
    | [<Unique>] Learning_Rates of float list
    | [<Unique>] Train_Examples of int
    | [<Unique>] Threads of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batches _ -> "B: batches and reruns per configuration at initialisation besides the one (default 20)."
            | Epochs _ -> "epochs of training for the sigmoid nets (quick 1, full: the lecture's 5)."
            | Learning_Rates _ -> "SGD learning rates, the lecture's first (default 0.001 0.1: its lr and a contrast)."
            | Train_Examples _ -> "train the sigmoid nets on the first N training images (default: all 60,000)."
            | Threads _ -> "libtorch intra-op threads (default 1: robust when the 2 cores are shared)."

/// <summary>
/// The initialisation study: how the spread of activations and gradients changes across the layers of
/// deep MLPs under different initialisations, and whether a deep sigmoid net learns with them. It
/// reproduces, corrects and extends the seminar "improving convergence", part 1, and the lecture
/// "convergence and overfitting", parts 1–2 (Glorot and Bengio 2010; He et al. 2015; Saxe et al. 2014).
/// </summary>
module InitialisationStudy =

    /// The study's name everywhere (command line, report folder, script, tests).
    [<Literal>]
    let Name = "initialisation"

    /// The configuration of a tier. Quick: B = 20, the four sigmoid runs for one epoch at lr 1e-3 and
    /// 0.1; full: the lecture's five epochs, and PyTorch's default initialisation trained too.
    let defaults (tier: Tier) : InitialisationOptions =
        { Configurations = List.ofArray InitialisationConfigurations.All
          Batches = 20
          Training =
            (match tier with
             | Tier.Quick -> SigmoidTrainingConfig()
             | Tier.Full ->
                 SigmoidTrainingConfig(Epochs = 5, Runs = InitialisationConfigurations.SigmoidRunsWithDefault))
          Device = "auto"
          Threads = 1 }

    /// A copy of a training configuration with another epoch count, learning rates, training examples,
    /// device and threads (C# records have no `with` from F#; every property is copied).
    let withTraining (epochs: int) (rates: float[]) (examples: int option) (device: string) (threads: int)
                     (c: SigmoidTrainingConfig) : SigmoidTrainingConfig =
        SigmoidTrainingConfig(
            Runs = c.Runs, HiddenWidth = c.HiddenWidth, LearningRates = rates, BatchSize = c.BatchSize,
            Epochs = epochs, TrainExamples = Option.toNullable examples, SnapshotIterations = c.SnapshotIterations,
            InputMean = c.InputMean, InputStd = c.InputStd, Device = device, Threads = threads)

    let private inv (x: float) = x.ToString("G6", CultureInfo.InvariantCulture)

    /// Every setting, for the methods section and the result folder's identity (the seed is the runner's).
    let describe (o: InitialisationOptions) : (string * string) list =
        let t = o.Training
        [ for c in o.Configurations do
              let reference = match c.ReferenceKey with null -> "" | key -> $", PyTorch reference '{key}'"
              yield $"configuration {c.Id}", $"{c.NetworkText}, {c.Init}, batch {c.BatchSize}{reference}"
          yield "batches and reruns B", string o.Batches
          yield "data at initialisation", "MNIST training images, (x/255 − 0.1307)/0.3081; disjoint seeded batches"
          for r in t.Runs do yield $"trained {r.Id}", $"784-100x{r.HiddenLayers}-10 sigmoid, {r.Init}"
          yield "hidden width", string t.HiddenWidth
          yield "learning rates (SGD, no momentum)", String.Join(", ", t.LearningRates |> Array.map inv)
          yield "batch size", string t.BatchSize
          yield "epochs", string t.Epochs
          yield "training examples", (if t.TrainExamples.HasValue then string t.TrainExamples.Value else "all")
          yield "snapshot iterations", String.Join(", ", t.SnapshotIterations) + ", and each epoch's last"
          yield "training normalisation", $"(x/255 − {inv t.InputMean})/{inv t.InputStd}"
          yield "loss smoothing", "β = 0.9"
          yield "device", o.Device
          yield "threads", string o.Threads ]

    let private atLeast (name: string) (minimum: int) (what: string) (v: int) =
        if v < minimum then Error $"--{name}: expected {what} ≥ {minimum}, got {v}" else Ok v

    /// Applies the command-line options to a tier's configuration.
    let configure (args: ParseResults<InitialisationArgs>) (o: InitialisationOptions)
                  : Result<InitialisationOptions, string> =
        let t = o.Training
        let batches = args.TryGetResult Batches |> Option.defaultValue o.Batches
        let epochs = args.TryGetResult Epochs |> Option.defaultValue t.Epochs
        let rates = args.TryGetResult Learning_Rates |> Option.map Array.ofList |> Option.defaultValue t.LearningRates
        let examples = args.TryGetResult Train_Examples |> Option.orElse (Option.ofNullable t.TrainExamples)
        let threads = args.TryGetResult Threads |> Option.defaultValue o.Threads
        atLeast "batches" 2 "a number of batches B (an interval needs two)" batches
        |> Result.bind (fun _ -> atLeast "epochs" 1 "a number of epochs" epochs)
        |> Result.bind (fun _ -> atLeast "threads" 1 "a number of threads" threads)
        |> Result.bind (fun _ ->
            match examples with
            | Some n when n < t.BatchSize ->
                Error $"--train-examples: expected at least one batch ({t.BatchSize} images), got {n}"
            | _ -> Ok())
        |> Result.bind (fun _ ->
            if rates.Length = 0 then
                Error "--learning-rates: expected one or more learning rates, the lecture's first (e.g. 0.001 0.1)"
            else
                match rates |> Array.tryFind (fun lr -> not (lr > 0.0 && Double.IsFinite lr)) with
                | Some bad -> Error $"--learning-rates: expected finite learning rates > 0, got {bad}"
                | None -> Ok())
        |> Result.map (fun () ->
            { o with
                Batches = batches
                Threads = threads
                Training = withTraining epochs rates examples o.Device threads t })

    /// The SHA-256 of the embedded init_variance.json (the report's PyTorch values).
    let private referenceHash () =
        use s = typeof<Spread>.Assembly.GetManifestResourceStream "Research.Analysis.init_variance.json"
        Convert.ToHexString(SHA256.HashData s).ToLowerInvariant()

    /// Evaluates every claim on the analyses.
    let evaluateClaims (expectations: Map<string, Verdict option>) (provenance: (string * string) list)
                       (evidence: InitialisationEvidence) (learningRates: float list) : ClaimResult list =
        InitialisationClaims.all expectations learningRates |> List.map (Claims.evaluate provenance evidence)

    /// Measures, trains, analyses, evaluates the claims and builds the report blocks. Returns the output
    /// and the evidence the claims were evaluated on.
    let execute (expectations: Map<string, Verdict option>) (ctx: StudyContext) (o: InitialisationOptions)
                : StudyOutput * InitialisationEvidence =
        let clock = Stopwatch.StartNew()
        ctx.Step "statistics at initialisation"
        let measure =
            InitMeasurementOptions(o.Batches, ctx.Stream "init/weights", ctx.Stream "init/batches", o.Device, o.Threads)
        ctx.Info $"{o.Configurations.Length} configurations: one batch, {o.Batches} batches and {o.Batches} reruns each"
        let measurements =
            [ for c in o.Configurations ->
                let m = InitialisationCapture.Measure(c, ctx.Mnist.Train, measure)
                ctx.Info $"{c.Id,-24} {m.Seconds,5:F1} s"
                m ]
        let atInit = clock.Elapsed.TotalSeconds
        ctx.Step "training the sigmoid nets"
        let t = o.Training
        let training = withTraining t.Epochs t.LearningRates (Option.ofNullable t.TrainExamples) o.Device o.Threads t
        let runs =
            InitialisationCapture.Train(training, ctx.Mnist.Train, ctx.Mnist.Test, ctx.Stream "training/weights",
                                        ctx.Stream "training/batch-order", ctx.Log)
        let trained = clock.Elapsed.TotalSeconds - atInit
        ctx.Step "analysis"
        let configurations =
            measurements |> List.map (InitialisationAnalysis.summarise InitialisationAnalysis.reference.Value)
        let analyses = runs |> Seq.map InitialisationAnalysis.training |> List.ofSeq
        let rates = List.ofArray training.LearningRates
        let evidence =
            { Configurations = configurations
              Training = analyses
              LectureLearningRate = rates.Head
              Stream = ctx.Stream }
        let claims = evaluateClaims expectations [ "seed", string ctx.Seed; "tier", string ctx.Tier ] evidence rates
        let blocks = InitialisationReport.blocks o.Batches configurations analyses rates
        let studyTime = $"{clock.Elapsed.TotalSeconds:F1} s (at initialisation {atInit:F1} s, training {trained:F1} s)"
        ctx.Info $"study time {studyTime}"
        let rateText = String.Join(", ", rates |> List.map inv)
        let examples = if training.TrainExamples.HasValue then training.TrainExamples.Value else ctx.Mnist.Train.Count
        let methods =
            [ yield "data",
                    $"MNIST: training images for the statistics at initialisation and for training ({examples} "
                    + $"examples), the {ctx.Mnist.Test.Count} test images for test losses and accuracy"
              yield "at initialisation",
                    "per configuration: weights drawn after torch.manual_seed(stream init/weights) in layer order, "
                    + "biases zero (PyTorch's default keeps its biases); the one batch is batch 0 of a seeded order "
                    + $"(stream init/batches); B = {o.Batches} batches 1..B with the same weights; B reruns r with "
                    + "weights from DeriveSeed(init/weights, \"rerun/r\") on batch r; statistics by "
                    + "LayerStatistics.Measure (exact ∂L/∂input through retain_grad, population std, mean "
                    + "cross-entropy)"
              yield "PyTorch reference",
                    "init_variance.json (PyTorch 1.13.1, Debian python3-torch, CPU), embedded in Research.Analysis; "
                    + "its protocol rerun here: weights after manual_seed(0), randn(100, 784) after manual_seed(1), "
                    + "labels arange(100) % 10"
              yield "training",
                    $"SGD (no momentum), lr {rateText}, batch {training.BatchSize}, {training.Epochs} epoch(s), "
                    + "weights after manual_seed(stream training/weights), batch order from stream "
                    + $"training/batch-order; test-batch loss after every step on the next {training.BatchSize} test "
                    + "images; loss curves smoothed with β = 0.9"
              for r in runs ->
                  let accuracy = 100.0 * r.Epochs.[r.Epochs.Count - 1].TestAccuracy
                  $"run {r.Run.Id} at lr {inv r.LearningRate}",
                  $"{r.Network}, {r.Run.Init}: test accuracy after the last epoch {accuracy:F2}%%, {r.Seconds:F1} s"
              yield "study time", $"{studyTime}, {o.Threads} libtorch thread(s)" ]
        { Title = $"Initialisation, depth and vanishing gradients (seed {ctx.Seed})"
          Summary =
            "This report reproduces, corrects and extends two notebooks: the seminar \"improving convergence\", "
            + "part 1 (per-layer std of activations and input-gradients of deep tanh and ReLU nets under N(0, 0.1), "
            + "Xavier, std √(1/fan_out) and He) and the lecture \"convergence and overfitting\", parts 1–2 (a deep "
            + "sigmoid net that does not learn, network paralysis, Xavier with the sigmoid gain, orthogonal "
            + "initialisation). Every per-layer statistic is measured on real MNIST batches, on the seminar's one "
            + "batch and over batches and reruns, and under init_variance.json's protocol beside PyTorch's values; "
            + "every conclusion is a claim with a decision rule fixed in code before the data is seen."
          Blocks = blocks
          Claims = claims
          Methods = methods
          Inputs = [ "init_variance.json (embedded PyTorch 1.13.1 reference)", referenceHash () ] },
        evidence

    /// The study on the shared shape.
    let study : Study<InitialisationOptions, InitialisationArgs> =
        { Name = Name
          Description =
            "How do initialisation and depth shape the spread of activations and gradients, and does a deep sigmoid "
            + "net learn?"
          Notebooks =
            [ "the seminar \"improving convergence\", part 1 (per-layer std under N(0, 0.1), Xavier, He)"
              "the lecture \"convergence and overfitting\", parts 1-2 (sigmoid nets, paralysis, Xavier, orthogonal)" ]
          Steps = fun _ -> [ "statistics at initialisation"; "training the sigmoid nets"; "analysis" ]
          Defaults = defaults
          Configure = configure
          Describe = describe
          UsesMnist = fun _ -> true
          Run = fun ctx o -> fst (execute Map.empty ctx o) }
