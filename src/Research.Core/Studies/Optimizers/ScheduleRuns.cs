using System.Diagnostics;
using System.Globalization;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Optim.Schedules;
using Research.Core.Runtime;
using Research.Core.Training;

namespace Research.Core.Studies.Optimizers;

/// <summary>The training regimes of the lecture's parts 5–6.</summary>
public enum ScheduleKind
{
    /// <summary>Adam at a constant rate (the baseline of the Adam regimes).</summary>
    Constant,
    /// <summary>Adam with <see cref="Optim.Schedules.ReduceLROnPlateau"/> on the test loss after each epoch.</summary>
    ReduceLROnPlateau,
    /// <summary>Adam with <see cref="Optim.Schedules.StepLR"/>, stepped per epoch.</summary>
    StepLR,
    /// <summary>Adam with <see cref="LinearWarmup"/> over the first epoch's steps (gradual warm-up).</summary>
    LinearWarmup,
    /// <summary>SGD (momentum 0) with triangular <see cref="Optim.Schedules.CyclicLR"/> and PyTorch's default
    /// <c>cycle_momentum=True</c>, which gives the SGD a momentum cycling between 0.8 and 0.9.</summary>
    CyclicLR,
    /// <summary>The same without momentum cycling: plain SGD under the triangular rate.</summary>
    CyclicLRWithoutMomentumCycling,
}

/// <summary>Settings of the lecture's training regimes and of the LR range test.</summary>
public sealed record ScheduleConfig
{
    /// <summary>Layer widths of the ReLU MLP the regimes train (the lecture's own network is not in the
    /// material).</summary>
    public int[] Widths { get; init; } = [784, 64, 10];

    /// <summary>Epochs of each regime (the lecture: 15).</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Use the first N training images (null: all).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>Use the first N test images (null: all).</summary>
    public int? TestExamples { get; init; }

    /// <summary>Adam's rate in the Adam regimes (the lecture: 1e-2).</summary>
    public double AdamLearningRate { get; init; } = 1e-2;

    /// <summary>ReduceLROnPlateau's factor (the lecture: 0.1).</summary>
    public double PlateauFactor { get; init; } = 0.1;

    /// <summary>ReduceLROnPlateau's patience in epochs (the lecture: 1).</summary>
    public int PlateauPatience { get; init; } = 1;

    /// <summary>StepLR's period in epochs (the lecture: 2).</summary>
    public int StepSize { get; init; } = 2;

    /// <summary>StepLR's factor (the lecture: 0.1).</summary>
    public double StepGamma { get; init; } = 0.1;

    /// <summary>Warm-up length in epochs (its steps: this × batches per epoch).</summary>
    public int WarmupEpochs { get; init; } = 1;

    /// <summary>CyclicLR's base_lr (from the range test).</summary>
    public double CyclicBaseLearningRate { get; init; } = 1e-3;

    /// <summary>CyclicLR's max_lr (from the range test).</summary>
    public double CyclicMaxLearningRate { get; init; } = 1e-2;

    /// <summary>CyclicLR's step_size_up in epochs (its steps: this × batches per epoch; down the same).</summary>
    public int CyclicHalfCycleEpochs { get; init; } = 1;

    /// <summary>libtorch intra-op threads (default 1).</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>One regime's run.</summary>
/// <param name="Kind">The regime.</param>
/// <param name="Seed">Initial weights and batch order.</param>
/// <param name="Settings">The optimizer and schedule in one line.</param>
/// <param name="StepLearningRate">The rate each step used.</param>
/// <param name="StepMomentum">The momentum (SGD) or β1 (Adam) each step used.</param>
/// <param name="Curves">Losses, test accuracy, divergence.</param>
/// <param name="BestEpoch">0-based epoch of the lowest test loss (the model kept), or null.</param>
/// <param name="KeptTestAccuracy">Test accuracy of the kept (best) model.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record ScheduleRun(ScheduleKind Kind, long Seed, string Settings, double[] StepLearningRate,
    double[] StepMomentum, TrainingCurves Curves, int? BestEpoch, double KeptTestAccuracy, double Seconds);

