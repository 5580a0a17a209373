using Research.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>
/// What a training run minimises. A closed set of three: <see cref="CrossEntropyClassification"/> and
/// <see cref="MeanSquaredErrorRegression"/> (losses over mini-batches of a <see cref="TensorDataset"/>,
/// for <see cref="Trainer.Fit(Models.Network, IOptimizer, DataObjective, TensorDataset, TrainOptions, TensorDataset?, IEnumerable{TrainingObserver}?)"/>)
/// and <see cref="FunctionObjective"/> (a differentiable function of the parameters alone, no data,
/// for <see cref="Trainer.Minimize"/>).
/// </summary>
public abstract class Objective
{
    private protected Objective() { }

    /// <summary>The value of a one-element tensor as a double: exact for float32 and float64 (a float32
    /// value widens without rounding, as <c>(double)t.item&lt;float&gt;()</c>).</summary>
    internal static double ScalarValue(Tensor t) =>
        t.dtype == ScalarType.Float64 ? t.item<double>() : t.dtype == ScalarType.Float32 ? t.item<float>() : t.to_type(ScalarType.Float64).item<double>();

    /// <summary>A short name for messages, manifests and reports ("cross_entropy", "mse", a function's name).</summary>
    public abstract string Name { get; }

    /// <summary>The name.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// A loss over mini-batches of a data set, averaged as PyTorch's losses with <c>reduction="mean"</c>.
/// Use <see cref="CrossEntropy"/> or <see cref="MeanSquaredError"/>.
/// </summary>
public abstract class DataObjective : Objective
{
    private protected DataObjective() { }

    /// <summary>Cross-entropy classification (class-label targets).</summary>
    public static CrossEntropyClassification CrossEntropy { get; } = new();

    /// <summary>Mean-squared-error regression (value targets [N, d]).</summary>
    public static MeanSquaredErrorRegression MeanSquaredError { get; } = new();

    /// <summary>The kind of targets this loss needs.</summary>
    public abstract TargetKind Targets { get; }

    /// <summary>True when the loss has an accuracy (classification).</summary>
    public abstract bool HasAccuracy { get; }

    /// <summary>The batch's mean loss, the tensor backward runs on.</summary>
    /// <param name="output">The model's output for the batch.</param>
    /// <param name="targets">The batch's targets.</param>
    public abstract Tensor Loss(Tensor output, Tensor targets);

    /// <summary>The summed loss of a batch (PyTorch's <c>reduction="sum"</c>) as libtorch computes it
    /// in the output's dtype, and the number of terms it sums (examples for cross-entropy, elements
    /// for MSE), so that sum/terms is the mean.</summary>
    internal abstract (double Sum, long Terms) SumLoss(Tensor output, Tensor targets);

    /// <summary>Examples of the batch whose arg-max output is the target (0 when there is no accuracy).</summary>
    internal virtual long Correct(Tensor output, Tensor targets) => 0;

    /// <summary>Throws unless <paramref name="data"/>'s targets are of the kind this loss needs.</summary>
    /// <param name="data">The data set.</param>
    /// <param name="role">What it is for, for the message ("train", "test").</param>
    /// <exception cref="ArgumentException">The targets are of the other kind (the message says which fits).</exception>
    public void CheckData(TensorDataset data, string role)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.TargetKind == Targets) return;
        string shape = "[" + string.Join(", ", data.Targets.shape) + "]";
        string fix = data.TargetKind == TargetKind.Values
            ? "Use DataObjective.MeanSquaredError for value targets, or give integer class labels [N]."
            : "Use DataObjective.CrossEntropy for class labels, or give float values [N, d] (TensorDataset.ForRegression).";
        throw new ArgumentException(
            $"{Name}: the {role} data '{data.Description}' has {data.TargetKind} targets ({data.Targets.dtype} {shape}); " +
            $"expected {Targets}. {fix}", role);
    }

    /// <summary>Throws unless the model's output fits the targets (checked on the first batch).</summary>
    internal virtual void CheckShapes(Tensor output, Tensor targets) { }
}
