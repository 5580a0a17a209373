using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Research.Core.Capture;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Optim.Schedules;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;

namespace Research.Core.Studies.AdamVsRAdam;

/// <summary>One optimizer of the Adam-vs-RAdam study, with every hyperparameter.</summary>
/// <param name="Label">Name used for the run directory and in the report ("Adam", "RAdam", "AdamW+warmup").</param>
/// <param name="Optimizer">Adam, RAdam or AdamW (JSON: the name as a string, e.g. "Adam").</param>
/// <param name="LearningRate">Base learning rate.</param>
/// <param name="Beta1">β₁.</param>
/// <param name="Beta2">β₂.</param>
/// <param name="Eps">ε.</param>
/// <param name="WeightDecay">Weight decay (L2 for Adam/RAdam, decoupled for AdamW).</param>
/// <param name="WarmupSteps">Linear warmup length (0: none): lr_t = lr·min(1, t/WarmupSteps), as LambdaLR.</param>
public sealed record OptimizerSpec(
    string Label,
    OptimizerKind Optimizer,
    double LearningRate = 1e-3,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double Eps = 1e-8,
    double WeightDecay = 0.0,
    int WarmupSteps = 0)
{
    /// <summary>The schedule in words for manifests and reports.</summary>
    public string ScheduleText => WarmupSteps > 0 ? $"linear warmup over {WarmupSteps} steps (lr·min(1, t/{WarmupSteps}))" : "constant";

    /// <summary>
    /// What multiplies Adam's adaptive learning rate ψ_t = √(1 − β₂^t)/√v_t (ε aside) in this
    /// optimizer's step lr·m̂_t·(factor)·ψ_t, as written to the manifest's <c>run.adaptive_lr_multiplier</c>:
    /// "1" (Adam, AdamW: ψ_t as is), "r_t" (RAdam's rectification, Liu et al., ICLR 2020; ψ_t is not
    /// used while ρ_t ≤ 5), "lr_t/lr" (a schedule such as linear warmup scales the step, so the
    /// effective factor is the scheduled rate over the base rate) or "r_t*lr_t/lr" (RAdam under a
    /// schedule: both). See docs/trace-format.md.
    /// </summary>
    /// <remarks>Not serialised: the configuration hash covers the spec's own fields only.</remarks>
    [JsonIgnore]
    public string AdaptiveLrMultiplier => (Optimizer == OptimizerKind.RAdam, WarmupSteps > 0) switch
    {
        (true, false) => "r_t",
        (true, true) => "r_t*lr_t/lr",
        (false, true) => "lr_t/lr",
        (false, false) => "1",
    };
}

/// <summary>
/// Configuration of the Adam-vs-RAdam gradient study: every hyperparameter in one place.
/// Defaults reproduce the gradient-distribution notebook: the 784→512→512→10 ReLU MLP on MNIST,
/// batch 128, lr 1e-3, the 10×512 block of <c>fc3.weight</c> (output neurons × penultimate units)
/// recorded for the first 100 iterations with Adam, RAdam and AdamW with linear warmup.
/// </summary>
public sealed record AdamVsRAdamConfig
{
    /// <summary>Seed for torch (initial weights) and the batch order.</summary>
    public long Seed { get; init; } = 0;

    /// <summary>Layer widths of the MLP.</summary>
    public int[] Widths { get; init; } = [784, 512, 512, 10];

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Training steps per optimizer (the loss curves span these).</summary>
    public int TrainSteps { get; init; } = 469;

    /// <summary>Iterations 1..RecordIterations are recorded.</summary>
    public int RecordIterations { get; init; } = 100;

    /// <summary>Output neurons recorded (rows 0..OutputRows−1 of the last weight matrix).</summary>
    public int OutputRows { get; init; } = 10;

    /// <summary>Penultimate units recorded (columns 0..InputColumns−1).</summary>
    public int InputColumns { get; init; } = 512;

