using System.Diagnostics;
using System.Runtime.InteropServices;
using Research.Core.Capture;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Studies.Initialisation;

/// <summary>How the per-layer statistics at initialisation are sampled.</summary>
/// <param name="Batches">B: batches per configuration besides the seminar's one (≥ 2; default 20).</param>
/// <param name="WeightSeed">Seed of the weights of the one-batch measurement; rerun r draws its weights
/// from <c>DeriveSeed(WeightSeed, "rerun/r")</c>.</param>
/// <param name="BatchSeed">Seed of the order from which the disjoint batches 0, 1, …, B are cut (the same
/// batches for every configuration of a batch size).</param>
/// <param name="Device">"auto", "cpu" or "cuda".</param>
/// <param name="Threads">libtorch intra-op threads while measuring (see
/// <see cref="Runtime.TorchThreads"/>).</param>
public sealed record InitMeasurementOptions(
    int Batches = 20, long WeightSeed = 0, long BatchSeed = 0, string Device = "auto", int Threads = 1);

/// <summary>The per-layer statistics of one configuration at initialisation.</summary>
/// <param name="Configuration">What was measured.</param>
/// <param name="OneBatch">The seminar's measurement: weights from <c>WeightSeed</c>, batch 0.</param>
/// <param name="OverBatches">The same weights on batches 1..B: what the batch alone changes.</param>
/// <param name="OverReruns">Rerun r = 1..B: fresh weights (seed "rerun/r") on batch r, i.e. the seminar's
/// cell run again: what the weight draw and the batch change together.</param>
/// <param name="FirstLayerWeights">The first Linear layer's initial weights (one-batch draw), row-major
/// [out, in].</param>
/// <param name="ReferenceProtocol">The statistics under <c>init_variance.json</c>'s protocol (weights after
/// <c>manual_seed(0)</c>, input <c>randn(100, 784)</c> after <c>manual_seed(1)</c>, labels
/// <c>arange(100) % 10</c>, CPU), when the configuration has a reference key; else null.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record InitMeasurement(
    InitConfiguration Configuration,
    NetworkStatistics OneBatch,
    IReadOnlyList<NetworkStatistics> OverBatches,
    IReadOnlyList<NetworkStatistics> OverReruns,
    float[] FirstLayerWeights,
    NetworkStatistics? ReferenceProtocol,
    double Seconds);

/// <summary>One Linear layer's values at one training iteration (for box plots).</summary>
/// <param name="Layer">Layer name ("fc1").</param>
/// <param name="Input">The layer's input for the batch, row-major [batch, in].</param>
/// <param name="WeightGradientAbs">|∂L/∂W| after backward, row-major [out, in].</param>
public sealed record LayerSnapshot(string Layer, float[] Input, float[] WeightGradientAbs);

/// <summary>Every Linear layer's values at one iteration.</summary>
/// <param name="Iteration">1-based step.</param>
/// <param name="Label">"step 1", "end of epoch 1 (step 1875)".</param>
/// <param name="Layers">One entry per Linear layer, in order.</param>
public sealed record TrainingSnapshot(long Iteration, string Label, IReadOnlyList<LayerSnapshot> Layers);

/// <summary>The outcome of training one sigmoid net.</summary>
/// <param name="Run">What was trained.</param>
/// <param name="LearningRate">The SGD learning rate.</param>
/// <param name="Network">The network's description.</param>
/// <param name="TrainLoss">Mean cross-entropy of each step's batch, before the step.</param>
/// <param name="TestBatchLoss">Mean cross-entropy of one test batch after each step (the test set is cycled
/// through in a seeded order, one batch of the training batch size per step).</param>
/// <param name="Epochs">Per epoch: mean training loss and the whole test set's loss and accuracy.</param>
/// <param name="StepsPerEpoch">Steps in one epoch (the last batch may be smaller).</param>
/// <param name="TestExamples">Test images behind each epoch's accuracy.</param>
/// <param name="Snapshots">Layer inputs and |∂L/∂W| at the chosen iterations.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record SigmoidRunResult(
    SigmoidRun Run,
    double LearningRate,
    string Network,
    double[] TrainLoss,
    double[] TestBatchLoss,
    IReadOnlyList<EpochSummary> Epochs,
    int StepsPerEpoch,
    int TestExamples,
    IReadOnlyList<TrainingSnapshot> Snapshots,
    double Seconds);

