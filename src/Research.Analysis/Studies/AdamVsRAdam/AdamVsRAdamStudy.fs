namespace Research.Analysis.Studies.AdamVsRAdam

open System
open System.IO
open Argu
open Research.Core.Studies.AdamVsRAdam
open Research.Analysis

/// <summary>Everything the Adam-vs-RAdam study depends on.</summary>
type AdamVsRAdamOptions =
    { /// Training and recording (Research.Core): model, optimizers, steps, recorded block.
      Capture: AdamVsRAdamConfig
      /// The analysis: α, mixtures, bootstrap, early window.
      Analysis: AnalysisOptions
      /// Trace folders recorded elsewhere to analyse instead of training (absolute paths), with
      /// the SHA-256 of each one's files; empty: train and record.
      Traces: (string * (string * string) list) list }

/// <summary>The study's own command-line options.</summary>
type AdamVsRAdamArgs =
    | [<Unique>] Steps of int
    | [<Unique>] Record of int
    | [<Unique>] Resamples of int
    | [<Unique>] Weights_Per_Group of int
    | [<Unique>] Traces of directory: string list

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Steps _ -> "training steps per optimizer (quick and full: 469 = one epoch of MNIST at batch 128)."
            | Record _ -> "iterations recorded from the start, 3 ≤ N ≤ steps (default 100)."
            | Resamples _ -> "bootstrap resamples B for the ψ variance (default 1,000)."
            | Weights_Per_Group _ -> "weights per group whose ψ variance is bootstrapped (quick 200; full: all)."
            | Traces _ -> "analyse these trace folders (ours, or NumPy .npy files with a minimal manifest) instead of training."

