using TorchSharp;
using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// Adagrad, exactly as PyTorch 1.13's <c>torch.optim.Adagrad</c> (single-tensor path, dense gradients).
/// </summary>
/// <remarks>
/// <para>Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
/// Optimization", JMLR 12 (2011). Per parameter at step t, with g the gradient (negated when
/// maximising): g ← g + weight_decay·p; clr = lr / (1 + (t − 1)·lr_decay); s ← s + g·g;
/// p ← p − clr·g / (√s + eps).</para>
/// <para>State: "sum" (s, starting at initial_accumulator_value).</para>
/// </remarks>
public sealed class Adagrad : Optimizer
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (default 1e-2).</param>
    /// <param name="lrDecay">Learning-rate decay ≥ 0 (default 0).</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 (default 0).</param>
    /// <param name="initialAccumulatorValue">Starting value ≥ 0 of the sum of squared gradients (default 0).</param>
    /// <param name="eps">Term ≥ 0 added to the denominator (default 1e-10).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public Adagrad(IEnumerable<Parameter> parameters, double learningRate = 1e-2, double lrDecay = 0,
        double weightDecay = 0, double initialAccumulatorValue = 0, double eps = 1e-10, bool maximize = false)
        : base(OptimizerKind.Adagrad, parameters, learningRate)
    {
        RequireFiniteNonNegative(lrDecay, nameof(lrDecay), "lr_decay");
        RequireFiniteNonNegative(weightDecay, nameof(weightDecay), "weight_decay");
        RequireFiniteNonNegative(initialAccumulatorValue, nameof(initialAccumulatorValue), "initial_accumulator_value");
        RequireFiniteNonNegative(eps, nameof(eps), "eps");
        LrDecay = lrDecay;
        WeightDecay = weightDecay;
        InitialAccumulatorValue = initialAccumulatorValue;
        Eps = eps;
        Maximize = maximize;
    }

    /// <summary>Learning-rate decay per step.</summary>
    public double LrDecay { get; }

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Starting value of the accumulated squared gradients.</summary>
    public double InitialAccumulatorValue { get; }

    /// <summary>Term added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => ["sum"];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("lr_decay", LrDecay), new("weight_decay", WeightDecay),
        new("initial_accumulator_value", InitialAccumulatorValue), new("eps", Eps), new("maximize", Maximize),
    ];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("sum"))
        {
            using var init = InitialAccumulatorValue.ToScalar();
            state.Create("sum", torch.full_like(parameter, init));
        }
        var sum = state["sum"];
        var g = Maximize ? grad.neg() : grad;
        if (WeightDecay != 0) g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        double clr = LearningRate / (1 + (state.Step - 1) * LrDecay);
        AddProduct_(sum, g, g, 1, FusedMultiplyAdd);
        var std = Sqrt(sum);
        AddScalar_(std, Eps);
        AddQuotient_(parameter, g, std, -clr);
    }
}