/// <summary>
/// The capture half of the initialisation study: per-layer statistics of each configuration at
/// initialisation on real MNIST batches (and under <c>init_variance.json</c>'s protocol), and the
/// lecture's sigmoid nets trained with SGD. Returns plain arrays and records; the analysis is in F#.
/// </summary>
public static class InitialisationCapture
{
    /// <summary>The network of a configuration, with PyTorch's default weights (drawn from torch's
    /// global generator) and layers named fc1…fcL.</summary>
    public static Network Build(InitConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var w = configuration.Widths;
        if (configuration.Activation is { } activation) return Architectures.Mlp(new MlpOptions(w, activation));
        TorchNative.EnsureLoaded();
        var net = new Network("linear", configuration.NetworkText);
        for (int i = 1; i < w.Length; i++) net.Add($"fc{i}", nn.Linear(w[i - 1], w[i]));
        return net;
    }

    /// <summary>The network of a configuration with its initialisation applied: torch is seeded with
    /// <paramref name="seed"/> before the layers are created and again before the weights are drawn in
    /// layer order (so a scheme's weights are PyTorch's for that seed, and the default's are seeded too).</summary>
    public static Network Initialise(InitConfiguration configuration, long seed, Device device)
    {
        TorchRuntime.Seed(seed);
        var net = Build(configuration);
        TorchRuntime.Seed(seed);
        configuration.Init.Apply(net);
        net.to(device);
        return net;
    }

    /// <summary>
    /// <c>init_variance.json</c>'s protocol: weights after <c>manual_seed(0)</c>, input
    /// <c>randn(100, 784)</c> after <c>manual_seed(1)</c>, labels <c>arange(100) % 10</c>, on the CPU.
    /// </summary>
    public static NetworkStatistics MeasureReferenceProtocol(InitConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        TorchNative.EnsureLoaded(); // before the first use of torch's statics (torch.CPU)
        using var net = Initialise(configuration, 0, CPU);
        using var scope = torch.NewDisposeScope();
        TorchRuntime.Seed(1);
        var x = torch.randn(100, 784);
        var y = torch.arange(100L).remainder(10L);
        return LayerStatistics.Measure(net, x, y);
    }

