using static Research.Core.Optim.UpdateArithmetic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The seminar's hand-written Adadelta with γ = 0.1 and no learning rate:
/// E[g²] ← γ·E[g²] + (1 − γ)·g², Δ = −√(E[Δ²] + ε)/√(E[g²] + ε)·g, E[Δ²] ← γ·E[Δ²] + (1 − γ)·Δ², p ← p + Δ.
/// </summary>
/// <remarks>
/// <para>Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012 (Algorithm 1, whose
/// update has no learning rate).</para>
/// <para>How it differs from PyTorch's <c>Adadelta</c>: PyTorch multiplies Δ by lr (default 1.0) and
/// decays with ρ = 0.9; this class ignores the learning rate it is given (the seminar passed lr = 0.1
/// to every optimizer, so its Adadelta ran at an effective lr of 1) and weights the past with
/// γ = 0.1, so its running averages remember about one step. Reading the notebook's γ as the weight
/// of the past (PyTorch's ρ) is an assumption, as is ε = 1e-6 (PyTorch's and Zeiler's).</para>
/// <para>State: "square_avg" (E[g²]) and "acc_delta" (E[Δ²]).</para>
/// </remarks>
public sealed class SeminarAdadelta : HandWrittenOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">lr &gt; 0: checked and reported, never used.</param>
    /// <param name="gamma">γ in [0, 1), the weight of the past averages (the seminar: 0.1).</param>
    /// <param name="eps">ε &gt; 0 inside both roots (default 1e-6, assumed).</param>
    /// <param name="label">The label in reports.</param>
    /// <exception cref="ArgumentException">lr or ε not finite and positive, or γ outside [0, 1).</exception>
    public SeminarAdadelta(IEnumerable<Parameter> parameters, double learningRate, double gamma = 0.1,
        double eps = 1e-6, string label = "seminar Adadelta")
        : base(label, parameters, learningRate)
    {
        Gamma = InUnitInterval("gamma", gamma);
        Eps = Positive("eps", eps);
    }

    /// <summary>γ, the weight of the past in both running averages.</summary>
    public double Gamma { get; }

    /// <summary>ε inside the square roots.</summary>
    public double Eps { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> Describe() =>
        [new("gamma", Gamma), new("eps", Eps), new("lr is used", false)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state)
    {
        var squareAvg = Keep(state, "square_avg", parameter);
        var accDelta = Keep(state, "acc_delta", parameter);
        squareAvg.copy_(Scaled(squareAvg, Gamma).add_(Scaled(grad.mul(grad), 1 - Gamma)));
        var delta = AddScalar(accDelta, Eps).sqrt_().div_(AddScalar(squareAvg, Eps).sqrt_()).mul_(grad).neg_();
        accDelta.copy_(Scaled(accDelta, Gamma).add_(Scaled(delta.mul(delta), 1 - Gamma)));
        parameter.add_(delta);
    }
}
