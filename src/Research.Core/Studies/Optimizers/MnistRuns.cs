using System.Diagnostics;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Runtime;
using Research.Core.Training;

namespace Research.Core.Studies.Optimizers;

/// <summary>How the optimizers of the MNIST comparison meet their model.</summary>
public enum TrainingProtocol
{
    /// <summary>A fresh model per optimizer and seed: for a seed, every optimizer starts from the same
    /// initial weights and sees the same batch order.</summary>
    Fresh,

    /// <summary>The seminar's protocol: one model per seed, trained by every optimizer in turn, so each
    /// starts where the previous one stopped.</summary>
    Sequential,
}

/// <summary>An optimizer of the MNIST comparison: PyTorch's with its defaults except the learning rate.</summary>
/// <param name="Label">The label ("SGD(0.01)").</param>
/// <param name="Kind">Which optimizer.</param>
/// <param name="LearningRate">lr, finite and &gt; 0.</param>
public sealed record MnistOptimizer(string Label, OptimizerKind Kind, double LearningRate)
{
    /// <summary>lr, checked.</summary>
    /// <exception cref="ArgumentException">lr ≤ 0, NaN or infinite.</exception>
    public double LearningRate { get; init; } = LearningRate > 0 && double.IsFinite(LearningRate)
        ? LearningRate
        : throw new ArgumentException($"{Label}: lr: expected a finite learning rate > 0, got {LearningRate}.",
            nameof(LearningRate));

    /// <summary>The optimizer over <paramref name="model"/>'s parameters.</summary>
    public Optimizer Create(Network model) =>
        Optim.Optimizers.Create(Kind, model.parameters(), new Dictionary<string, object> { ["lr"] = LearningRate });
}

/// <summary>The MNIST comparison of the seminar: its networks, optimizers, epochs and seeds.</summary>
public sealed record MnistComparisonConfig
{
    /// <summary>The networks (default both).</summary>
    public SeminarNetwork[] Networks { get; init; } = [SeminarNetwork.Mlp, SeminarNetwork.Cnn];

    /// <summary>The optimizers, in the seminar's order (the sequential protocol uses this order).</summary>
    public MnistOptimizer[] Optimizers { get; init; } =
    [
        new("Adam", OptimizerKind.Adam, 1e-3), new("Adagrad", OptimizerKind.Adagrad, 1e-2),
        new("Adadelta", OptimizerKind.Adadelta, 1.0), new("SGD(0.01)", OptimizerKind.SGD, 0.01),
    ];

    /// <summary>The protocols run (default both).</summary>
    public TrainingProtocol[] Protocols { get; init; } = [TrainingProtocol.Fresh, TrainingProtocol.Sequential];

    /// <summary>Epochs per optimizer (the seminar: 20).</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Examples per step (the seminar: 32).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Use the first N training images (null: all 60,000).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>Use the first N test images for the per-epoch test accuracy (null: all 10,000).</summary>
    public int? TestExamples { get; init; }

    /// <summary>One seed per replicate: initial weights (torch) and batch order.</summary>
    public long[] Seeds { get; init; } = [];

    /// <summary>libtorch intra-op threads while training (default 1; see <see cref="Runtime.TorchThreads"/>).</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>One optimizer's training on one network for one seed.</summary>
/// <param name="Network">The network.</param>
/// <param name="Protocol">Fresh model, or the seminar's sequential protocol.</param>
/// <param name="Optimizer">The optimizer's label.</param>
/// <param name="Position">0-based place in the sequence (sequential protocol; 0 for fresh runs).</param>
/// <param name="Seed">The replicate's seed.</param>
/// <param name="Curves">Loss per step, per-epoch train loss, test loss and accuracy; divergence.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record MnistRun(SeminarNetwork Network, TrainingProtocol Protocol, string Optimizer, int Position,
    long Seed, TrainingCurves Curves, double Seconds);

/// <summary>What a training run on MNIST recorded.</summary>
/// <param name="StepLoss">Mean loss of each step's batch (a diverged run ends with the non-finite one).</param>
/// <param name="EpochTrainLoss">Mean training loss of each finished epoch.</param>
/// <param name="EpochTestLoss">Test loss after each finished epoch.</param>
/// <param name="EpochTestAccuracy">Test accuracy in [0, 1] after each finished epoch.</param>
/// <param name="Diverged">True when a loss was NaN or infinite; the run stopped there.</param>
/// <param name="DivergedAtStep">The step whose loss was not finite, or null.</param>
public sealed record TrainingCurves(double[] StepLoss, double[] EpochTrainLoss, double[] EpochTestLoss,
    double[] EpochTestAccuracy, bool Diverged, long? DivergedAtStep)
{
    /// <summary>The curves of a finished history.</summary>
    public static TrainingCurves Of(TrainingHistory h) => new(h.StepLoss.ToArray(),
        h.Epochs.Select(e => e.TrainLoss).ToArray(), h.Epochs.Select(e => e.TestLoss).ToArray(),
        h.Epochs.Select(e => e.TestAccuracy).ToArray(), h.Diverged, h.DivergedAtIteration);
}

