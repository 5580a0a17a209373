namespace Research.Analysis.Studies.Regularisation

open System
open System.Globalization
open Argu
open Research.Core.Studies.Regularisation
open Research.Analysis

/// <summary>The seminar CNN's part of a configuration.</summary>
type CnnSettings =
    { /// Epochs per run (the seminar's 20).
      CnnEpochs: int
      /// The first N training images (None: all 60,000).
      CnnTrainExamples: int option
      /// The first N test images (None: all 10,000).
      CnnTestExamples: int option
      /// The normalisation variants run (CnnVariant ids).
      Variants: string list
      /// Seeds (of the replicates) on which the variants run.
      VariantSeeds: int
      /// Batch sizes of the BatchNorm-vs-LayerNorm sensitivity besides the comparison's 128.
      SensitivityBatchSizes: int list
      /// Seeds of the sensitivity.
      SensitivitySeeds: int
      /// Monte Carlo dropout passes over the test images (0: none).
      CnnMcPasses: int
      /// Monte Carlo dropout on the first N test images (None: every test image used).
      McTestExamples: int option }

/// <summary>The sigmoid MLP's part of a configuration.</summary>
type SigmoidSettings =
    { /// Epochs per run.
      MlpEpochs: int
      /// The first N training images (None: all).
      MlpTrainExamples: int option
      /// The first N test images (None: all).
      MlpTestExamples: int option
      /// Batches on which the per-layer gradients are measured.
      GradientBatches: int
      /// The runs (SigmoidRun ids).
      Runs: string list }

/// <summary>The overfitting demo's part of a configuration.</summary>
type RegressionSettings =
    { /// Full-batch epochs (the lecture's 1,500).
      RegressionEpochs: int
      /// Monte Carlo dropout passes per input (the lecture's 1,000).
      RegressionMcPasses: int
      /// Seeds on which the lecture's eval()-without-train() run is reproduced.
      AsRunSeeds: int }

/// <summary>Everything the regularisation study depends on.</summary>
type RegularisationOptions =
    { /// Seeds per configuration (each a named stream of the study seed); ≥ 3 for the intervals.
      Replicates: int
      Cnn: CnnSettings
      Mlp: SigmoidSettings
      Regression: RegressionSettings
      /// Bootstrap resamples of every interval over seeds.
      Resamples: int }

/// <summary>The study's own command-line options.</summary>
type RegularisationArgs =
    | [<Unique>] Replicates of int
    | [<Unique>] Cnn_Epochs of int
    | [<Unique>] Cnn_Train_Examples of int
    | [<Unique>] Mlp_Epochs of int
    | [<Unique>] Mlp_Train_Examples of int
    | [<Unique>] Regression_Epochs of int
    | [<Unique>] Mc_Passes of int
    | [<Unique>] Resamples of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Replicates _ -> "seeds per configuration, ≥ 3 (quick 3, full 5)."
            | Cnn_Epochs _ -> "epochs of every CNN run (quick 3, full 20)."
            | Cnn_Train_Examples _ -> "first N MNIST training images for the CNN (quick 2,500, full 60,000)."
            | Mlp_Epochs _ -> "epochs of every sigmoid-MLP run (quick 1, full 5)."
            | Mlp_Train_Examples _ -> "first N MNIST training images for the sigmoid MLP (quick 12,000, full 60,000)."
            | Regression_Epochs _ -> "full-batch epochs of the overfitting demo (quick and full 1,500)."
            | Mc_Passes _ -> "Monte Carlo dropout passes over the MNIST test images (quick 30, full 100)."
            | Resamples _ -> "bootstrap resamples of the intervals over seeds (default 2,000)."