/// <summary>The LR range test's record.</summary>
/// <param name="LearningRate">The rate of each step.</param>
/// <param name="Loss">The loss of each step's batch (before its update).</param>
/// <param name="Diverged">True when the loss became NaN or infinite; the test stopped there.</param>
/// <param name="Settings">The test in one line.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record RangeTestRun(double[] LearningRate, double[] Loss, bool Diverged, string Settings, double Seconds);

/// <summary>
/// The lecture's training regimes (ReduceLROnPlateau, StepLR, warm-up, CyclicLR with and without its
/// implicit momentum cycling, a constant baseline) and the LR range test, on one MNIST network, with
/// the learning rate and momentum of every step.
/// </summary>
public static class ScheduleRuns
{
    /// <summary>Trains one regime from a fresh model.</summary>
    /// <param name="config">The settings.</param>
    /// <param name="kind">The regime.</param>
    /// <param name="seed">Initial weights and batch order.</param>
    /// <param name="train">MNIST training images.</param>
    /// <param name="test">MNIST test images (the epochs' validation, as in the lecture).</param>
    /// <param name="log">One line per run (null: silent).</param>
    public static ScheduleRun Run(ScheduleConfig config, ScheduleKind kind, long seed, MnistSplit train,
        MnistSplit test, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var clock = Stopwatch.StartNew();
        TorchRuntime.EnsureNative();
        using var threads = TorchThreads.Use(config.Threads);
        using var data = new MnistTensors(train, test, config.TrainExamples, config.TestExamples);
        var (trainData, testData) = data.Get(flat: true);
        int perEpoch = (trainData.Count + config.BatchSize - 1) / config.BatchSize;
        TorchRuntime.Seed(seed);
        using var model = Architectures.Mlp(new MlpOptions(config.Widths));
        bool adam = kind is ScheduleKind.Constant or ScheduleKind.ReduceLROnPlateau or ScheduleKind.StepLR
            or ScheduleKind.LinearWarmup;
        using Optimizer optimizer = adam ? new Adam(model.parameters(), config.AdamLearningRate)
            : new Sgd(model.parameters(), config.CyclicBaseLearningRate);
        var (observer, schedule) = Schedule(config, kind, optimizer, perEpoch);
        string settings = $"{optimizer}; {schedule}";
        var trace = new StepSettings(optimizer);
        using var best = EarlyStopping.KeepBest(EpochMetric.TestLoss);
        var observers = new List<TrainingObserver> { trace, best };
        if (observer is not null) observers.Add(observer);
        var history = Trainer.Fit(model, optimizer, trainData,
            new TrainOptions(config.BatchSize, config.Epochs, Seed: seed, StopOnDivergence: true), testData, observers);
        double kept = history.Epochs.Count > 0 ? Trainer.Evaluate(model, testData).Accuracy : double.NaN;
        var run = new ScheduleRun(kind, seed, settings, trace.LearningRates.ToArray(), trace.Momenta.ToArray(),
            TrainingCurves.Of(history), best.BestEpoch, kept, clock.Elapsed.TotalSeconds);
        log?.WriteLine($"    {kind,-32} seed {seed,-20} best epoch {run.BestEpoch?.ToString() ?? "–"} of " +
                       $"{history.Epochs.Count}, kept model's test accuracy {100 * kept:F2}%" +
                       (history.Diverged ? $", DIVERGED at step {history.DivergedAtIteration}" : "") +
                       $" ({run.Seconds:F1} s)");
        return run;
    }

