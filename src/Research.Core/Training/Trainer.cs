using System.Diagnostics;
using Research.Core.Data;
using Research.Core.Models;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using TensorDataset = Research.Core.Data.TensorDataset;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>Settings of one training run over a data set.</summary>
/// <param name="BatchSize">Examples per step, ≥ 1.</param>
/// <param name="Epochs">Passes over the training data, ≥ 1 (the run also stops at <paramref name="MaxSteps"/>).</param>
/// <param name="MaxSteps">Stop after this many optimizer steps (null: no limit).</param>
/// <param name="Seed">Seed for the batch order (torch's generator is seeded by <see cref="Runtime.TorchRuntime"/>).</param>
/// <param name="Shuffle">Shuffle each epoch (seeded) or keep the data order.</param>
/// <param name="EvaluateEachEpoch">Compute test loss and accuracy after each epoch when test data is given.</param>
/// <param name="RecordTestBatchLosses">Also keep the mean loss of each evaluation batch of the test data
/// (<see cref="EpochSummary.TestBatchLosses"/>), for their spread (default false).</param>
/// <param name="EvaluateTrainingSet">After each epoch also evaluate the training data in eval mode without
/// gradients (<see cref="EpochSummary.TrainEvalLoss"/>), to compare with the train-mode loss of the
/// batches as trained (dropout, batch statistics); default false.</param>
/// <param name="EvaluationBatchSize">Examples per evaluation batch, ≥ 1 (default 1000).</param>
/// <param name="StopOnDivergence">Stop at the first step whose loss is NaN or infinite, before its
/// backward pass (default false: keep training, as a study of a diverging run needs; either way the
/// history says when it diverged).</param>
public sealed record TrainOptions(
    int BatchSize = 128,
    int Epochs = 1,
    long? MaxSteps = null,
    long Seed = 0,
    bool Shuffle = true,
    bool EvaluateEachEpoch = true,
    bool RecordTestBatchLosses = false,
    bool EvaluateTrainingSet = false,
    int EvaluationBatchSize = 1000,
    bool StopOnDivergence = false);

/// <summary>The state of the loop at one step, given to observers.</summary>
public sealed class StepContext
{
    /// <summary>1-based optimizer step (iteration) counter; 0 in <see cref="TrainingObserver.OnStart(StepContext)"/>.</summary>
    public long Iteration { get; internal set; }

    /// <summary>0-based epoch (always 0 for a function objective).</summary>
    public int Epoch { get; internal set; }

    /// <summary>The network being trained; null when minimising a <see cref="FunctionObjective"/>.</summary>
    public Network? Model { get; init; }

    /// <summary>The optimizer.</summary>
    public required IOptimizer Optimizer { get; init; }

    /// <summary>What is minimised.</summary>
    public required Objective Objective { get; init; }

    /// <summary>The parameters being optimised: the model's (in <c>parameters()</c> order) or the
    /// function objective's.</summary>
    public required IReadOnlyList<Parameter> Parameters { get; init; }

    /// <summary>The batch's inputs (null for a function objective).</summary>
    public Tensor? Inputs { get; internal set; }

    /// <summary>The batch's targets (null for a function objective).</summary>
    public Tensor? Targets { get; internal set; }

    /// <summary>The model's output for the batch, with its graph (null for a function objective).</summary>
    public Tensor? Output { get; internal set; }

    /// <summary>The batch's mean loss, or f for a function objective (the tensor backward ran on).</summary>
    public Tensor LossTensor { get; internal set; } = null!;

    /// <summary>The batch's mean loss, or the value of f (before this step's update).</summary>
    public double Loss { get; internal set; }

    /// <summary>The learning rate used by this step.</summary>
    public double LearningRate { get; internal set; }

    /// <summary>
    /// The global L2 norm of all parameter gradients after backward (computed on first use, so
    /// observers that do not ask pay nothing).
    /// </summary>
    public double GradientNorm => _gradNorm ??= ComputeGradNorm();

    internal double? _gradNorm;

