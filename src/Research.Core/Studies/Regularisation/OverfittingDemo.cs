using System.Diagnostics;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using TensorDataset = Research.Core.Data.TensorDataset;

namespace Research.Core.Studies.Regularisation;

/// <summary>The nets of the overfitting demo.</summary>
public enum RegressionNet
{
    /// <summary>No Dropout: overfits the noise.</summary>
    Plain,
    /// <summary>Dropout after each hidden layer, trained in train mode throughout (the intended experiment).</summary>
    Dropout,
    /// <summary>Dropout as the lecture ran it: <c>model.eval()</c> at epoch 0 and never <c>model.train()</c>
    /// again, so Dropout is on for the first epoch only (emulated by p = 0 from epoch 1 on).</summary>
    DropoutAsRun,
    /// <summary>No Dropout, early stopping on the validation set (patience, best weights restored).</summary>
    EarlyStopped,
}

/// <summary>The data of one seed: x and y of each set and the grid of the curves.</summary>
public sealed record RegressionData(long Seed, double[] TrainX, double[] TrainY, double[] TestX, double[] TestY,
    double[] ValidationX, double[] ValidationY, double[] Grid);

/// <summary>One net of the demo on one seed.</summary>
/// <param name="Net">Which net.</param>
/// <param name="Seed">The seed.</param>
/// <param name="Epochs">Per epoch: train-mode MSE, eval-mode train MSE, test MSE (for
/// <see cref="RegressionNet.EarlyStopped"/>: validation MSE in place of the test MSE).</param>
/// <param name="SnapshotEpochs">Epochs after which the curve was kept (0: before training).</param>
/// <param name="Curves">The fitted curve on the grid (eval mode) at each snapshot epoch.</param>
/// <param name="TrainMse">Eval-mode MSE on the training points with the final weights.</param>
/// <param name="TestMse">Eval-mode MSE on the test points with the final weights.</param>
/// <param name="McPredictions">Monte Carlo dropout with the final weights: [passes, grid then test points, 1];
/// null for a net without Dropout.</param>
/// <param name="StopReason">Why the run ended early (early stopping), or null.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record RegressionRun(RegressionNet Net, long Seed, EpochSummary[] Epochs, int[] SnapshotEpochs,
    double[][] Curves, double TrainMse, double TestMse, float[,,]? McPredictions, string? StopReason, double Seconds);

/// <summary>The overfitting demo on every seed: its data and one run per net.</summary>
public sealed record RegressionResults(RegressionData[] Data, RegressionRun[] Runs);

/// <summary>
/// The lecture's overfitting demo (after Morvan Zhou's PyTorch dropout tutorial): y = x + 0.3·ε on
/// linspace(−1, 1, 50) for training and again, with fresh noise, for testing; a 1→100→100→1 ReLU net with
/// and without Dropout, Adam lr 0.01, MSE, 1,500 full-batch epochs through the toolkit's training loop;
/// the fitted curves every 100 epochs; Monte Carlo dropout on the Dropout net.
/// </summary>
public static class OverfittingDemo
{
    /// <summary>The data of a seed: noise from a generator seeded by name from it.</summary>
    public static RegressionData Data(RegressionExperimentConfig config, long seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        TorchNative.EnsureLoaded();
        using var generator = new Generator((ulong)TorchRuntime.DeriveSeed(seed, "regression noise"));
        double[] Linspace(int n) => Enumerable.Range(0, n).Select(i => n == 1 ? 0.0 : -1 + 2.0 * i / (n - 1)).ToArray();
        var x = Linspace(config.Points);
        double[] Noisy()
        {
            using var e = torch.randn([config.Points], dtype: ScalarType.Float64, generator: generator);
            var eps = e.data<double>().ToArray();
            return x.Select((v, i) => v + config.Noise * eps[i]).ToArray();
        }
        var train = Noisy();
        var test = Noisy();
        var validation = Noisy();
        return new RegressionData(seed, x, train, x, test, x, validation, Linspace(config.GridPoints));
    }

    /// <summary>Runs the demo: for each seed its data and each net.</summary>
    /// <param name="config">Every setting.</param>
    /// <param name="seeds">One seed per replicate.</param>
    /// <param name="nets">The nets to train (default all).</param>
    /// <param name="log">Progress lines.</param>
    public static RegressionResults Run(RegressionExperimentConfig config, IReadOnlyList<long> seeds,
        IReadOnlyList<RegressionNet>? nets = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (seeds is not { Count: > 0 })
            throw new ArgumentException("seeds: expected at least one seed.", nameof(seeds));
        TorchRuntime.Initialize(seeds[0], "cpu");
        using var threads = TorchThreads.Use(config.Threads);
        nets ??= Enum.GetValues<RegressionNet>();
        var data = new List<RegressionData>();
        var runs = new List<RegressionRun>();
        foreach (var seed in seeds)
        {
            var d = Data(config, seed);
            data.Add(d);
            foreach (var net in nets) runs.Add(Train(net, seed, d, config, log));
        }
        return new RegressionResults(data.ToArray(), runs.ToArray());
    }