    /// <summary>
    /// Measures one configuration at initialisation on MNIST training images: the seminar's one batch,
    /// B more batches with the same weights, and B reruns with fresh weights (see <see cref="InitMeasurement"/>).
    /// </summary>
    /// <param name="configuration">The configuration.</param>
    /// <param name="train">Training images (normalised as <c>Mnist.Load</c> does).</param>
    /// <param name="options">B, seeds, device.</param>
    /// <exception cref="ArgumentException">B &lt; 2, or fewer than (B + 1) × batch size images.</exception>
    public static InitMeasurement Measure(InitConfiguration configuration, MnistSplit train,
        InitMeasurementOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        int b = options.Batches, size = configuration.BatchSize;
        if (b < 2)
            throw new ArgumentException($"Batches: expected B ≥ 2 (an interval needs two batches), got {b}.",
                nameof(options));
        if ((long)(b + 1) * size > train.Count)
            throw new ArgumentException(
                $"{configuration.Id}: {b + 1} disjoint batches of {size} need {(b + 1) * size} images, the data has " +
                $"{train.Count}; pass fewer batches (B) or more images.", nameof(train));
        var clock = Stopwatch.StartNew();
        using var threads = TorchThreads.Use(options.Threads);
        var device = TorchRuntime.Device(options.Device);
        var order = TensorDataset.EpochOrder(train.Count, options.BatchSeed, 0);
        // the median of |∂L/∂W| is the lecture's box-plot statistic, taken on its sigmoid net only (it is
        // the costliest statistic on the seminar's 500-wide layers, and no claim uses it there)
        bool medians = configuration.Network == InitNetwork.LectureSigmoid;
        NetworkStatistics OnBatch(Network net, int r)
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = Batch(train, order[(r * size)..((r + 1) * size)], device);
            return LayerStatistics.Measure(net, x, y, medians);
        }
        NetworkStatistics one;
        float[] firstWeights;
        var overBatches = new List<NetworkStatistics>(b);
        using (var net = Initialise(configuration, options.WeightSeed, device))
        {
            one = OnBatch(net, 0);
            firstWeights = Floats(LayerStatistics.LinearLayers(net)[0].Weight);
            for (int r = 1; r <= b; r++) overBatches.Add(OnBatch(net, r));
        }
        var reruns = new List<NetworkStatistics>(b);
        for (int r = 1; r <= b; r++)
        {
            long seed = TorchRuntime.DeriveSeed(options.WeightSeed, $"rerun/{r}");
            using var net = Initialise(configuration, seed, device);
            reruns.Add(OnBatch(net, r));
        }
        var reference = configuration.ReferenceKey is null ? null : MeasureReferenceProtocol(configuration);
        return new InitMeasurement(configuration, one, overBatches, reruns, firstWeights, reference,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Trains every run of <paramref name="config"/> at every learning rate: the same weight seed for
    /// each (so runs of one scheme share their first layer's draw) and the same batch order; SGD without
    /// momentum; after each step the loss of the next test batch; after each epoch the whole test set.
    /// </summary>
    /// <param name="config">Runs and hyperparameters.</param>
    /// <param name="train">Training images, normalised as <c>Mnist.Load</c> does ((x/255 − 0.1307)/0.3081);
    /// they are renormalised to the config's (mean, std).</param>
    /// <param name="test">Test images, normalised the same way.</param>
    /// <param name="weightSeed">Seed of torch before each net is built and initialised.</param>
    /// <param name="batchSeed">Seed of the training batch order (test batches use a seed derived from it).</param>
    /// <param name="log">Progress lines (null: silent).</param>
    /// <exception cref="ArgumentException">A bad hyperparameter (the message names it).</exception>
    public static IReadOnlyList<SigmoidRunResult> Train(SigmoidTrainingConfig config, MnistSplit train, MnistSplit test,
        long weightSeed, long batchSeed, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        CheckTraining(config);
        using var threads = TorchThreads.Use(config.Threads);
        var device = TorchRuntime.Device(config.Device);
        var examples = config.TrainExamples is { } n ? train.Take(n) : train;
        using var trainData = Renormalised(examples, config, device, "MNIST train");
        using var testData = Renormalised(test, config, device, "MNIST test");
        int stepsPerEpoch = (trainData.Count + config.BatchSize - 1) / config.BatchSize;
        var results = new List<SigmoidRunResult>();
        foreach (var lr in config.LearningRates)
        foreach (var run in config.Runs)
        {
            var clock = Stopwatch.StartNew();
            TorchRuntime.Seed(weightSeed);
            using var model = Architectures.Mlp(new MlpOptions(run.Widths(config.HiddenWidth), Activation.Sigmoid));
            TorchRuntime.Seed(weightSeed);
            run.Init.Apply(model);
            model.to(device);
            using var optimizer = new Sgd(model.parameters(), lr);
            var testSeed = TorchRuntime.DeriveSeed(batchSeed, "test-batches");
            var testLoss = new TestBatchLoss(testData, config.BatchSize, testSeed);
            var snapshots = new SnapshotRecorder(SnapshotLabels(config, stepsPerEpoch));
            var history = Trainer.Fit(model, optimizer, trainData,
                new TrainOptions(config.BatchSize, config.Epochs, Seed: batchSeed, EvaluateEachEpoch: true),
                test: testData, observers: [testLoss, snapshots]);
            clock.Stop();
            var last = history.Epochs[^1];
            double seconds = clock.Elapsed.TotalSeconds;
            log?.WriteLine($"  {run.Title,-28} lr {lr,-6:G3} {history.StepLoss.Count} steps in {seconds:F1} s, " +
                           $"mean train loss of the last epoch {last.TrainLoss:F4}, " +
                           $"test accuracy {100 * last.TestAccuracy:F2}%");
            results.Add(new SigmoidRunResult(run, lr, model.Description, history.StepLoss.ToArray(),
                testLoss.Losses.ToArray(), history.Epochs.ToList(), stepsPerEpoch, testData.Count, snapshots.Snapshots,
                seconds));
        }
        return results;
    }

    /// <summary>The iterations kept for box plots with their labels: the config's explicit ones and
    /// each epoch's last step.</summary>
    public static IReadOnlyDictionary<long, string> SnapshotLabels(SigmoidTrainingConfig config, int stepsPerEpoch)
    {
        long total = (long)stepsPerEpoch * config.Epochs;
        var labels = new SortedDictionary<long, string>();
        foreach (var t in config.SnapshotIterations)
            if (t >= 1 && t <= total) labels[t] = $"step {t}";
        for (int e = 1; e <= config.Epochs; e++)
        {
            long last = (long)e * stepsPerEpoch;
            labels[last] = $"end of epoch {e} (step {last})";
        }
        return labels;
    }

    static void CheckTraining(SigmoidTrainingConfig c)
    {
        void Require(bool ok, string name, string expected, object got)
        {
            if (!ok) throw new ArgumentException($"{name}: expected {expected}, got {got}.", name);
        }
        Require(c.Runs is { Length: > 0 }, nameof(c.Runs), "at least one run", c.Runs?.Length ?? 0);
        Require(c.HiddenWidth >= 1, nameof(c.HiddenWidth), "a width ≥ 1", c.HiddenWidth);
        Require(c.LearningRates is { Length: > 0 } && c.LearningRates.All(lr => lr > 0 && double.IsFinite(lr)),
            nameof(c.LearningRates), "one or more finite learning rates > 0",
            c.LearningRates is null ? "null" : $"[{string.Join(", ", c.LearningRates)}]");
        Require(c.Threads >= 1, nameof(c.Threads), "at least 1 thread", c.Threads);
        Require(c.BatchSize >= 2, nameof(c.BatchSize), "a batch size ≥ 2", c.BatchSize);
        Require(c.Epochs >= 1, nameof(c.Epochs), "at least 1 epoch", c.Epochs);
        Require(c.InputStd > 0 && double.IsFinite(c.InputMean), nameof(c.InputStd), "a finite mean and a std > 0",
            $"({c.InputMean}, {c.InputStd})");
        foreach (var r in c.Runs!)
            Require(r.HiddenLayers >= 1, $"{nameof(c.Runs)}[{r.Id}].{nameof(r.HiddenLayers)}", "n ≥ 1", r.HiddenLayers);
    }

    /// <summary>A split as a dataset with the pixels renormalised from Mnist.Load's (0.1307, 0.3081) to the
    /// config's.</summary>
    static TensorDataset Renormalised(MnistSplit split, SigmoidTrainingConfig c, Device device, string name)
    {
        var data = TensorDataset.FromMnist(split, device, name: name);
        var seminar = MnistNormalization.Seminar;
        using var _ = torch.no_grad();
        data.Inputs.mul_(seminar.Std / c.InputStd).add_((seminar.Mean - c.InputMean) / c.InputStd);
        return data;
    }

    static (Tensor x, Tensor y) Batch(MnistSplit split, int[] indices, Device device)
    {
        var pixels = new float[indices.Length * MnistSplit.Pixels];
        var labels = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            Array.Copy(split.Images, (long)indices[i] * MnistSplit.Pixels, pixels, (long)i * MnistSplit.Pixels,
                MnistSplit.Pixels);
            labels[i] = split.Labels[indices[i]];
        }
        return (torch.tensor(pixels, [indices.Length, MnistSplit.Pixels]).to(device), torch.tensor(labels).to(device));
    }

