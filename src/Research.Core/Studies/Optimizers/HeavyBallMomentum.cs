using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The seminar's hand-written Momentum (Polyak's heavy ball): v ← γ·v + lr·g, p ← p − v, with the
/// velocity v starting at zero. The self-study notes' Momentum ("Deep Learning from Scratch", ch. 6:
/// v ← μ·v − lr·g, p ← p + v) is the same recurrence for −v, so both notebooks use this class.
/// </summary>
/// <remarks>
/// <para>Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
/// Computational Mathematics and Mathematical Physics 4(5), 1964.</para>
/// <para>How it differs from PyTorch's <c>SGD(momentum=γ)</c>: PyTorch keeps the velocity in gradient
/// units, b ← γ·b + g (b = g on the first step), and applies the present rate to all of it,
/// p ← p − lr·b. With a constant rate v = lr·b, so the two trajectories agree up to rounding (the
/// study checks to 1e-12); when a schedule changes lr, PyTorch rescales the whole accumulated velocity
/// at once, the heavy ball only its newest term. Expressions are evaluated as Python writes them,
/// each product and sum rounded separately.</para>
/// <para>State: "velocity" (v).</para>
/// </remarks>
public sealed class HeavyBallMomentum : HandWrittenOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">lr &gt; 0 (the seminar: 0.1; the notes: 0.1).</param>
    /// <param name="momentum">γ in [0, 1) (the seminar: 0.9, assumed; the notes: 0.95).</param>
    /// <param name="label">The label in reports.</param>
    /// <exception cref="ArgumentException">lr not finite and positive, or γ outside [0, 1).</exception>
    public HeavyBallMomentum(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0.9,
        string label = "seminar Momentum")
        : base(label, parameters, learningRate)
        => Momentum = InUnitInterval("momentum", momentum);

    /// <summary>γ, the weight of the previous velocity.</summary>
    public double Momentum { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> Describe() => [new("momentum", Momentum)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state)
    {
        var v = Keep(state, "velocity", parameter);
        v.copy_(AddScaled(Scaled(v, Momentum), grad, LearningRate, fused: false));
        parameter.sub_(v);
    }
}
