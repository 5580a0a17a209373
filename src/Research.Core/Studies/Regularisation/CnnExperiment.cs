using System.Diagnostics;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;

namespace Research.Core.Studies.Regularisation;

/// <summary>One training run of the seminar CNN.</summary>
/// <param name="Variant">The head and convolution normalisation (<see cref="CnnVariant.Id"/>).</param>
/// <param name="Seed">The seed: initial weights, batch order and dropout masks.</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="Epochs">Per epoch: train-mode loss and accuracy of the batches as trained, eval-mode loss and
/// accuracy on the whole training data, test loss and accuracy.</param>
/// <param name="Parameters">Number of trainable parameters.</param>
/// <param name="Description">The network.</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record CnnRun(string Variant, long Seed, int BatchSize, EpochSummary[] Epochs, long Parameters,
    string Description, double Seconds);

/// <summary>Monte Carlo dropout on the Dropout head after training.</summary>
/// <param name="Seed">The run's seed.</param>
/// <param name="Logits">[passes, images, 10]: the logits of each stochastic pass.</param>
/// <param name="Labels">The images' labels.</param>
public sealed record CnnMcDropout(long Seed, float[,,] Logits, int[] Labels);

/// <summary>Everything the CNN part of the study trained.</summary>
/// <param name="Heads">The seminar's heads, each on every seed.</param>
/// <param name="Variants">The normalisation variants on their seeds.</param>
/// <param name="Sensitivity">The batch-size sensitivity runs (other batch sizes than the comparison's).</param>
/// <param name="McDropout">Monte Carlo dropout per seed (empty when not asked for).</param>
/// <param name="TrainExamples">Training images used.</param>
/// <param name="TestExamples">Test images used.</param>
public sealed record CnnResults(CnnRun[] Heads, CnnRun[] Variants, CnnRun[] Sensitivity, CnnMcDropout[] McDropout,
    int TrainExamples, int TestExamples);

/// <summary>Trains the seminar CNN's heads and variants: a fresh model per head and seed, the same batch order
/// per seed (the seed also fixes the convolutions' initial weights, which every head shares).</summary>
public static class CnnExperiment
{
    /// <summary>Runs the CNN part of the study.</summary>
    /// <param name="config">Every setting.</param>
    /// <param name="seeds">One seed per replicate (from the study's named streams).</param>
    /// <param name="train">MNIST training split (normalised as the seminar).</param>
    /// <param name="test">MNIST test split.</param>
    /// <param name="log">Progress lines (null: silent).</param>
    /// <exception cref="ArgumentException">No seeds, an unknown sensitivity head, or bad settings.</exception>
    public static CnnResults Run(CnnExperimentConfig config, IReadOnlyList<long> seeds, MnistSplit train,
        MnistSplit test, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (seeds is not { Count: > 0 })
            throw new ArgumentException("seeds: expected at least one seed.", nameof(seeds));
        var all = config.Heads.Concat(config.Variants).ToDictionary(v => v.Id);
        foreach (var id in config.SensitivityHeads)
            if (!all.ContainsKey(id))
                throw new ArgumentException(
                    $"SensitivityHeads: '{id}' is not a head or variant of the configuration " +
                    $"({string.Join(", ", all.Keys)}).",
                    nameof(config));
        TorchRuntime.Initialize(seeds[0], config.Device);
        var device = TorchRuntime.Device(config.Device);
        using var threads = TorchThreads.Use(config.Threads);
        var trainSplit = config.TrainExamples is { } n ? train.Take(n) : train;
        var testSplit = config.TestExamples is { } m ? test.Take(m) : test;
        using var trainData = TensorDataset.FromMnist(trainSplit, device, flat: false, name: "MNIST train");
        using var testData = TensorDataset.FromMnist(testSplit, device, flat: false, name: "MNIST test");
        var heads = new List<CnnRun>();
        var mc = new List<CnnMcDropout>();
        foreach (var seed in seeds)
            foreach (var head in config.Heads)
            {
                heads.Add(Train(head, seed, config.BatchSize, config, trainData, testData, log, out var model));
                using (model)
                    if (head.Head == CnnHead.Dropout && config.McPasses > 0)
                        mc.Add(McDropout(model, seed, config, testSplit, device));
            }
        var variants = new List<CnnRun>();
        foreach (var seed in seeds.Take(config.VariantSeeds))
            foreach (var variant in config.Variants)
            {
                variants.Add(Train(variant, seed, config.BatchSize, config, trainData, testData, log, out var model));
                model.Dispose();
            }
        var sensitivity = new List<CnnRun>();
        foreach (var batch in config.SensitivityBatchSizes.Where(b => b != config.BatchSize))
            foreach (var seed in seeds.Take(config.SensitivitySeeds))
                foreach (var id in config.SensitivityHeads)
                {
                    sensitivity.Add(Train(all[id], seed, batch, config, trainData, testData, log, out var model));
                    model.Dispose();
                }
        return new CnnResults(heads.ToArray(), variants.ToArray(), sensitivity.ToArray(), mc.ToArray(),
            trainSplit.Count, testSplit.Count);
    }

    /// <summary>Trains one variant on one seed with Adam; returns the run and the trained model.</summary>
    static CnnRun Train(CnnVariant variant, long seed, int batchSize, CnnExperimentConfig config, TensorDataset train,
        TensorDataset test, TextWriter? log, out Network model)
    {
        var clock = Stopwatch.StartNew();
        TorchRuntime.Seed(seed); // the same convolutions for every head of a seed; then the head's own weights
        model = RegularisationNetworks.Cnn(variant);
        model.to(train.Device);
        using var adam = new Adam(model.parameters(), config.LearningRate);
        var options = new TrainOptions(batchSize, config.Epochs, Seed: seed, EvaluateTrainingSet: true);
        var history = Trainer.Fit(model, adam, train, options, test);
        long parameters = model.parameters().Sum(p => p.numel());
        clock.Stop();
        var last = history.Epochs[^1];
        log?.WriteLine($"    cnn {variant.Id}, batch {batchSize}, seed {seed}: {history.Epochs.Count} epochs, " +
                       $"test accuracy {100 * last.TestAccuracy:F2}% ({clock.Elapsed.TotalSeconds:F1} s)");
        return new CnnRun(variant.Id, seed, batchSize, history.Epochs.ToArray(), parameters, model.Description,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>Monte Carlo dropout on the first test images.</summary>
    static CnnMcDropout McDropout(Network model, long seed, CnnExperimentConfig config, MnistSplit test,
        torch.Device device)
    {
        var split = config.McTestExamples is { } k ? test.Take(Math.Min(k, test.Count)) : test;
        using var images = TensorDataset.FromMnist(split, device, flat: false, name: "MNIST test (MC dropout)");
        var logits = MonteCarloDropout.Predict(model, images.Inputs, config.McPasses,
            TorchRuntime.DeriveSeed(seed, "mc-dropout"));
        return new CnnMcDropout(seed, logits, split.Labels.Select(b => (int)b).ToArray());
    }
}
