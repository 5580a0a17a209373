using Research.Core.Optim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>What the training loop needs of an optimizer (the toolkit's own optimizers implement it).
/// Its name and learning rate are the <see cref="ILearningRate"/> capability, so schedules accept
/// any <see cref="IOptimizer"/>.</summary>
public interface IOptimizer : ILearningRate
{
    /// <summary>Every hyperparameter by its PyTorch name, for manifests and reports.</summary>
    IReadOnlyDictionary<string, object> Hyperparameters { get; }

    /// <summary>Clears the gradients of the parameters.</summary>
    void ZeroGrad();

    /// <summary>Updates the parameters from their gradients.</summary>
    void Step();

    /// <summary>A live state tensor of a parameter ("exp_avg_sq", "momentum_buffer" …) or null.</summary>
    Tensor? GetState(Parameter parameter, string name);
}

/// <summary>
/// Wraps one of TorchSharp's built-in optimizers. Prefer the toolkit's own optimizers, which are
/// checked step for step against PyTorch; TorchSharp 0.107's RAdam is wrong (see DESIGN.md).
/// </summary>
public sealed class TorchSharpOptimizer : IOptimizer
{
    readonly optim.Optimizer _inner;

    /// <summary>Wraps <paramref name="inner"/>; <paramref name="hyperparameters"/> are only reported.</summary>
    public TorchSharpOptimizer(string name, optim.Optimizer inner, IReadOnlyDictionary<string, object>? hyperparameters = null)
    {
        Name = name;
        _inner = inner;
        Hyperparameters = hyperparameters ?? new Dictionary<string, object>();
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, object> Hyperparameters { get; }

    /// <inheritdoc />
    public double LearningRate
    {
        get => _inner.ParamGroups.First().LearningRate;
        set { foreach (var g in _inner.ParamGroups) g.LearningRate = value; }
    }

    /// <inheritdoc />
    public void ZeroGrad() => _inner.zero_grad();

    /// <inheritdoc />
    public void Step() => _inner.step();

    /// <inheritdoc />
    public Tensor? GetState(Parameter parameter, string name) => null;
}
