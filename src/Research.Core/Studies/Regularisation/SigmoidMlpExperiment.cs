using System.Diagnostics;
using Research.Core.Capture;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Studies.Regularisation;

/// <summary>BatchNorm's estimate of the mean of its input (the first BatchNorm layer, norm1) after the first
/// epoch, against what it estimates.</summary>
/// <param name="RunningMean">running_mean after the epoch: the exponential moving average of the batch
/// means, m ← 0.9·m + 0.1·batch mean (momentum 0.1), one vector of memory.</param>
/// <param name="MeanOfBatchMeans">The mean of every batch mean of the epoch, as a store of them all would give
/// (the batches' inputs came from the weights of their step).</param>
/// <param name="PopulationMean">The mean of the layer's input over the whole training data at the weights
/// after the epoch: the quantity both estimate.</param>
/// <param name="Batches">Batch means stored (steps of the epoch).</param>
public sealed record RunningMeanCheck(double[] RunningMean, double[] MeanOfBatchMeans, double[] PopulationMean,
    int Batches);

/// <summary>One run of the sigmoid MLP on one seed.</summary>
/// <param name="Run">The run's <see cref="SigmoidRun.Id"/>.</param>
/// <param name="Seed">The seed.</param>
/// <param name="Epochs">Per epoch: train-mode loss and accuracy, test loss and accuracy.</param>
/// <param name="StepLoss">The training loss of every step (train mode; without the penalty).</param>
/// <param name="PenaltyStrength">λ actually used (L2: matched to the L1 strength at this seed's weights; 0
/// without).</param>
/// <param name="GradientsAtStart">LayerStatistics.Measure on the gradient batches at the initial weights.</param>
/// <param name="GradientsAtEnd">The same after training.</param>
/// <param name="RunningMean">For a net with BatchNorm, its running mean after the first epoch; else null.</param>
/// <param name="FinalWeights">Every entry of the final weight matrices, when the run keeps them; else null.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record SigmoidMlpRun(string Run, long Seed, EpochSummary[] Epochs, double[] StepLoss,
    double PenaltyStrength, NetworkStatistics[] GradientsAtStart, NetworkStatistics[] GradientsAtEnd,
    RunningMeanCheck? RunningMean, float[]? FinalWeights, double Seconds);

/// <summary>The lecture's sigmoid-MLP runs: BatchNorm at two learning rates beside the plain net, BatchNorm
/// after the activation, the hand-written Dropout, the L1 and L2 penalties; BatchNorm's running mean.</summary>
public static class SigmoidMlpExperiment
{
    /// <summary>Trains every run of <paramref name="config"/> on every seed.</summary>
    /// <param name="config">Every setting.</param>
    /// <param name="seeds">One seed per replicate.</param>
    /// <param name="train">MNIST training split.</param>
    /// <param name="test">MNIST test split.</param>
    /// <param name="log">Progress lines (null: silent).</param>
    /// <exception cref="ArgumentException">No seeds or no runs.</exception>
    public static SigmoidMlpRun[] Run(SigmoidExperimentConfig config, IReadOnlyList<long> seeds, MnistSplit train,
        MnistSplit test, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (seeds is not { Count: > 0 })
            throw new ArgumentException("seeds: expected at least one seed.", nameof(seeds));
        if (config.Runs.Length == 0) throw new ArgumentException("Runs: expected at least one run.", nameof(config));
        TorchRuntime.Initialize(seeds[0], config.Device);
        var device = TorchRuntime.Device(config.Device);
        using var threads = TorchThreads.Use(config.Threads);
        using var trainData = TensorDataset.FromMnist(config.TrainExamples is { } n ? train.Take(n) : train, device,
            name: "MNIST train");
        using var testData = TensorDataset.FromMnist(config.TestExamples is { } m ? test.Take(m) : test, device,
            name: "MNIST test");
        var runs = new List<SigmoidMlpRun>();
        foreach (var seed in seeds)
            foreach (var run in config.Runs)
                runs.Add(Train(run, seed, config, trainData, testData, log));
        return runs.ToArray();
    }

    static SigmoidMlpRun Train(SigmoidRun run, long seed, SigmoidExperimentConfig config, TensorDataset train,
        TensorDataset test, TextWriter? log)
    {
        var clock = Stopwatch.StartNew();
        var batches = GradientBatches(train, config, seed);
        NetworkStatistics[] atStart;
        using (var fresh = Build(run, seed, config, train.Device)) // the same weights as the trained model
            atStart = Measure(fresh, train, batches);
        using var model = Build(run, seed, config, train.Device);
        double strength = run.Penalty switch
        {
            PenaltyNorm.L2 => run.PenaltyStrength * WeightPenalty.Magnitude(model, PenaltyNorm.L1)
                                                  / WeightPenalty.Magnitude(model, PenaltyNorm.L2),
            PenaltyNorm.L1 => run.PenaltyStrength,
            _ => 0,
        };
        var observers = new List<TrainingObserver>();
        if (run.Penalty is { } norm) observers.Add(new WeightPenalty(norm, strength));
        using var recorder = run.Normalization == Normalization.BatchNorm
            ? new RunningMeanRecorder(model, train, config.BatchSize) : null;
        if (recorder != null) observers.Add(recorder);
        using var sgd = new Sgd(model.parameters(), run.LearningRate);
        var options = new TrainOptions(config.BatchSize, config.Epochs, Seed: seed);
        var history = Trainer.Fit(model, sgd, train, options, test, observers);
        var atEnd = Measure(model, train, batches);
        float[]? weights = run.KeepWeights ? Weights(model) : null;
        clock.Stop();
        double accuracy = history.Epochs[^1].TestAccuracy;
        log?.WriteLine($"    sigmoid MLP {run.Id}, seed {seed}: test accuracy {100 * accuracy:F2}% " +
                       $"({clock.Elapsed.TotalSeconds:F1} s)");
        return new SigmoidMlpRun(run.Id, seed, history.Epochs.ToArray(), history.StepLoss.ToArray(), strength, atStart,
            atEnd, recorder?.Check,
            weights, clock.Elapsed.TotalSeconds);
    }