    /// <summary>A tensor's values as a row-major float32 array (a contiguous host copy).</summary>
    static float[] Floats(Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        var c = t.detach().cpu().to(ScalarType.Float32).contiguous();
        return MemoryMarshal.Cast<byte, float>(c.bytes).ToArray();
    }

    /// <summary>After each step, the mean loss of the next test batch (no gradients).</summary>
    sealed class TestBatchLoss(TensorDataset test, int batchSize, long seed) : TrainingObserver
    {
        IEnumerator<int[]>? _batches;
        int _cycle;

        public List<double> Losses { get; } = new();

        int[] Next()
        {
            while (_batches is null || !_batches.MoveNext())
                _batches = test.BatchIndices(batchSize, seed, _cycle++, shuffle: true, dropLast: true).GetEnumerator();
            return _batches.Current;
        }

        public override void OnAfterStep(StepContext step)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            bool capture = step.Model.CaptureLayerTensors;
            step.Model.CaptureLayerTensors = false;
            var (x, y) = test.Gather(Next());
            Losses.Add(nn.functional.cross_entropy(step.Model.call(x), y).item<float>());
            step.Model.CaptureLayerTensors = capture;
        }
    }

    /// <summary>Keeps each Linear layer's input and |∂L/∂W| at the chosen iterations (capture mode is on
    /// only for those steps' forward passes).</summary>
    sealed class SnapshotRecorder(IReadOnlyDictionary<long, string> labels) : TrainingObserver
    {
        Network? _model;

        public List<TrainingSnapshot> Snapshots { get; } = new();

        public override void OnStart(Network model, IOptimizer optimizer)
        {
            _model = model;
            model.CaptureLayerTensors = labels.ContainsKey(1);
        }

        public override void OnAfterBackward(StepContext step)
        {
            if (!labels.TryGetValue(step.Iteration, out var label)) return;
            var captured = step.Model.Captured.ToDictionary(c => c.Name);
            var layers = LayerStatistics.LinearLayers(step.Model)
                .Select(l => new LayerSnapshot(l.Name, Floats(captured[l.Name].Input), Floats(l.Weight.grad!.abs())))
                .ToList();
            Snapshots.Add(new TrainingSnapshot(step.Iteration, label, layers));
        }

        public override void OnAfterStep(StepContext step) =>
            step.Model.CaptureLayerTensors = labels.ContainsKey(step.Iteration + 1);

        public override void OnEnd(TrainingHistory history)
        {
            if (_model != null) _model.CaptureLayerTensors = false;
        }
    }
}