/// <summary>
/// The regularisation and normalisation study: Dropout, DropConnect, BatchNorm, LayerNorm (the seminar's
/// batch-wide one and per-example), GroupNorm and InstanceNorm, L1 and L2 penalties, BatchNorm's running
/// statistics, overfitting and Monte Carlo dropout — the seminar "improving convergence" (parts 2–4) and
/// the lecture "convergence and overfitting" (parts 3–4) reproduced, corrected and extended.
/// </summary>
module RegularisationStudy =

    /// The study's name everywhere (command line, report folder, script, tests).
    [<Literal>]
    let Name = "regularisation"

    /// The configuration of a tier. Quick: a few minutes on two cores (3 seeds; the CNN 3 epochs on 2,500
    /// images; the sigmoid MLP one epoch of 12,000 images); full: the notebooks' scale (5 seeds; the CNN 20
    /// epochs on all of MNIST with batch sizes 8, 32 and 128; the sigmoid MLP 5 epochs).
    let defaults (tier: Tier) : RegularisationOptions =
        match tier with
        | Tier.Quick ->
            { Replicates = 3
              Cnn =
                { CnnEpochs = 3; CnnTrainExamples = Some 2500; CnnTestExamples = Some 1000
                  Variants = [ "layernorm"; "batchnorm"; "conv-layernorm"; "conv-instancenorm" ]; VariantSeeds = 2
                  SensitivityBatchSizes = []; SensitivitySeeds = 1; CnnMcPasses = 30; McTestExamples = Some 1000 }
              Mlp = { MlpEpochs = 1; MlpTrainExamples = Some 12000; MlpTestExamples = Some 5000; GradientBatches = 10
                      Runs = [ for r in SigmoidRun.Lecture do if r.Id <> "bn-dropout-lr-1e-2" then yield r.Id ] }
              Regression = { RegressionEpochs = 1500; RegressionMcPasses = 1000; AsRunSeeds = 1 }
              Resamples = 2000 }
        | Tier.Full ->
            { Replicates = 5
              Cnn =
                { CnnEpochs = 20; CnnTrainExamples = None; CnnTestExamples = None
                  Variants = [ for v in CnnVariant.NormalizationVariants -> v.Id ]; VariantSeeds = 5
                  SensitivityBatchSizes = [ 8; 32 ]; SensitivitySeeds = 5; CnnMcPasses = 100; McTestExamples = None }
              Mlp = { MlpEpochs = 5; MlpTrainExamples = None; MlpTestExamples = None; GradientBatches = 20
                      Runs = [ for r in SigmoidRun.Lecture -> r.Id ] }
              Regression = { RegressionEpochs = 1500; RegressionMcPasses = 1000; AsRunSeeds = 5 }
              Resamples = 2000 }

    /// A small configuration for tests and CI scripts (not a tier: its verdicts say nothing about the
    /// notebooks): 3 seeds; the CNN 3 epochs on 600 images with one variant; the sigmoid MLP one epoch on
    /// 2,000 images; the demo 300 epochs with 200 MC passes. Under a minute of training on two cores.
    let small : RegularisationOptions =
        let quick = defaults Tier.Quick
        { quick with
            Cnn = { quick.Cnn with CnnEpochs = 3; CnnTrainExamples = Some 600; CnnTestExamples = Some 500
                                   Variants = [ "conv-instancenorm" ]; VariantSeeds = 1; CnnMcPasses = 10
                                   McTestExamples = Some 200 }
            Mlp = { quick.Mlp with MlpTrainExamples = Some 2000; MlpTestExamples = Some 1000; GradientBatches = 3 }
            Regression = { quick.Regression with RegressionEpochs = 300; RegressionMcPasses = 200 }
            Resamples = 500 }

    /// The CNN part as Research.Core takes it.
    let cnnConfig (o: CnnSettings) : CnnExperimentConfig =
        let variants = CnnVariant.NormalizationVariants |> Array.filter (fun v -> List.contains v.Id o.Variants)
        let known = Array.append CnnVariant.SeminarHeads variants |> Array.map (fun v -> v.Id)
        let defaults = CnnExperimentConfig()
        CnnExperimentConfig(
            Epochs = o.CnnEpochs, TrainExamples = Option.toNullable o.CnnTrainExamples,
            TestExamples = Option.toNullable o.CnnTestExamples, Variants = variants, VariantSeeds = o.VariantSeeds,
            SensitivityBatchSizes = Array.ofList o.SensitivityBatchSizes, SensitivitySeeds = o.SensitivitySeeds,
            SensitivityHeads = (defaults.SensitivityHeads |> Array.filter (fun id -> Array.contains id known)),
            McPasses = o.CnnMcPasses, McTestExamples = Option.toNullable o.McTestExamples)

    /// The sigmoid-MLP part as Research.Core takes it.
    let mlpConfig (o: SigmoidSettings) : SigmoidExperimentConfig =
        SigmoidExperimentConfig(Epochs = o.MlpEpochs, TrainExamples = Option.toNullable o.MlpTrainExamples,
                                TestExamples = Option.toNullable o.MlpTestExamples, GradientBatches = o.GradientBatches,
                                Runs = (SigmoidRun.Lecture |> Array.filter (fun r -> List.contains r.Id o.Runs)))

    /// The overfitting demo as Research.Core takes it.
    let regressionConfig (o: RegressionSettings) : RegressionExperimentConfig =
        RegressionExperimentConfig(Epochs = o.RegressionEpochs, McPasses = o.RegressionMcPasses)

    let private all (n: int option) = match n with Some k -> string k | None -> "all"

    let private list (items: 'T seq) = String.Join(", ", items)

    /// Every hyperparameter, for the methods section and the result folder's identity.
    let describe (o: RegularisationOptions) : (string * string) list =
        let c, m, r = cnnConfig o.Cnn, mlpConfig o.Mlp, regressionConfig o.Regression
        [ "seeds per configuration", string o.Replicates
          "CNN", $"the seminar's TestNetwork, Adam lr {c.LearningRate}, batch {c.BatchSize}, {c.Epochs} epochs, " +
                 $"{all o.Cnn.CnnTrainExamples} training and {all o.Cnn.CnnTestExamples} test images"
          "CNN heads", String.Join(", ", c.Heads |> Array.map (fun v -> v.Id))
          "CNN variants", $"{list (c.Variants |> Array.map (fun v -> v.Id))} on {c.VariantSeeds} seed(s)"
          "batch-size sensitivity",
          $"{list c.SensitivityHeads} at batch {list c.SensitivityBatchSizes} on {c.SensitivitySeeds} seed(s)"
          "DropConnect", $"keep probability {RegularisationNetworks.DropConnectKeep}; Dropout in the head p = " +
                         $"{RegularisationNetworks.HeadDropout}"
          "MC dropout (MNIST)", $"{c.McPasses} passes over {all o.Cnn.McTestExamples} test images"
          "sigmoid MLP",
          $"""{String.Join("-", m.Widths)}, Xavier-normal (sigmoid gain), SGD, batch {m.BatchSize}, {m.Epochs} """
          + $"epoch(s), {all o.Mlp.MlpTrainExamples} training and {all o.Mlp.MlpTestExamples} test images, "
          + $"gradients on {m.GradientBatches} batches"
          "sigmoid MLP runs", String.Join("; ", m.Runs |> Array.map (fun x -> x.Title))
          "overfitting demo",
          $"""y = x + {r.Noise}ε, {r.Points} points each, 1-{r.Hidden}-{r.Hidden}-1 ReLU, """
          + $"""Dropout {String.Join("/", r.Dropout)}, """
          + $"Adam lr {r.LearningRate}, {r.Epochs} full-batch epochs, curves every {r.SnapshotEvery}, "
          + $"patience {r.Patience}"
          "MC dropout (demo)", $"{r.McPasses} passes; the lecture's eval() bug on {o.Regression.AsRunSeeds} seed(s)"
          "bootstrap resamples", string o.Resamples
          "libtorch threads", string c.Threads ]

    /// An error when a value is below its least allowed value.
    let private below (name: string) (least: int) (v: int) =
        if v < least then Some $"--{name}: expected a whole number ≥ {least}, got {v}" else None

    /// An error when a number of training images is outside 2 .. 60,000.
    let private outsideMnist (name: string) (n: int option) =
        match n with
        | Some k when k < 2 || k > 60000 -> Some $"--{name}: expected 2 ≤ N ≤ 60,000 training images, got {k}"
        | _ -> None

    /// Applies the command-line options to a tier's configuration.
    let configure (args: ParseResults<RegularisationArgs>) (o: RegularisationOptions)
                  : Result<RegularisationOptions, string> =
        let replicates = args.TryGetResult Replicates |> Option.defaultValue o.Replicates
        let cnnEpochs = args.TryGetResult Cnn_Epochs |> Option.defaultValue o.Cnn.CnnEpochs
        let mlpEpochs = args.TryGetResult Mlp_Epochs |> Option.defaultValue o.Mlp.MlpEpochs
        let regressionEpochs = args.TryGetResult Regression_Epochs |> Option.defaultValue o.Regression.RegressionEpochs
        let passes = args.TryGetResult Mc_Passes |> Option.defaultValue o.Cnn.CnnMcPasses
        let resamples = args.TryGetResult Resamples |> Option.defaultValue o.Resamples
        let cnnTrain = args.TryGetResult Cnn_Train_Examples |> Option.orElse o.Cnn.CnnTrainExamples
        let mlpTrain = args.TryGetResult Mlp_Train_Examples |> Option.orElse o.Mlp.MlpTrainExamples
        let problems =
            [ below "replicates" 3 replicates; below "cnn-epochs" 1 cnnEpochs; below "mlp-epochs" 1 mlpEpochs
              below "regression-epochs" 1 regressionEpochs; below "mc-passes" 1 passes; below "resamples" 2 resamples
              outsideMnist "cnn-train-examples" cnnTrain; outsideMnist "mlp-train-examples" mlpTrain ]
        match List.choose id problems with
        | problem :: _ -> Error problem
        | [] ->
            Ok { o with
                   Replicates = replicates
                   Cnn = { o.Cnn with CnnEpochs = cnnEpochs; CnnTrainExamples = cnnTrain; CnnMcPasses = passes
                                      VariantSeeds = min o.Cnn.VariantSeeds replicates
                                      SensitivitySeeds = min o.Cnn.SensitivitySeeds replicates }
                   Mlp = { o.Mlp with MlpEpochs = mlpEpochs; MlpTrainExamples = mlpTrain }
                   Regression = { o.Regression with RegressionEpochs = regressionEpochs
                                                    AsRunSeeds = min o.Regression.AsRunSeeds replicates }
                   Resamples = resamples }

    /// The seeds of one experiment: one named stream per replicate.
    let seeds (stream: string -> int64) (experiment: string) (replicates: int) : int64[] =
        [| for r in 1 .. replicates -> stream $"{experiment}, replicate {r}" |]

    /// Trains everything (CNN, sigmoid MLP, overfitting demo) and returns the evidence of the claims.
    let train (ctx: StudyContext) (o: RegularisationOptions) : RegularisationEvidence =
        ctx.Step "CNN heads and variants"
        let train, test = ctx.Mnist.Train, ctx.Mnist.Test
        let cnn = CnnExperiment.Run(cnnConfig o.Cnn, seeds ctx.Stream "cnn" o.Replicates, train, test, ctx.Log)
        ctx.Step "sigmoid MLP"
        let mlpSeeds = seeds ctx.Stream "sigmoid mlp" o.Replicates
        let mlp = SigmoidMlpExperiment.Run(mlpConfig o.Mlp, mlpSeeds, train, test, ctx.Log)
        ctx.Step "overfitting demo"
        let demoSeeds = seeds ctx.Stream "overfitting demo" o.Replicates
        let config = regressionConfig o.Regression
        let nets = [| RegressionNet.Plain; RegressionNet.Dropout; RegressionNet.EarlyStopped |]
        let main = OverfittingDemo.Run(config, demoSeeds, nets, ctx.Log)
        let asRun =
            if o.Regression.AsRunSeeds = 0 then [||]
            else
                let seeds = demoSeeds.[.. o.Regression.AsRunSeeds - 1]
                (OverfittingDemo.Run(config, seeds, [| RegressionNet.DropoutAsRun |], ctx.Log)).Runs
        { Cnn = cnn
          Mlp = mlp
          Regression = RegressionResults(main.Data, Array.append main.Runs asRun)
          Resamples = o.Resamples
          Stream = ctx.Stream }

    /// Evaluates every claim on the evidence.
    let evaluateClaims (provenance: (string * string) list) (expectations: Map<string, Verdict option>)
                       (evidence: RegularisationEvidence) : ClaimResult list =
        RegularisationClaims.all expectations |> List.map (Claims.evaluate provenance evidence)

    /// The paragraph that says at what scale the run was made.
    let scale (tier: Tier) (o: RegularisationOptions) : string =
        let c = o.Cnn
        let sizes =
            $"{o.Replicates} seeds; the CNN {c.CnnEpochs} epoch(s) on {all c.CnnTrainExamples} training images, "
            + $"tested on {all c.CnnTestExamples}; the sigmoid MLP {o.Mlp.MlpEpochs} epoch(s) on "
            + $"{all o.Mlp.MlpTrainExamples} images; the demo {o.Regression.RegressionEpochs} epochs"
        match tier with
        | Tier.Quick ->
            $"This is the quick tier, sized to take a few minutes on two shared cores: {sizes}. Its verdicts are " +
            $"on that scale (early in training, on a small part of MNIST) and can differ from the notebooks' 20 " +
            $"epochs on all of it; ./run.sh regularisation --tier full runs the notebooks' scale (5 seeds, 20 " +
            $"epochs of the CNN on all 60,000 images, batch sizes 8, 32 and 128, 5 epochs of the sigmoid MLP)."
        | Tier.Full -> $"This is the full tier, the notebooks' scale: {sizes}."

    /// Trains, evaluates the claims and builds the report. Returns the output and the evidence.
    let execute (expectations: Map<string, Verdict option>) (ctx: StudyContext) (o: RegularisationOptions)
                : StudyOutput * RegularisationEvidence =
        let evidence = train ctx o
        ctx.Step "analysis"
        let provenance = [ "seed", string ctx.Seed; "tier", string ctx.Tier ]
        let claims = evaluateClaims provenance expectations evidence
        let summary (name: string) (values: float[]) =
            RegularisationAnalysis.summarise o.Resamples (ctx.Stream $"report/{name}") values
        let cnnRuns = Array.concat [ evidence.Cnn.Heads; evidence.Cnn.Variants; evidence.Cnn.Sensitivity ]
        let seconds (xs: float seq) = (Seq.sum xs).ToString("F0", CultureInfo.InvariantCulture)
        let methods =
            [ "data", $"MNIST ({ctx.Mnist.Source}), normalised (x/255 − 0.1307)/0.3081; the first N images of " +
                      $"each split where a tier uses fewer"
              "CNN", $"{cnnRuns.Length} runs, {seconds [ for r in cnnRuns -> r.Seconds ]} s"
              "sigmoid MLP", $"{evidence.Mlp.Length} runs, {seconds [ for r in evidence.Mlp -> r.Seconds ]} s"
              "overfitting demo", $"{evidence.Regression.Runs.Length} runs, " +
                                  $"{seconds [ for r in evidence.Regression.Runs -> r.Seconds ]} s"
              "intervals", $"mean over seeds with its 95%% percentile-bootstrap interval (B = {o.Resamples}, " +
                           $"Bootstrap.groupInterval); with 3 seeds it is close to the range of the seeds' values " +
                           $"and narrower than a t interval"
              "per-layer gradients", "LayerStatistics.Measure (Capture/LayerStatistics.cs, from the " +
                                     "initialisation study)" ]
        { Title = $"Regularisation and normalisation: Dropout, DropConnect, BatchNorm, LayerNorm, MC dropout " +
                  $"(seed {ctx.Seed})"
          Summary =
            "This report reproduces, corrects and extends the seminar \"improving convergence\" (parts 2–4: its " +
            "small CNN with a baseline, Dropout, DropConnect, BatchNorm and LayerNorm head) and the lecture " +
            "\"convergence and overfitting\" (parts 3–4: BatchNorm in a sigmoid MLP, normalisation layers, weight " +
            "penalties, BatchNorm's running statistics, a hand-written Dropout, the overfitting demo and Monte " +
            "Carlo dropout). Every conclusion of the notebooks is a claim with a decision rule fixed in code " +
            "before the data is seen, decided on an interval over seeds; a refuted claim stays in the report."
          Blocks = RegularisationReport.blocks summary (scale ctx.Tier o) evidence
          Claims = claims
          Methods = methods
          Inputs = [] },
        evidence

    /// The study on the shared shape.
    let study : Study<RegularisationOptions, RegularisationArgs> =
        { Name = Name
          Description = "Do Dropout, DropConnect, BatchNorm and LayerNorm help as the notebooks say, and what " +
                        "does MC dropout tell?"
          Notebooks =
            [ "seminar \"improving convergence\", parts 2–4 (TestNetwork heads: Dropout, DropConnect, BatchNorm, " +
              "LayerNormalization)"
              "lecture \"convergence and overfitting\", parts 3–4 (BatchNorm in a sigmoid MLP, penalties, " +
              "overfitting demo, MC dropout)" ]
          Steps = fun _ -> [ "CNN heads and variants"; "sigmoid MLP"; "overfitting demo"; "analysis" ]
          Defaults = defaults
          Configure = configure
          Describe = describe
          UsesMnist = fun _ -> true
          Run = fun ctx o -> fst (execute Map.empty ctx o) }