    static Network Build(SigmoidRun run, long seed, SigmoidExperimentConfig config, Device device)
    {
        TorchRuntime.Seed(seed);
        var model = RegularisationNetworks.SigmoidMlp(config.Widths, run);
        model.to(device);
        return model;
    }

    /// <summary>The first batches of the seed's first epoch order: the same for every run of a seed.</summary>
    static int[][] GradientBatches(TensorDataset train, SigmoidExperimentConfig config, long seed) =>
        train.BatchIndices(config.BatchSize, seed, 0).Where(b => b.Length >= 2).Take(config.GradientBatches).ToArray();

    /// <summary>LayerStatistics.Measure on each batch (in training mode, as the gradients of training are).</summary>
    static NetworkStatistics[] Measure(Network model, TensorDataset data, int[][] batches)
    {
        var stats = new NetworkStatistics[batches.Length];
        for (int i = 0; i < batches.Length; i++)
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = data.Gather(batches[i]);
            stats[i] = LayerStatistics.Measure(model, x, y);
        }
        model.zero_grad();
        return stats;
    }

    static float[] Weights(Network model)
    {
        using var scope = torch.NewDisposeScope();
        var flat = torch.cat(model.Weights().Select(w => w.Weight.detach().reshape(-1).cpu()).ToArray());
        return flat.to(ScalarType.Float32).data<float>().ToArray();
    }

    /// <summary>Stores the batch mean of the first BatchNorm layer's input at every training step of the first
    /// epoch (a forward pre-hook on the layer) and, at the end of that epoch, compares the running mean with
    /// their average and with the population mean.</summary>
    sealed class RunningMeanRecorder : TrainingObserver, IDisposable
    {
        readonly BatchNormalization _norm;
        readonly Network _model;
        readonly TensorDataset _train;
        readonly int _batchSize;
        readonly Action _removeHook;
        double[]? _sum;
        int _count;
        bool _recording = true;

        public RunningMeanCheck? Check { get; private set; }

        public RunningMeanRecorder(Network model, TensorDataset train, int batchSize)
        {
            _model = model;
            _train = train;
            _batchSize = batchSize;
            _norm = model.Layers.Select(l => l.Layer).OfType<BatchNormalization>().First();
            var hook = _norm.register_forward_pre_hook((module, input) =>
            {
                if (_recording && module.training) Add(input);
                return input;
            });
            _removeHook = hook.remove;
        }

        void Add(Tensor input)
        {
            using var scope = torch.NewDisposeScope();
            var mean = input.detach().to(ScalarType.Float64).mean([0L]).cpu().data<double>().ToArray();
            _sum ??= new double[mean.Length];
            for (int j = 0; j < mean.Length; j++) _sum[j] += mean[j];
            _count++;
        }

        public override void OnEpochEnd(EpochSummary summary)
        {
            if (!_recording) return;
            _recording = false;
            using var scope = torch.NewDisposeScope();
            var running = _norm.running_mean!.to(ScalarType.Float64).cpu().data<double>().ToArray();
            Check = new RunningMeanCheck(running, _sum!.Select(s => s / _count).ToArray(), PopulationMean(), _count);
        }

        /// <summary>The mean of the layer's input over the training data, through the layers before it.</summary>
        double[] PopulationMean()
        {
            using var _ = torch.no_grad();
            var before = _model.Layers.TakeWhile(l => !ReferenceEquals(l.Layer, _norm)).Select(l => l.Layer).ToList();
            double[]? sum = null;
            foreach (var batch in _train.BatchIndices(1000, 0, 0, shuffle: false))
            {
                using var scope = torch.NewDisposeScope();
                var (x, _) = _train.Gather(batch);
                foreach (var layer in before) x = layer.call(x);
                var s = x.to(ScalarType.Float64).sum([0L]).cpu().data<double>().ToArray();
                sum ??= new double[s.Length];
                for (int j = 0; j < s.Length; j++) sum[j] += s[j];
            }
            return sum!.Select(s => s / _train.Count).ToArray();
        }

        public void Dispose() => _removeHook();
    }
}
