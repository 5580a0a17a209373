using System.Diagnostics;
using Research.Core.Data;
using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>Settings of one training run.</summary>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="Epochs">Passes over the training data (the run also stops at <paramref name="MaxSteps"/>).</param>
/// <param name="MaxSteps">Stop after this many optimizer steps (null: no limit).</param>
/// <param name="Seed">Seed for the batch order (torch's generator is seeded by <see cref="Runtime.TorchRuntime"/>).</param>
/// <param name="Shuffle">Shuffle each epoch (seeded) or keep the data order.</param>
/// <param name="EvaluateEachEpoch">Compute test loss and accuracy after each epoch when test data is given.</param>
public sealed record TrainOptions(
    int BatchSize = 128,
    int Epochs = 1,
    long? MaxSteps = null,
    long Seed = 0,
    bool Shuffle = true,
    bool EvaluateEachEpoch = true);

/// <summary>The state of the loop at one step, given to observers.</summary>
public sealed class StepContext
{
    /// <summary>1-based optimizer step (iteration) counter.</summary>
    public long Iteration { get; internal set; }

    /// <summary>0-based epoch.</summary>
    public int Epoch { get; internal set; }

    /// <summary>The model being trained.</summary>
    public required Network Model { get; init; }

    /// <summary>The optimizer.</summary>
    public required IOptimizer Optimizer { get; init; }

    /// <summary>The batch's inputs.</summary>
    public Tensor Inputs { get; internal set; } = null!;

    /// <summary>The batch's targets.</summary>
    public Tensor Targets { get; internal set; } = null!;

    /// <summary>The batch's mean loss (the tensor backward ran on).</summary>
    public Tensor LossTensor { get; internal set; } = null!;

    /// <summary>The batch's mean loss.</summary>
    public double Loss { get; internal set; }

    /// <summary>The learning rate used by this step.</summary>
    public double LearningRate { get; internal set; }

    /// <summary>
    /// The global L2 norm of all parameter gradients after backward (computed on first use, so
    /// observers that do not ask pay nothing).
    /// </summary>
    public double GradientNorm => _gradNorm ??= ComputeGradNorm();

    internal double? _gradNorm;

    double ComputeGradNorm()
    {
        // One fused norm per tensor in the gradient's own dtype, then the norm of the norms:
        // ||g|| = sqrt(sum_i ||g_i||^2), as torch.nn.utils.clip_grad_norm_ computes it.
        using var scope = torch.NewDisposeScope();
        var norms = Model.parameters().Where(p => p.grad is not null).Select(p => p.grad!.norm()).ToArray();
        if (norms.Length == 0) return 0.0;
        return torch.stack(norms).norm().item<float>();
    }
}

/// <summary>Per-epoch summary in the history.</summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="Steps">Steps done by the end of it.</param>
/// <param name="TrainLoss">Mean training loss over its steps.</param>
/// <param name="TestLoss">Mean test loss (NaN when no test data).</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1] (NaN when no test data).</param>
/// <param name="Seconds">Wall time of the epoch's training steps.</param>
public sealed record EpochSummary(int Epoch, long Steps, double TrainLoss, double TestLoss, double TestAccuracy, double Seconds);

/// <summary>Loss per step and a summary per epoch.</summary>
public sealed class TrainingHistory
{
    /// <summary>Training loss of each step, in order.</summary>
    public List<double> StepLoss { get; } = new();

    /// <summary>Learning rate of each step, in order.</summary>
    public List<double> StepLearningRate { get; } = new();

    /// <summary>One entry per finished epoch.</summary>
    public List<EpochSummary> Epochs { get; } = new();

    /// <summary>Test accuracy after the last evaluated epoch (NaN if none).</summary>
    public double FinalTestAccuracy => Epochs.Count == 0 ? double.NaN : Epochs[^1].TestAccuracy;
}

/// <summary>Hooks into the training loop; override what you need.</summary>
public abstract class TrainingObserver
{
    /// <summary>Before the first step.</summary>
    public virtual void OnStart(Network model, IOptimizer optimizer) { }

    /// <summary>After forward and backward: gradients are in <c>.grad</c>; parameters not yet updated.</summary>
    public virtual void OnAfterBackward(StepContext step) { }

    /// <summary>After the optimizer step: parameters and optimizer state include this step.</summary>
    public virtual void OnAfterStep(StepContext step) { }

    /// <summary>After each epoch (after evaluation).</summary>
    public virtual void OnEpochEnd(EpochSummary summary) { }