    /// <summary>The optimizers compared.</summary>
    public OptimizerSpec[] Optimizers { get; init; } =
    [
        new("Adam", OptimizerKind.Adam),
        new("RAdam", OptimizerKind.RAdam),
        new("AdamW+warmup", OptimizerKind.AdamW, WeightDecay: 1e-2, WarmupSteps: 100),
    ];

    /// <summary>Use the first N training images (null: all 60,000).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>The device ("auto", "cpu", "cuda").</summary>
    public string Device { get; init; } = "auto";

    /// <summary>A stable 8-hex-digit hash of everything above (names the run directory).</summary>
    public string Hash()
    {
        var json = JsonSerializer.Serialize(this);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..8].ToLowerInvariant();
    }

    /// <summary>The configuration as JSON (for manifests and reports).</summary>
    public JsonObject ToJson() => JsonNode.Parse(JsonSerializer.Serialize(this))!.AsObject();

    /// <summary>The configuration as readable JSON text (no \u escapes for '+' and the like).</summary>
    public string ToDisplayJson() => JsonSerializer.Serialize(this,
        new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

/// <summary>The outcome of training and recording one optimizer.</summary>
/// <param name="Spec">The optimizer.</param>
/// <param name="TraceDirectory">Where its trace is.</param>
/// <param name="History">Loss per step and per-epoch summaries.</param>
/// <param name="TestAccuracy">Test accuracy after training (NaN when not evaluated).</param>
/// <param name="Seconds">Wall time of training and recording.</param>
public sealed record CapturedRun(OptimizerSpec Spec, string TraceDirectory, TrainingHistory History, double TestAccuracy, double Seconds);

/// <summary>
/// The capture half of the Adam-vs-RAdam study: trains the MLP once per optimizer from the same
/// initial weights and batch order, recording the gradient block, its second moment, loss and lr.
/// </summary>
public static class AdamVsRAdamCapture
{
    /// <summary>The name of the recorded parameter for a network of <paramref name="widths"/>.</summary>
    public static string RecordedParameter(int[] widths) => $"fc{widths.Length - 1}.weight";

    /// <summary>Creates the study's optimizer over <paramref name="model"/>'s parameters.</summary>
    public static Optimizer CreateOptimizer(OptimizerSpec spec, Network model)
    {
        var ps = model.parameters();
        return spec.Optimizer switch
        {
            OptimizerKind.Adam => new Adam(ps, spec.LearningRate, spec.Beta1, spec.Beta2, spec.Eps, spec.WeightDecay),
            OptimizerKind.RAdam => new RAdam(ps, spec.LearningRate, spec.Beta1, spec.Beta2, spec.Eps, spec.WeightDecay),
            OptimizerKind.AdamW => new AdamW(ps, spec.LearningRate, spec.Beta1, spec.Beta2, spec.Eps, spec.WeightDecay),
            _ => throw new ArgumentException(
                $"{spec.Label}: Optimizer: expected Adam, RAdam or AdamW (the study compares the Adam family), " +
                $"got {spec.Optimizer}.", nameof(spec)),
        };
    }

    /// <summary>The study's recorder: the OutputRows×InputColumns block of the last weight matrix's
    /// gradient and second moment for iterations 1..RecordIterations, and loss and lr at every step,
    /// flushed every 10 iterations (also used by <c>bench/capture.fsx</c>).</summary>
    /// <remarks>The global gradient norm is not recorded by default: the study's analysis does not use
    /// it, and it reads every gradient of the network at every step (all 670k of the MLP's, against the
    /// block's 5,120), about 3–4% of a one-thread training step by itself (bench/capture.fsx).</remarks>
    /// <param name="config">The study configuration.</param>
    /// <param name="directory">The run directory (a previous trace there is replaced).</param>
    /// <param name="model">The network being trained.</param>
    /// <param name="run">What was trained (see <see cref="RunDescription"/>).</param>
    /// <param name="gradientNorm">Also record the global gradient norm at every step (series grad_norm).</param>
    public static TraceRecorder CreateRecorder(AdamVsRAdamConfig config, string directory, Network model, JsonObject run,
        bool gradientNorm = false) =>
        new(directory, model, run,
            [new ParameterRecording(RecordedParameter(config.Widths), new IndexRange(0, config.OutputRows), new IndexRange(0, config.InputColumns),
                1, config.RecordIterations, 1, Value: false, SecondMoment: true)],
            flushEvery: 10, overwrite: true, gradientNorm: gradientNorm);

    /// <summary>Trains and records every optimizer of <paramref name="config"/> under <paramref name="runRoot"/>.</summary>
    /// <param name="config">The study configuration.</param>
    /// <param name="runRoot">Folder for the traces: one subfolder per optimizer label.</param>
    /// <param name="train">Training data (MNIST or a stand-in).</param>
    /// <param name="test">Test data for the final accuracy (optional).</param>
    /// <param name="log">Progress lines (null: silent).</param>
    public static IReadOnlyList<CapturedRun> Run(AdamVsRAdamConfig config, string runRoot, MnistSplit train, MnistSplit? test,
        TextWriter? log = null)
    {
        var runtime = TorchRuntime.Initialize(config.Seed, config.Device);
        var device = TorchRuntime.Device(runtime.Device);
        using var trainData = TensorDataset.FromMnist(config.TrainExamples is { } n ? train.Take(n) : train, device, name: "MNIST train");
        using var testData = test is null ? null : TensorDataset.FromMnist(test, device, name: "MNIST test");
        var results = new List<CapturedRun>();
        foreach (var spec in config.Optimizers)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TorchRuntime.Seed(config.Seed); // same initial weights for every optimizer
            using var model = Architectures.Mlp(new MlpOptions(config.Widths));
            model.to(device);
            using var optimizer = CreateOptimizer(spec, model);
            var dir = Path.Combine(runRoot, Sanitize(spec.Label));
            var run = RunDescription.Create(model.Description, trainData, config.BatchSize, config.Seed, optimizer,
                spec.ScheduleText, runtime, new Dictionary<string, object>
                {
                    ["study"] = "adam-vs-radam gradient study",
                    ["label"] = spec.Label,
                    ["adaptive_lr_multiplier"] = spec.AdaptiveLrMultiplier,
                    ["config_hash"] = config.Hash(),
                    ["config"] = config.ToJson(),
                });
            using var recorder = CreateRecorder(config, dir, model, run);
            var observers = new List<TrainingObserver> { recorder };
            if (spec.WarmupSteps > 0)
            {
                var warmup = new LinearWarmup(optimizer, spec.WarmupSteps); // sets lr for step 1; stepped after each step
                observers.Add(new ScheduleObserver(_ => warmup.Step()));
            }
            if (log != null)
                observers.Add(new ProgressObserver(log, spec.Label, config.TrainSteps));
            var history = Trainer.Fit(model, optimizer, trainData,
                new TrainOptions(config.BatchSize, Epochs: int.MaxValue, MaxSteps: config.TrainSteps, Seed: config.Seed, EvaluateEachEpoch: false),
                observers: observers);
            recorder.Complete();
            double acc = double.NaN;
            if (testData != null) acc = Trainer.Evaluate(model, testData).Accuracy;
            clock.Stop();
            log?.WriteLine($"  {spec.Label}: {config.TrainSteps} steps in {clock.Elapsed.TotalSeconds:F1} s, final loss {history.StepLoss[^1]:F4}, test accuracy {100 * acc:F2}% → {dir}");
            results.Add(new CapturedRun(spec, dir, history, acc, clock.Elapsed.TotalSeconds));
        }
        return results;
    }

    static string Sanitize(string label) =>
        new(label.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : c == '+' ? '+' : '_').ToArray());
}