    static (TrainingObserver? Observer, string Settings) Schedule(ScheduleConfig c, ScheduleKind kind,
        Optimizer optimizer, int perEpoch)
    {
        switch (kind)
        {
            case ScheduleKind.Constant:
                return (null, "constant rate");
            case ScheduleKind.ReduceLROnPlateau:
            {
                var s = new ReduceLROnPlateau(optimizer, factor: c.PlateauFactor, patience: c.PlateauPatience);
                return (new ScheduleObserver(_ => { }, e => s.Step(e.TestLoss)), $"{s} on the test loss per epoch");
            }
            case ScheduleKind.StepLR:
            {
                var s = new StepLR(optimizer, c.StepSize, c.StepGamma);
                return (new ScheduleObserver(_ => { }, _ => s.Step()), $"{s} stepped per epoch");
            }
            case ScheduleKind.LinearWarmup:
            {
                var s = new LinearWarmup(optimizer, c.WarmupEpochs * perEpoch);
                return (new ScheduleObserver(_ => s.Step()), $"{s} stepped per batch");
            }
            case ScheduleKind.CyclicLR:
            case ScheduleKind.CyclicLRWithoutMomentumCycling:
            {
                var s = new CyclicLR(optimizer, c.CyclicBaseLearningRate, c.CyclicMaxLearningRate,
                    c.CyclicHalfCycleEpochs * perEpoch, cycleMomentum: kind == ScheduleKind.CyclicLR);
                return (new ScheduleObserver(_ => s.Step()), $"{s} stepped per batch; the best epoch's model is kept");
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected a ScheduleKind member.");
        }
    }

    /// <summary>
    /// The exponential LR range test: SGD (momentum 0) on a fresh model, one batch per rate, the rate
    /// growing from <paramref name="start"/> to <paramref name="end"/> over <paramref name="epochs"/>
    /// epochs (<see cref="ExponentialRangeTest"/>); stops when the loss becomes NaN or infinite.
    /// </summary>
    /// <exception cref="ArgumentException">start or end not finite and positive, start ≥ end, or epochs
    /// &lt; 1.</exception>
    public static RangeTestRun RangeTest(ScheduleConfig config, double start, double end, int epochs, long seed,
        MnistSplit train, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        CheckRange(start, end);
        if (epochs < 1)
            throw new ArgumentOutOfRangeException(nameof(epochs), epochs, $"LR range test: epochs: expected >= 1, " +
                $"got {epochs}.");
        var clock = Stopwatch.StartNew();
        TorchRuntime.EnsureNative();
        using var threads = TorchThreads.Use(config.Threads);
        var examples = config.TrainExamples is { } n ? train.Take(n) : train;
        using var trainData = TensorDataset.FromMnist(examples, name: "MNIST train");
        int steps = epochs * ((trainData.Count + config.BatchSize - 1) / config.BatchSize);
        TorchRuntime.Seed(seed);
        using var model = Architectures.Mlp(new MlpOptions(config.Widths));
        using var sgd = new Sgd(model.parameters(), start);
        var test = new ExponentialRangeTest(sgd, start, end, steps);
        var history = Trainer.Fit(model, sgd, trainData,
            new TrainOptions(config.BatchSize, epochs, Seed: seed, EvaluateEachEpoch: false, StopOnDivergence: true),
            observers: [new ScheduleObserver(_ => test.Step())]);
        var settings = string.Create(CultureInfo.InvariantCulture,
            $"SGD(momentum 0), lr from {start:G3} to {end:G3} over {steps} steps ({epochs} epochs of batch " +
                $"{config.BatchSize})");
        var run = new RangeTestRun(history.StepLearningRate.ToArray(), history.StepLoss.ToArray(), history.Diverged,
            settings, clock.Elapsed.TotalSeconds);
        log?.WriteLine($"    range test: {run.Loss.Length} of {steps} steps" +
                       (run.Diverged ? $", diverged at lr {run.LearningRate[^1]:G3}" : "") + $" ({run.Seconds:F1} s)");
        return run;
    }

    /// <summary>Throws unless 0 &lt; start &lt; end, both finite.</summary>
    /// <exception cref="ArgumentException">The message names both values and a fix.</exception>
    public static void CheckRange(double start, double end)
    {
        if (!(start > 0) || !(end > 0) || double.IsInfinity(start) || double.IsInfinity(end) || !(start < end))
            throw new ArgumentException(
                $"LR range test: expected finite rates 0 < start < end, got start {start} and end {end}. " +
                "The lecture sweeps " +
                "from 1e-8 to 10.", nameof(start));
    }

    /// <summary>Records the rate and the momentum (or β1) each step uses, before its update.</summary>
    sealed class StepSettings(Optimizer optimizer) : TrainingObserver
    {
        public List<double> LearningRates { get; } = new();
        public List<double> Momenta { get; } = new();

        public override void OnAfterBackward(StepContext step)
        {
            LearningRates.Add(step.LearningRate);
            Momenta.Add(optimizer switch { IMomentum m => m.Momentum, IBetas b => b.Beta1, _ => double.NaN });
        }
    }
}
