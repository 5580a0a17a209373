using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// Adadelta, exactly as PyTorch 1.13's <c>torch.optim.Adadelta</c> (single-tensor path).
/// </summary>
/// <remarks>
/// <para>Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701 (2012). Per parameter,
/// with g the gradient (negated when maximising): g ← g + weight_decay·p; v ← ρ·v + (1 − ρ)·g²;
/// Δ = √(u + eps) / √(v + eps) · g; u ← ρ·u + (1 − ρ)·Δ²; p ← p − lr·Δ.</para>
/// <para>State: "square_avg" (v) and "acc_delta" (u).</para>
/// </remarks>
public sealed class Adadelta : Optimizer
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Factor lr ≥ 0 scaling Δ before it is applied (default 1.0).</param>
    /// <param name="rho">Decay ρ ∈ [0, 1] of the running averages (default 0.9).</param>
    /// <param name="eps">Term ≥ 0 added inside the square roots (default 1e-6).</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 (default 0).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public Adadelta(IEnumerable<Parameter> parameters, double learningRate = 1.0, double rho = 0.9, double eps = 1e-6,
        double weightDecay = 0, bool maximize = false)
        : base(OptimizerKind.Adadelta, parameters, learningRate)
    {
        Require(rho >= 0 && rho <= 1, nameof(rho), "rho", "0 <= rho <= 1", rho);
        RequireFiniteNonNegative(eps, nameof(eps), "eps");
        RequireFiniteNonNegative(weightDecay, nameof(weightDecay), "weight_decay");
        Rho = rho;
        Eps = eps;
        WeightDecay = weightDecay;
        Maximize = maximize;
    }

    /// <summary>Decay of the running averages.</summary>
    public double Rho { get; }

    /// <summary>Term added inside the square roots.</summary>
    public double Eps { get; }

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => ["square_avg", "acc_delta"];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
        [new("rho", Rho), new("eps", Eps), new("weight_decay", WeightDecay), new("maximize", Maximize)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("square_avg"))
        {
            state.Create("square_avg", zeros_like(parameter));
            state.Create("acc_delta", zeros_like(parameter));
        }
        var squareAvg = state["square_avg"];
        var accDelta = state["acc_delta"];
        var g = Maximize ? grad.neg() : grad;
        if (WeightDecay != 0) g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        Scale_(squareAvg, Rho);
        AddProduct_(squareAvg, g, g, 1 - Rho, FusedMultiplyAdd);
        var std = Sqrt(AddScalar(squareAvg, Eps));
        var delta = Sqrt(AddScalar(accDelta, Eps)).div_(std).mul_(g);
        Scale_(accDelta, Rho);
        AddProduct_(accDelta, delta, delta, 1 - Rho, FusedMultiplyAdd);
        AddScaled_(parameter, delta, -LearningRate, FusedMultiplyAdd);
    }
}
