using TorchSharp;
using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The seminar's hand-written NAG in its look-ahead form: the gradient is taken at the look-ahead
/// point, g = ∇f(p − γ·v), then v ← γ·v + lr·g and p ← p − v (v starts at zero).
/// </summary>
/// <remarks>
/// <para>Nesterov, "A method for solving the convex programming problem with convergence rate
/// O(1/k²)", Soviet Mathematics Doklady 27, 1983; the momentum form of Sutskever, Martens, Dahl and
/// Hinton, "On the importance of initialization and momentum in deep learning", ICML 2013.</para>
/// <para>How it differs from PyTorch's <c>SGD(momentum=γ, nesterov=True)</c>: PyTorch uses the
/// reformulation of Bengio, Boulanger-Lewandowski and Pascanu (2013), which stores the look-ahead point
/// itself: b ← γ·b + g(p), p ← p − lr·(g + γ·b), one gradient at the stored point. With a constant
/// rate PyTorch's iterates are this class's look-ahead points p − γ·v, so the two paths are the same
/// sequence shifted by γ·v: they meet at a minimum but differ at every step on the way.</para>
/// <para>The look-ahead gradient needs f at another point, so the optimizer evaluates f itself
/// through <c>lossAt</c> (a closure, as <c>torch.optim.LBFGS.step(closure)</c>): it moves the
/// parameters to p − γ·v, runs backward, puts back an exact copy of p, and updates. The gradient the
/// training loop computed at p is not used.</para>
/// <para>State: "velocity" (v).</para>
/// </remarks>
public sealed class LookAheadNesterov : HandWrittenOptimizer
{
    readonly Func<Tensor> _lossAt;

    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="lossAt">The loss at the present parameter values, with its graph (for a function
    /// objective: <c>objective.Evaluate</c>).</param>
    /// <param name="learningRate">lr &gt; 0 (the seminar: 0.1).</param>
    /// <param name="momentum">γ in [0, 1) (the seminar: 0.9, assumed).</param>
    /// <param name="label">The label in reports.</param>
    /// <exception cref="ArgumentException">lr not finite and positive, or γ outside [0, 1).</exception>
    public LookAheadNesterov(IEnumerable<Parameter> parameters, Func<Tensor> lossAt, double learningRate,
        double momentum = 0.9, string label = "seminar NAG")
        : base(label, parameters, learningRate)
    {
        ArgumentNullException.ThrowIfNull(lossAt);
        Momentum = InUnitInterval("momentum", momentum);
        _lossAt = lossAt;
    }

    /// <summary>γ, the weight of the previous velocity.</summary>
    public double Momentum { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> Describe() =>
        [new("momentum", Momentum), new("gradient", "at the look-ahead point p - momentum*v")];

    /// <summary>Takes the look-ahead gradient, then updates every parameter.</summary>
    public override void Step()
    {
        using var scope = torch.NewDisposeScope();
        var saved = new Tensor[Parameters.Count];
        using (torch.no_grad())
        {
            for (int i = 0; i < Parameters.Count; i++)
            {
                var p = Parameters[i];
                saved[i] = p.detach().clone();
                p.sub_(Scaled(Keep(StateOf(i), "velocity", p), Momentum));
            }
        }
        ZeroGrad();
        _lossAt().backward();
        using (torch.no_grad())
            for (int i = 0; i < Parameters.Count; i++)
                Parameters[i].copy_(saved[i]);
        base.Step();
    }

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state)
    {
        var v = state["velocity"];
        v.copy_(AddScaled(Scaled(v, Momentum), grad, LearningRate, fused: false));
        parameter.sub_(v);
    }
}