    /// <summary>After the last step (also when the run stops early).</summary>
    public virtual void OnEnd(TrainingHistory history) { }
}

/// <summary>Learning-rate schedules plug in as observers: called after each optimizer step.</summary>
public sealed class ScheduleObserver(Action<StepContext> onStep, Action<EpochSummary>? onEpoch = null) : TrainingObserver
{
    /// <inheritdoc />
    public override void OnAfterStep(StepContext step) => onStep(step);

    /// <inheritdoc />
    public override void OnEpochEnd(EpochSummary summary) => onEpoch?.Invoke(summary);
}

/// <summary>
/// The one training loop: classification with cross-entropy, seeded batch order, a dispose scope
/// per batch (native memory stays flat), observers after backward and after the step, evaluation
/// under <c>no_grad</c> in <c>eval()</c> mode.
/// </summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> and returns the history.</summary>
    /// <param name="model">The network (already on the data's device).</param>
    /// <param name="optimizer">Optimizer over the model's parameters.</param>
    /// <param name="train">Training data.</param>
    /// <param name="options">Batch size, epochs, step limit, seed.</param>
    /// <param name="test">Optional test data for per-epoch evaluation.</param>
    /// <param name="observers">Recorders, schedules, progress printers.</param>
    public static TrainingHistory Fit(Network model, IOptimizer optimizer, TensorDataset train, TrainOptions options,
        TensorDataset? test = null, IEnumerable<TrainingObserver>? observers = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(train);
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize: expected ≥ 1.");
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "Epochs: expected ≥ 1.");
        var obs = observers?.ToList() ?? new List<TrainingObserver>();
        var history = new TrainingHistory();
        var ctx = new StepContext { Model = model, Optimizer = optimizer };
        foreach (var o in obs) o.OnStart(model, optimizer);
        long step = 0;
        bool stop = false;
        for (int epoch = 0; epoch < options.Epochs && !stop; epoch++)
        {
            model.train();
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            int batches = 0;
            foreach (var indices in train.BatchIndices(options.BatchSize, options.Seed, epoch, options.Shuffle))
            {
                if (options.MaxSteps is { } max && step >= max) { stop = true; break; }
                using var scope = torch.NewDisposeScope();
                var (x, y) = train.Gather(indices);
                step++;
                optimizer.ZeroGrad();
                var logits = model.call(x);
                var loss = nn.functional.cross_entropy(logits, y);
                loss.backward();
                ctx.Iteration = step;
                ctx.Epoch = epoch;
                ctx.Inputs = x;
                ctx.Targets = y;
                ctx.LossTensor = loss;
                ctx.Loss = loss.item<float>();
                ctx.LearningRate = optimizer.LearningRate;
                ctx._gradNorm = null;
                foreach (var o in obs) o.OnAfterBackward(ctx);
                optimizer.Step();
                foreach (var o in obs) o.OnAfterStep(ctx);
                history.StepLoss.Add(ctx.Loss);
                history.StepLearningRate.Add(ctx.LearningRate);
                lossSum += ctx.Loss;
                batches++;
            }
            clock.Stop();
            if (batches == 0) break;
            var (testLoss, testAcc) = test != null && options.EvaluateEachEpoch ? Evaluate(model, test) : (double.NaN, double.NaN);
            var summary = new EpochSummary(epoch, step, lossSum / batches, testLoss, testAcc, clock.Elapsed.TotalSeconds);
            history.Epochs.Add(summary);
            foreach (var o in obs) o.OnEpochEnd(summary);
        }
        foreach (var o in obs) o.OnEnd(history);
        return history;
    }

    /// <summary>Mean cross-entropy and accuracy on <paramref name="data"/> in eval mode, without gradients.</summary>
    public static (double Loss, double Accuracy) Evaluate(Network model, TensorDataset data, int batchSize = 1000)
    {
        model.eval();
        bool capture = model.CaptureLayerTensors;
        model.CaptureLayerTensors = false;
        try
        {
            using var _ = torch.no_grad();
            double lossSum = 0;
            long correct = 0;
            foreach (var indices in data.BatchIndices(batchSize, 0, 0, shuffle: false))
            {
                using var scope = torch.NewDisposeScope();
                var (x, y) = data.Gather(indices);
                var logits = model.call(x);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }
            return (lossSum / data.Count, (double)correct / data.Count);
        }
        finally
        {
            model.CaptureLayerTensors = capture;
            model.train();
        }
    }
}