    static TensorDataset Set(double[] x, double[] y, string name)
    {
        var xs = new float[x.Length, 1];
        var ys = new float[y.Length, 1];
        for (int i = 0; i < x.Length; i++) (xs[i, 0], ys[i, 0]) = ((float)x[i], (float)y[i]);
        return TensorDataset.ForRegression(xs, ys, name);
    }

    /// <summary>Trains one net of the demo on one seed.</summary>
    public static RegressionRun Train(RegressionNet net, long seed, RegressionData data,
        RegressionExperimentConfig config, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        using var train = Set(data.TrainX, data.TrainY, "y = x + 0.3ε, train");
        using var test = Set(data.TestX, data.TestY, "test");
        using var validation = Set(data.ValidationX, data.ValidationY, "validation");
        TorchRuntime.Seed(seed); // every net of a seed starts from the same weights
        bool dropout = net is RegressionNet.Dropout or RegressionNet.DropoutAsRun;
        using var model = RegularisationNetworks.Regression(config.Hidden, dropout ? config.Dropout : null);
        using var adam = new Adam(model.parameters(), config.LearningRate);
        using var grid = torch.tensor(data.Grid.Select(v => (float)v).ToArray(), [data.Grid.Length, 1]);
        var snapshots = new CurveSnapshots(model, grid, config.SnapshotEvery);
        var observers = new List<TrainingObserver> { snapshots };
        using var stopping = net == RegressionNet.EarlyStopped
            ? new EarlyStopping(EpochMetric.TestLoss, config.Patience) : null;
        if (stopping != null) observers.Add(stopping);
        if (net == RegressionNet.DropoutAsRun) observers.Add(new DropoutOffAfterFirstEpoch(model));
        var options = new TrainOptions(data.TrainX.Length, config.Epochs, Seed: seed, Shuffle: false,
            EvaluateTrainingSet: true);
        var history = Trainer.Fit(model, adam, DataObjective.MeanSquaredError, train, options,
            net == RegressionNet.EarlyStopped ? validation : test, observers);
        var trainMse = Trainer.Evaluate(model, DataObjective.MeanSquaredError, train).Loss;
        var testMse = Trainer.Evaluate(model, DataObjective.MeanSquaredError, test).Loss;
        float[,,]? mc = null;
        if (net == RegressionNet.Dropout)
        {
            using var inputs = torch.cat([grid, test.Inputs]);
            mc = MonteCarloDropout.Predict(model, inputs, config.McPasses, TorchRuntime.DeriveSeed(seed, "mc-dropout"));
        }
        clock.Stop();
        log?.WriteLine($"    regression {net}, seed {seed}: {history.Epochs.Count} epochs, train MSE {trainMse:F4}, " +
                       $"test MSE {testMse:F4} ({clock.Elapsed.TotalSeconds:F1} s)");
        return new RegressionRun(net, seed, history.Epochs.ToArray(), snapshots.Epochs.ToArray(),
            snapshots.Curves.ToArray(), trainMse, testMse, mc, history.StopReason, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Keeps the fitted curve on the grid (eval mode, back in train mode after) before training and
    /// every <c>every</c> epochs.</summary>
    sealed class CurveSnapshots : TrainingObserver
    {
        readonly Network _model;
        readonly Tensor _grid;
        readonly int _every;

        public List<int> Epochs { get; } = new();
        public List<double[]> Curves { get; } = new();

        public CurveSnapshots(Network model, Tensor grid, int every)
        {
            _model = model;
            _grid = grid;
            _every = every;
        }

        void Keep(int epoch)
        {
            bool training = _model.training;
            _model.eval();
            using (torch.no_grad())
            using (var y = _model.call(_grid).to(ScalarType.Float64).reshape(-1))
                Curves.Add(y.data<double>().ToArray());
            _model.train(training); // the lecture forgot this line
            Epochs.Add(epoch);
        }

        public override void OnStart(Network model, IOptimizer optimizer) => Keep(0);

        public override void OnEpochEnd(EpochSummary summary)
        {
            if ((summary.Epoch + 1) % _every == 0) Keep(summary.Epoch + 1);
        }
    }

    /// <summary>The lecture's bug for a net whose only stochastic layers are Dropout: after the first epoch the
    /// model stays in eval mode, which for Dropout is p = 0 (the toolkit's loop returns to train mode every
    /// epoch).</summary>
    sealed class DropoutOffAfterFirstEpoch(Network model) : TrainingObserver
    {
        public override void OnEpochEnd(EpochSummary summary)
        {
            if (summary.Epoch != 0) return;
            foreach (var d in model.modules().OfType<TorchSharp.Modules.Dropout>()) d.p = 0;
        }
    }
}