    /// <summary>The present values of all <see cref="Parameters"/>, flattened in order into one new
    /// array (in <see cref="TrainingObserver.OnAfterStep"/>: after this step's update).</summary>
    public double[] ParameterValues()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var flat = torch.cat(Parameters.Select(p => p.detach().reshape(-1).to_type(ScalarType.Float64).cpu()).ToArray());
        return flat.data<double>().ToArray();
    }

    /// <summary>Asks the loop to stop once the present step is complete (the optimizer step and the
    /// after-step observers still run). The reason ends up in <see cref="TrainingHistory.StopReason"/>.</summary>
    /// <param name="reason">Why, in words (e.g. "loss below 1e-3").</param>
    public void RequestStop(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        StopReason ??= reason;
    }

    /// <summary>The first stop requested through <see cref="RequestStop"/>, or null.</summary>
    public string? StopReason { get; private set; }

    double ComputeGradNorm()
    {
        // One fused norm per tensor in the gradient's own dtype, then the norm of the norms:
        // ||g|| = sqrt(sum_i ||g_i||^2), as torch.nn.utils.clip_grad_norm_ computes it.
        using var scope = torch.NewDisposeScope();
        var norms = new List<Tensor>(Parameters.Count);
        foreach (var p in Parameters)
            if (p.grad is { } g) norms.Add(g.norm());
        if (norms.Count == 0) return 0.0;
        return torch.stack(norms).norm().item<float>();
    }
}

/// <summary>Per-epoch summary in the history.</summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="Steps">Steps done by the end of it.</param>
/// <param name="TrainLoss">Mean training loss over its steps (train mode, the batches as trained).</param>
/// <param name="TestLoss">Mean test loss per example (MSE per element for regression; NaN when no test data).</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1] (NaN when no test data or no accuracy).</param>
/// <param name="Seconds">Wall time of the epoch's training steps.</param>
public sealed record EpochSummary(int Epoch, long Steps, double TrainLoss, double TestLoss, double TestAccuracy, double Seconds)
{
    /// <summary>Accuracy on the training batches as they were trained (train mode, parameters before each
    /// batch's step): correct arg-max predictions over the examples of the epoch's steps. NaN for
    /// regression.</summary>
    public double TrainAccuracy { get; init; } = double.NaN;

    /// <summary>The mean loss of each evaluation batch of the test data, in order, when
    /// <see cref="TrainOptions.RecordTestBatchLosses"/>; else null. Their average weighted by batch size
    /// (the plain mean when the batches are equal) is <see cref="TestLoss"/>.</summary>
    public IReadOnlyList<double>? TestBatchLosses { get; init; }

    /// <summary>Loss on the whole training data in eval mode without gradients, after the epoch, when
    /// <see cref="TrainOptions.EvaluateTrainingSet"/>; else NaN.</summary>
    public double TrainEvalLoss { get; init; } = double.NaN;

    /// <summary>Accuracy on the whole training data in eval mode, after the epoch, when
    /// <see cref="TrainOptions.EvaluateTrainingSet"/> and the objective has an accuracy; else NaN.</summary>
    public double TrainEvalAccuracy { get; init; } = double.NaN;
}

/// <summary>The result of an evaluation.</summary>
/// <param name="Loss">Mean loss per example (per element for MSE).</param>
/// <param name="Accuracy">Accuracy in [0, 1], or NaN when the objective has none.</param>
/// <param name="BatchLosses">Mean loss of each evaluation batch in order, when asked; else null.</param>
public sealed record Evaluation(double Loss, double Accuracy, IReadOnlyList<double>? BatchLosses);

/// <summary>Loss per step, a summary per epoch, and how the run ended.</summary>
public sealed class TrainingHistory
{
    /// <summary>Training loss of each step in order (for a function objective: f before each step; a
    /// diverged run ends with the non-finite value that stopped it).</summary>
    public List<double> StepLoss { get; } = new();

    /// <summary>Learning rate of each step, in order.</summary>
    public List<double> StepLearningRate { get; } = new();

    /// <summary>One entry per finished epoch (none for a function objective).</summary>
    public List<EpochSummary> Epochs { get; } = new();

    /// <summary>Test accuracy after the last evaluated epoch (NaN if none).</summary>
    public double FinalTestAccuracy => Epochs.Count == 0 ? double.NaN : Epochs[^1].TestAccuracy;