/// <summary>
/// The Adam-vs-RAdam study: are early per-weight gradients normal, how many normality hypotheses
/// survive Holm or Benjamini–Hochberg, and how large is the variance of Adam's adaptive learning
/// rate ψ_t in the first iterations — and do RAdam's rectification and warmup reduce it?
/// </summary>
module AdamVsRAdamStudy =

    /// The study's name everywhere (command line, report folder, script, tests).
    [<Literal>]
    let Name = "adam-vs-radam"

    /// The configuration of a tier. Quick: the notebook's run with up to 200 weights per group in the
    /// bootstrap; full: every weight of each group.
    let defaults (tier: Tier) : AdamVsRAdamOptions =
        let analysis = AnalysisOptions.Default
        { Capture = AdamVsRAdamConfig()
          Analysis = (match tier with Tier.Quick -> analysis | Tier.Full -> { analysis with WeightsPerGroup = Int32.MaxValue })
          Traces = [] }

    /// Every hyperparameter, for the methods section and the result folder's identity (the seed is
    /// the runner's and is not repeated here).
    let describe (o: AdamVsRAdamOptions) : (string * string) list =
        let a = o.Analysis
        let c = o.Capture
        [ if o.Traces.IsEmpty then
              yield "model", $"""MLP {String.Join("-", c.Widths)}, ReLU, PyTorch default initialisation"""
              yield "batch size", string c.BatchSize
              yield "training steps per optimizer", string c.TrainSteps
              yield "recorded iterations", $"1..{c.RecordIterations}"
              yield "recorded block", $"fc{c.Widths.Length - 1}.weight[0:{c.OutputRows}, 0:{c.InputColumns}]"
              yield "training examples", (if c.TrainExamples.HasValue then string c.TrainExamples.Value else "all")
              yield "device", c.Device
              for spec in c.Optimizers do
                  yield $"optimizer {spec.Label}",
                        $"{spec.Optimizer}: lr {spec.LearningRate}, betas ({spec.Beta1}, {spec.Beta2}), eps {spec.Eps}, weight decay {spec.WeightDecay}, schedule {spec.ScheduleText}"
          else
              for dir, files in o.Traces do
                  for f, h in files do yield $"trace {Path.GetFileName dir}/{f}", h
          yield "alpha", string a.Alpha
          yield "mixture components", string a.MixtureComponents
          yield "mixture restarts", string a.MixtureRestarts
          yield "mixture restart iterations", string a.MixtureRestartIterations
          yield "mixture refinement",
                (match a.MixtureRefinement with
                 | Some r -> $"SQUAREM-accelerated EM from the best restart to a change < {r.Tolerance} (at most {r.MaxIterations} steps)"
                 | None -> "none")
          yield "bootstrap resamples", string a.BootstrapResamples
          yield "weights per group", (if a.WeightsPerGroup = Int32.MaxValue then "all" else string a.WeightsPerGroup)
          yield "weights per group with the notebook's first-t bootstrap", string a.FirstTWeights
          yield "early window", $"{fst a.EarlyWindow}..{snd a.EarlyWindow}"
          yield "histogram bins", string a.HistogramBins ]

    /// A copy of a capture configuration with another seed, step count and recorded length (C#
    /// records have no `with` from F#; every property is copied).
    let withCapture (seed: int64) (steps: int) (record: int) (c: AdamVsRAdamConfig) : AdamVsRAdamConfig =
        AdamVsRAdamConfig(
            Seed = seed, Widths = c.Widths, BatchSize = c.BatchSize, TrainSteps = steps, RecordIterations = record,
            OutputRows = c.OutputRows, InputColumns = c.InputColumns, Optimizers = c.Optimizers, TrainExamples = c.TrainExamples,
            Device = c.Device)

    let private positive (name: string) (v: int) =
        if v < 1 then Error $"--{name}: expected a whole number ≥ 1, got {v}" else Ok v

    /// Applies the command-line options to a tier's configuration.
    let configure (args: ParseResults<AdamVsRAdamArgs>) (o: AdamVsRAdamOptions) : Result<AdamVsRAdamOptions, string> =
        let steps = args.TryGetResult Steps |> Option.defaultValue o.Capture.TrainSteps
        let record = args.TryGetResult Record |> Option.defaultValue (min o.Capture.RecordIterations steps)
        let resamples = args.TryGetResult Resamples |> Option.defaultValue o.Analysis.BootstrapResamples
        let perGroup = args.TryGetResult Weights_Per_Group |> Option.defaultValue o.Analysis.WeightsPerGroup
        positive "steps" steps
        |> Result.bind (fun _ ->
            if record < 3 || record > steps then
                Error $"--record: expected 3 ≤ N ≤ --steps ({steps}), got {record}; the study needs at least 3 recorded iterations and cannot record more than it trains"
            else Ok())
        |> Result.bind (fun _ -> if resamples < 2 then Error $"--resamples: expected B ≥ 2, got {resamples}" else Ok())
        |> Result.bind (fun _ -> positive "weights-per-group" perGroup |> Result.map ignore)
        |> Result.bind (fun _ ->
            match args.TryGetResult Traces with
            | None -> Ok []
            | Some [] -> Error "--traces: expected one or more trace folders, got none (drop --traces to train and record instead)"
            | Some dirs ->
                let resolved = dirs |> List.map (fun d -> d, Path.TrimEndingDirectorySeparator(Path.GetFullPath d))
                let problem (given: string, full: string) =
                    if File.Exists full then Some $"--traces: '{given}' is a file ({full}); pass trace folders, each with a manifest.json"
                    elif not (Directory.Exists full) then Some $"--traces: '{given}' is not a folder ({full} does not exist); pass trace folders, each with a manifest.json"
                    elif not (File.Exists(Path.Combine(full, "manifest.json"))) then
                        Some $"--traces: '{given}' has no manifest.json ({full}), so it is not a trace folder; pass trace folders, each with a manifest.json (README, Traces)"
                    else None
                match resolved |> List.tryPick problem with
                | Some e -> Error e
                | None ->
                    match resolved |> List.countBy snd |> List.tryFind (fun (_, n) -> n > 1) with
                    | Some(full, _) -> Error $"--traces: {full} is given twice; pass each trace folder once"
                    | None ->
                        try Ok [ for _, full in resolved -> full, GradientTrace.hashes full ]
                        with :? IOException as e -> Error $"--traces: {e.Message}")
        |> Result.map (fun traces ->
            { Capture = withCapture o.Capture.Seed steps record o.Capture
              Analysis = { o.Analysis with BootstrapResamples = resamples; WeightsPerGroup = perGroup }
              Traces = traces })

    /// Analyses trace directories (ours or NumPy-written with a minimal manifest); random choices
    /// take their seeds from <paramref name="stream"/> by name (<c>RandomStreams.forStudy Name seed</c>).
    let analyseTraces (options: AnalysisOptions) (stream: string -> int64) (progress: string -> unit) (directories: string list) : OptimizerAnalysis list =
        [ for d in directories do
            let trace = GradientTrace.load None d
            progress $"analysing {trace.Label} ({trace.Optimizer}): {trace.Neurons}x{trace.Inputs} weights x {trace.Iterations} iterations from {d}"
            yield GradientAnalysis.analyse options stream progress trace ]

    /// Evaluates every claim of the notebook on the analyses.
    let evaluateClaims (options: AnalysisOptions) (stream: string -> int64) (provenance: (string * string) list)
                       (expectations: Map<string, Verdict option>) (analyses: OptimizerAnalysis list) : ClaimResult list =
        let evidence = { Analyses = analyses; Options = options; Stream = stream }
        AdamVsRAdamClaims.all expectations |> List.map (Claims.evaluate provenance evidence)

    let private f4 (x: float) = if Double.IsNaN x then "–" else x.ToString("F4", Globalization.CultureInfo.InvariantCulture)

    /// Trains and records (or reads the given traces), analyses each optimizer's own trace, evaluates
    /// the claims and builds the report blocks. Returns the output and the analyses.
    let execute (expectations: Map<string, Verdict option>) (ctx: StudyContext) (o: AdamVsRAdamOptions)
                : StudyOutput * OptimizerAnalysis list =
        let options = o.Analysis
        let config = withCapture ctx.Seed o.Capture.TrainSteps o.Capture.RecordIterations o.Capture
        let captured, dirs =
            if o.Traces.IsEmpty then
                ctx.Step "training and recording"
                let traces = Path.Combine(ctx.Directory, "traces")
                ctx.Info $"{config.Optimizers.Length} optimizers, {config.TrainSteps} steps each, first {config.RecordIterations} iterations recorded → traces/"
                let runs = AdamVsRAdamCapture.Run(config, traces, ctx.Mnist.Train, ctx.Mnist.Test, ctx.Log)
                runs |> List.ofSeq, [ for c in runs -> c.TraceDirectory ]
            else [], [ for d, _ in o.Traces -> d ]
        ctx.Step "analysis"
        let analyses = analyseTraces options ctx.Stream ctx.Info dirs
        let relative (p: string) =
            let r = Path.GetRelativePath(ctx.Directory, p)
            if r.StartsWith ".." then p else r.Replace('\\', '/')
        let inputs =
            [ for a in analyses do
                for f, h in a.Trace.Hashes -> $"{relative a.Trace.Directory}/{f}", h ]
        let provenance =
            [ yield "seed", string ctx.Seed
              for a in analyses do
                  for f, h in a.Trace.Hashes do
                      if f = "manifest.json" || f.StartsWith "grad" then yield $"{a.Trace.Label}/{f}", h.[.. 15] ]
        let claims = evaluateClaims options ctx.Stream provenance expectations analyses
        let refinementText =
            match options.MixtureRefinement with
            | Some r -> $", the best refined by SQUAREM-accelerated EM to a change < {r.Tolerance}"
            | None -> " (no refinement)"
        let methods =
            [ if o.Traces.IsEmpty then
                  yield "data", $"MNIST training images ({(if config.TrainExamples.HasValue then config.TrainExamples.Value else ctx.Mnist.Train.Count)} examples), normalised (x/255 − 0.1307)/0.3081; test accuracy on the {ctx.Mnist.Test.Count} test images"
                  yield "model", $"MLP {String.Join('-', config.Widths)} with ReLU, PyTorch default initialisation (seeded)"
                  yield "training", $"batch {config.BatchSize}, {config.TrainSteps} steps per optimizer, seed {config.Seed} (same initial weights and batch order for every optimizer), device {config.Device}"
                  yield "recorded", $"gradient of fc{config.Widths.Length - 1}.weight[0:{config.OutputRows}, 0:{config.InputColumns}] after backward and the optimizer's exp_avg_sq after each step, iterations 1..{config.RecordIterations}; loss and lr every iteration"
                  for c in captured do
                      yield $"optimizer {c.Spec.Label}",
                            $"{c.Spec.Optimizer}: lr {c.Spec.LearningRate}, betas ({c.Spec.Beta1}, {c.Spec.Beta2}), eps {c.Spec.Eps}, weight decay {c.Spec.WeightDecay}, schedule {c.Spec.ScheduleText}; final training loss {f4 c.History.StepLoss.[c.History.StepLoss.Count - 1]}, test accuracy {f4 (100.0 * c.TestAccuracy)}%%, {c.Seconds:F1} s"
              else
                  yield "data", "traces recorded elsewhere (see Inputs and traces)"
              yield "analysis",
                    $"Shapiro–Wilk (AS R94) per weight, α = {options.Alpha}; Holm and Benjamini–Hochberg over the tested weights; {options.MixtureComponents}-component 1-D Gaussian mixtures by EM (on the standardised pooled gradients, so scale-invariant; {options.MixtureRestarts} k-means++ restarts of at most {options.MixtureRestartIterations} EM steps at tol 1e-3{refinementText}; variance floor 1e-6 × the pooled variance; constant series left out) per neuron, BIC for k = 1..{options.MixtureComponents}, KS distance; bootstrap B = {options.BootstrapResamples}, up to {options.WeightsPerGroup} weights per group, early window t = {fst options.EarlyWindow}..{snd options.EarlyWindow}"
              for a in analyses do
                  yield $"{a.Trace.Label} trace", $"{relative a.Trace.Directory} ({a.Trace.Status}), series {a.Trace.SeriesName}, multiplier of ψ_t: {a.MultiplierText}" ]
        let title =
            if o.Traces.IsEmpty then $"Adam vs RAdam: gradient distributions and adaptive-learning-rate variance (seed {ctx.Seed})"
            else "Adam vs RAdam: gradient distributions and adaptive-learning-rate variance (external traces)"
        { Title = title
          Summary =
            "This report reproduces and corrects the Adam-vs-RAdam notebook: for Adam, RAdam and AdamW with warmup it records the gradients of the weights between the output neurons and the penultimate layer over the first iterations of training, tests each weight's gradient series for normality, fits Gaussian mixtures to each neuron's pooled gradients, and bootstraps the variance of the adaptive learning rate ψ_t = sqrt((1−β₂^t)/((1−β₂)Σβ₂^(t−i)g_i²)) for weights whose normality is and is not rejected. Each optimizer is analysed from its own traces (the notebook reused Adam's for the RAdam and AdamW p-values). Every conclusion is a claim with a decision rule fixed in code before the data is seen."
          Blocks = AdamVsRAdamReport.blocks options analyses
          Claims = claims
          Methods = methods
          Inputs = inputs },
        analyses

    /// The study on the shared shape.
    let study : Study<AdamVsRAdamOptions, AdamVsRAdamArgs> =
        { Name = Name
          Description = "Are early per-weight gradients normal, and do RAdam's rectification and warmup reduce the variance of Adam's adaptive learning rate?"
          Notebooks = [ "the gradient-distribution notebook (Adam vs RAdam: Shapiro–Wilk, Holm/BH, Gaussian mixtures, bootstrap of ψ_t)"; "Liu et al. 2020, On the Variance of the Adaptive Learning Rate and Beyond (RAdam)" ]
          Steps = fun o -> if o.Traces.IsEmpty then [ "training and recording"; "analysis" ] else [ "analysis" ]
          Defaults = defaults
          Configure = configure
          Describe = describe
          UsesMnist = fun o -> o.Traces.IsEmpty
          Run = fun ctx o -> fst (execute Map.empty ctx o) }