/// <summary>MNIST as the study's runs use it: both input shapes of a training and a test split.</summary>
internal sealed class MnistTensors : IDisposable
{
    readonly Dictionary<bool, (TensorDataset Train, TensorDataset Test)> _byShape = new();
    readonly MnistSplit _train, _test;

    public MnistTensors(MnistSplit train, MnistSplit test, int? trainExamples, int? testExamples)
    {
        _train = trainExamples is { } n ? train.Take(n) : train;
        _test = testExamples is { } m ? test.Take(m) : test;
    }

    /// <summary>The datasets with flat [N, 784] or image [N, 1, 28, 28] inputs (made once).</summary>
    public (TensorDataset Train, TensorDataset Test) Get(bool flat)
    {
        if (!_byShape.TryGetValue(flat, out var d))
            _byShape[flat] = d = (TensorDataset.FromMnist(_train, flat: flat, name: "MNIST train"),
                TensorDataset.FromMnist(_test, flat: flat, name: "MNIST test"));
        return d;
    }

    public void Dispose()
    {
        foreach (var (a, b) in _byShape.Values) { a.Dispose(); b.Dispose(); }
    }
}

/// <summary>
/// The seminar's MNIST comparison: Adam, Adagrad, Adadelta and SGD(0.01) on its MLP and CNN, batch 32,
/// cross-entropy, per-epoch mean training loss and test accuracy; each optimizer from a fresh model
/// (the same initial weights and batch order for every optimizer of a seed) and, labelled as such,
/// the seminar's sequential protocol (one model per seed trained by the optimizers in turn). A run
/// whose loss becomes NaN or infinite stops there and is marked diverged; the others go on.
/// </summary>
public static class MnistComparison
{
    /// <summary>Runs every network × protocol × seed × optimizer of <paramref name="config"/>.</summary>
    /// <param name="config">The comparison.</param>
    /// <param name="train">MNIST training images (or a stand-in).</param>
    /// <param name="test">MNIST test images.</param>
    /// <param name="log">One line per run (null: silent).</param>
    /// <exception cref="ArgumentException">No seeds, no optimizers, or epochs or batch size &lt; 1.</exception>
    public static IReadOnlyList<MnistRun> Run(MnistComparisonConfig config, MnistSplit train, MnistSplit test,
        TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Seeds.Length == 0 || config.Optimizers.Length == 0)
            throw new ArgumentException(
                "MNIST comparison: expected at least one seed and one optimizer, " +
                $"got {config.Seeds.Length} seeds and " +
                $"{config.Optimizers.Length} optimizers.", nameof(config));
        TorchRuntime.EnsureNative();
        using var threads = TorchThreads.Use(config.Threads);
        using var data = new MnistTensors(train, test, config.TrainExamples, config.TestExamples);
        var runs = new List<MnistRun>();
        foreach (var network in config.Networks)
        foreach (var protocol in config.Protocols)
        foreach (var seed in config.Seeds)
        {
            Network? shared = null;
            try
            {
                for (int position = 0; position < config.Optimizers.Length; position++)
                {
                    var spec = config.Optimizers[position];
                    if (protocol == TrainingProtocol.Fresh || shared is null)
                    {
                        shared?.Dispose();
                        TorchRuntime.Seed(seed);
                        shared = SeminarNetworks.Build(network);
                    }
                    var clock = Stopwatch.StartNew();
                    using var optimizer = spec.Create(shared);
                    var (trainData, testData) = data.Get(SeminarNetworks.TakesFlatInput(network));
                    var options = new TrainOptions(config.BatchSize, config.Epochs, Seed: seed, StopOnDivergence: true);
                    var curves = TrainingCurves.Of(Trainer.Fit(shared, optimizer, trainData, options, testData));
                    var run = new MnistRun(network, protocol, spec.Label,
                        protocol == TrainingProtocol.Fresh ? 0 : position, seed, curves, clock.Elapsed.TotalSeconds);
                    runs.Add(run);
                    log?.WriteLine(Describe(run));
                }
            }
            finally
            {
                shared?.Dispose();
            }
        }
        return runs;
    }

    static string Describe(MnistRun r)
    {
        var c = r.Curves;
        string end = c.Diverged ? $"DIVERGED at step {c.DivergedAtStep}"
            : $"train loss {c.EpochTrainLoss[^1]:F4}, test accuracy {100 * c.EpochTestAccuracy[^1]:F2}%";
        return $"    {r.Network} {r.Protocol.ToString().ToLowerInvariant(),-10} seed {r.Seed,-20} {r.Optimizer,-10} " +
               $"{c.EpochTrainLoss.Length} epochs: {end} ({r.Seconds:F1} s)";
    }
}