    /// <summary>True once a step's loss (or f) was NaN or infinite. A flag, not an exception: a function
    /// objective stops there, a data run stops only with <see cref="TrainOptions.StopOnDivergence"/>.</summary>
    public bool Diverged { get; internal set; }

    /// <summary>The first step whose loss was not finite, or null.</summary>
    public long? DivergedAtIteration { get; internal set; }

    /// <summary>Why the run stopped before its planned end (an observer's request, early stopping,
    /// divergence), or null when it ran to its end (epochs, steps or MaxSteps).</summary>
    public string? StopReason { get; internal set; }
}

/// <summary>Hooks into the training loop; override what you need.</summary>
public abstract class TrainingObserver
{
    string? _stopRequest;

    /// <summary>Before the first step of any run. The default calls <see cref="OnStart(Network, IOptimizer)"/>
    /// when the run trains a network.</summary>
    /// <param name="context">The run's context (iteration 0): model (or null), optimizer, objective, parameters.</param>
    public virtual void OnStart(StepContext context)
    {
        if (context.Model is { } model) OnStart(model, context.Optimizer);
    }

    /// <summary>Before the first step of a network run (called by the default <see cref="OnStart(StepContext)"/>).</summary>
    public virtual void OnStart(Network model, IOptimizer optimizer) { }

    /// <summary>After forward and backward: gradients are in <c>.grad</c>; parameters not yet updated.</summary>
    public virtual void OnAfterBackward(StepContext step) { }

    /// <summary>After the optimizer step: parameters and optimizer state include this step.</summary>
    public virtual void OnAfterStep(StepContext step) { }

    /// <summary>After each epoch (after evaluation).</summary>
    public virtual void OnEpochEnd(EpochSummary summary) { }

    /// <summary>After the last step (also when the run stops early).</summary>
    public virtual void OnEnd(TrainingHistory history) { }

    /// <summary>Asks the loop to stop: from a step hook, once that step is complete; from
    /// <see cref="OnEpochEnd"/>, before the next epoch. The reason ends up in <see cref="TrainingHistory.StopReason"/>.</summary>
    /// <param name="reason">Why, in words.</param>
    protected void RequestStop(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        _stopRequest ??= reason;
    }

    internal string? TakeStopRequest()
    {
        var r = _stopRequest;
        _stopRequest = null;
        return r;
    }
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
/// The training loops: over mini-batches of a data set for a <see cref="DataObjective"/>
/// (cross-entropy classification, MSE regression), and over steps for a <see cref="FunctionObjective"/>.
/// Seeded batch order, a dispose scope per step (native memory stays flat), observers after backward
/// and after the step, evaluation under <c>no_grad</c> in <c>eval()</c> mode (TorchSharp's MNIST
/// example, PyTorch's usual loop).
/// </summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> by cross-entropy classification and returns the history
    /// (the form before objectives; the same as passing <see cref="DataObjective.CrossEntropy"/>).</summary>
    /// <param name="model">The network (already on the data's device).</param>
    /// <param name="optimizer">Optimizer over the model's parameters.</param>
    /// <param name="train">Training data with class-label targets.</param>
    /// <param name="options">Batch size, epochs, step limit, seed, evaluation.</param>
    /// <param name="test">Optional test data for per-epoch evaluation.</param>
    /// <param name="observers">Recorders, schedules, progress printers, early stopping.</param>
    /// <exception cref="ArgumentException">Bad options, a bad learning rate, or value targets.</exception>
    public static TrainingHistory Fit(Network model, IOptimizer optimizer, TensorDataset train, TrainOptions options,
        TensorDataset? test = null, IEnumerable<TrainingObserver>? observers = null) =>
        Fit(model, optimizer, DataObjective.CrossEntropy, train, options, test, observers);

    /// <summary>Trains <paramref name="model"/> on <paramref name="objective"/> and returns the history.</summary>
    /// <param name="model">The network (already on the data's device).</param>
    /// <param name="optimizer">Optimizer over the model's parameters.</param>
    /// <param name="objective"><see cref="DataObjective.CrossEntropy"/> (class labels) or
    /// <see cref="DataObjective.MeanSquaredError"/> (values [N, d]).</param>
    /// <param name="train">Training data whose targets fit the objective.</param>
    /// <param name="options">Batch size, epochs, step limit, seed, evaluation.</param>
    /// <param name="test">Optional test data for per-epoch evaluation (same kind of targets).</param>
    /// <param name="observers">Recorders, schedules, progress printers, early stopping.</param>
    /// <exception cref="ArgumentException">Bad options (the message names the option and the value), a
    /// learning rate that is negative, NaN or infinite, targets of the wrong kind for the objective, or a
    /// model output that does not fit the targets.</exception>
    public static TrainingHistory Fit(Network model, IOptimizer optimizer, DataObjective objective, TensorDataset train,
        TrainOptions options, TensorDataset? test = null, IEnumerable<TrainingObserver>? observers = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        CheckOptions(options);
        objective.CheckData(train, "train");
        if (test is not null) objective.CheckData(test, "test");
        CheckLearningRate(optimizer);
        var obs = observers?.ToList() ?? new List<TrainingObserver>();
        var history = new TrainingHistory();
        var ctx = new StepContext { Model = model, Optimizer = optimizer, Objective = objective, Parameters = model.parameters().ToList() };
        foreach (var o in obs) o.TakeStopRequest();
        foreach (var o in obs) o.OnStart(ctx);
        long step = 0;
        bool stop = false;
        for (int epoch = 0; epoch < options.Epochs && !stop; epoch++)
        {
            model.train();
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long correct = 0, seen = 0;
            int batches = 0;
            foreach (var indices in train.BatchIndices(options.BatchSize, options.Seed, epoch, options.Shuffle))
            {
                if (options.MaxSteps is { } max && step >= max) { stop = true; break; }
                using var scope = torch.NewDisposeScope();
                var (x, y) = train.Gather(indices);
                step++;
                double lr = CheckLearningRate(optimizer);
                optimizer.ZeroGrad();
                var output = model.call(x);
                if (step == 1) objective.CheckShapes(output, y);
                var loss = objective.Loss(output, y);
                double lossValue = loss.item<float>();
                if (!double.IsFinite(lossValue) && !history.Diverged)
                {
                    history.Diverged = true;
                    history.DivergedAtIteration = step;
                    if (options.StopOnDivergence)
                    {
                        StopDiverged(history, $"the loss was {lossValue} at step {step}", lossValue, lr);
                        stop = true;
                        break;
                    }
                }
                loss.backward();
                if (objective.HasAccuracy)
                {
                    correct += objective.Correct(output.detach(), y);
                    seen += indices.Length;
                }
                ctx.Iteration = step;
                ctx.Epoch = epoch;
                ctx.Inputs = x;
                ctx.Targets = y;
                ctx.Output = output;
                Step(ctx, loss, lossValue, lr, optimizer, obs, history);
                lossSum += lossValue;
                batches++;
                if (StopRequested(ctx, obs) is { } reason)
                {
                    history.StopReason = reason;
                    stop = true;
                    break;
                }
            }
            clock.Stop();
            ctx.Inputs = ctx.Targets = ctx.Output = null;
            if (batches == 0) break;
            var summary = new EpochSummary(epoch, step, lossSum / batches, double.NaN, double.NaN, clock.Elapsed.TotalSeconds)
            {
                TrainAccuracy = objective.HasAccuracy ? (double)correct / seen : double.NaN,
            };
            if (test != null && options.EvaluateEachEpoch)
            {
                var e = Evaluate(model, objective, test, options.EvaluationBatchSize, options.RecordTestBatchLosses);
                summary = summary with { TestLoss = e.Loss, TestAccuracy = e.Accuracy, TestBatchLosses = e.BatchLosses };
            }
            if (options.EvaluateTrainingSet)
            {
                var e = Evaluate(model, objective, train, options.EvaluationBatchSize);
                summary = summary with { TrainEvalLoss = e.Loss, TrainEvalAccuracy = e.Accuracy };
            }
            history.Epochs.Add(summary);
            foreach (var o in obs) o.OnEpochEnd(summary);
            if (!stop && StopRequested(ctx, obs) is { } epochReason)
            {
                history.StopReason = epochReason;
                stop = true;
            }
        }
        foreach (var o in obs) o.OnEnd(history);
        return history;
    }

    /// <summary>
    /// Minimises a function of the parameters alone for <paramref name="steps"/> steps: each step
    /// computes f, runs backward and steps the optimizer; observers see every step (iteration, f
    /// before the update, the parameters through <see cref="StepContext.ParameterValues"/>). A step whose
    /// f is NaN or infinite is recorded and ends the run, marked <see cref="TrainingHistory.Diverged"/>
    /// (no backward, no update, no observer call for it).
    /// </summary>
    /// <param name="objective">f and its parameters.</param>
    /// <param name="optimizer">Any optimizer over the objective's parameters.</param>
    /// <param name="steps">Number of optimizer steps, ≥ 1.</param>
    /// <param name="observers">Recorders (e.g. <see cref="TrajectoryRecorder"/>), schedules, stoppers.</param>
    /// <exception cref="ArgumentException">steps &lt; 1, a bad learning rate, or an optimizer that does not
    /// hold the objective's parameters.</exception>
    public static TrainingHistory Minimize(FunctionObjective objective, IOptimizer optimizer, int steps,
        IEnumerable<TrainingObserver>? observers = null)
    {
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"{objective.Name}: steps: expected an integer >= 1, got {steps}.");
        CheckLearningRate(optimizer);
        if (optimizer is Optim.Optimizer own)
        {
            var held = new HashSet<Parameter>(own.Parameters, ReferenceEqualityComparer.Instance);
            for (int i = 0; i < objective.Parameters.Count; i++)
                if (!held.Contains(objective.Parameters[i]))
                    throw new ArgumentException(
                        $"{objective.Name}: parameter {i} of the objective is not one of the {own.Name} optimizer's " +
                        $"{own.Parameters.Count} parameters, so it would never move. Create the optimizer over " +
                        "objective.Parameters.", nameof(optimizer));
        }
        var obs = observers?.ToList() ?? new List<TrainingObserver>();
        var history = new TrainingHistory();
        var ctx = new StepContext { Model = null, Optimizer = optimizer, Objective = objective, Parameters = objective.Parameters };
        foreach (var o in obs) o.TakeStopRequest();
        foreach (var o in obs) o.OnStart(ctx);
        for (long step = 1; step <= steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            double lr = CheckLearningRate(optimizer);
            optimizer.ZeroGrad();
            var f = objective.Evaluate();
            double value = Objective.ScalarValue(f);
            if (!double.IsFinite(value))
            {
                history.Diverged = true;
                history.DivergedAtIteration = step;
                StopDiverged(history, $"{objective.Name} = {value} at step {step}", value, lr);
                break;
            }
            f.backward();
            ctx.Iteration = step;
            Step(ctx, f, value, lr, optimizer, obs, history);
            if (StopRequested(ctx, obs) is { } reason)
            {
                history.StopReason = reason;
                break;
            }
        }
        foreach (var o in obs) o.OnEnd(history);
        return history;
    }

    /// <summary>Mean cross-entropy and accuracy on <paramref name="data"/> (class labels) in eval mode,
    /// without gradients (the form before objectives).</summary>
    /// <exception cref="ArgumentException">Value targets (use the overload taking an objective).</exception>
    public static (double Loss, double Accuracy) Evaluate(Network model, TensorDataset data, int batchSize = 1000)
    {
        var e = Evaluate(model, DataObjective.CrossEntropy, data, batchSize);
        return (e.Loss, e.Accuracy);
    }

    /// <summary>
    /// The objective's mean loss on <paramref name="data"/> (cross-entropy per example; MSE per element
    /// for regression) and the accuracy (classification; NaN for regression), in eval mode without
    /// gradients; the model is back in train mode afterwards.
    /// </summary>
    /// <param name="model">The network.</param>
    /// <param name="objective">The loss.</param>
    /// <param name="data">The data (targets of the objective's kind).</param>
    /// <param name="batchSize">Examples per evaluation batch, ≥ 1.</param>
    /// <param name="batchLosses">Also return the mean loss of each batch.</param>
    /// <exception cref="ArgumentException">A batch size &lt; 1, targets of the wrong kind, or a model
    /// output that does not fit the targets.</exception>
    public static Evaluation Evaluate(Network model, DataObjective objective, TensorDataset data, int batchSize = 1000,
        bool batchLosses = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"Evaluate: batchSize: expected an integer >= 1, got {batchSize}.");
        objective.CheckData(data, "evaluation");
        model.eval();
        bool capture = model.CaptureLayerTensors;
        model.CaptureLayerTensors = false;
        try
        {
            using var _ = torch.no_grad();
            double lossSum = 0;
            long correct = 0, terms = 0;
            var perBatch = batchLosses ? new List<double>() : null;
            bool first = true;
            foreach (var indices in data.BatchIndices(batchSize, 0, 0, shuffle: false))
            {
                using var scope = torch.NewDisposeScope();
                var (x, y) = data.Gather(indices);
                var output = model.call(x);
                if (first) objective.CheckShapes(output, y);
                first = false;
                var (sum, n) = objective.SumLoss(output, y);
                lossSum += sum;
                terms += n;
                perBatch?.Add(sum / n);
                if (objective.HasAccuracy) correct += objective.Correct(output, y);
            }
            double accuracy = objective.HasAccuracy ? (double)correct / data.Count : double.NaN;
            return new Evaluation(lossSum / terms, accuracy, perBatch);
        }
        finally
        {
            model.CaptureLayerTensors = capture;
            model.train();
        }
    }

    /// <summary>The part of a step after backward: observers, the optimizer step, observers, history.</summary>
    static void Step(StepContext ctx, Tensor loss, double lossValue, double lr, IOptimizer optimizer,
        List<TrainingObserver> observers, TrainingHistory history)
    {
        ctx.LossTensor = loss;
        ctx.Loss = lossValue;
        ctx.LearningRate = lr;
        ctx._gradNorm = null;
        foreach (var o in observers) o.OnAfterBackward(ctx);
        optimizer.Step();
        foreach (var o in observers) o.OnAfterStep(ctx);
        history.StepLoss.Add(lossValue);
        history.StepLearningRate.Add(lr);
    }

    /// <summary>Records the step that diverged (its loss, no update) and why the run stops.</summary>
    static void StopDiverged(TrainingHistory history, string what, double lossValue, double lr)
    {
        history.StepLoss.Add(lossValue);
        history.StepLearningRate.Add(lr);
        history.StopReason = "diverged: " + what;
    }

    static void CheckOptions(TrainOptions options)
    {
        void Require(bool ok, string name, object value, string fix)
        {
            if (!ok)
                throw new ArgumentOutOfRangeException(nameof(options), value,
                    $"TrainOptions.{name}: expected an integer >= 1, got {value}. {fix}");
        }
        Require(options.BatchSize >= 1, nameof(options.BatchSize), options.BatchSize, "Set it to the examples per step (e.g. 128).");
        Require(options.Epochs >= 1, nameof(options.Epochs), options.Epochs, "Use MaxSteps to stop within an epoch.");
        Require(options.EvaluationBatchSize >= 1, nameof(options.EvaluationBatchSize), options.EvaluationBatchSize,
            "The default is 1000.");
        if (options.MaxSteps is { } m) Require(m >= 1, nameof(options.MaxSteps), m, "Use null for no limit.");
    }

    static double CheckLearningRate(IOptimizer optimizer)
    {
        double lr = optimizer.LearningRate;
        if (!(lr >= 0) || double.IsInfinity(lr))
            throw new ArgumentException(
                $"the optimizer {optimizer.Name} has learning rate {lr}; expected a finite value >= 0. Check its lr " +
                "and the schedule that sets it.", nameof(optimizer));
        return lr;
    }

    static string? StopRequested(StepContext ctx, List<TrainingObserver> observers)
    {
        string? reason = ctx.StopReason;
        foreach (var o in observers)
            if (o.TakeStopRequest() is { } r) reason ??= r;
        return reason;
    }
}
