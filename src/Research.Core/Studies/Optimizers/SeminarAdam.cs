using static Research.Core.Optim.UpdateArithmetic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The seminar's hand-written Adam, which stores its bias-corrected moments: at step t,
/// m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², then m ← m/(1 − β1^t) and v ← v/(1 − β2^t) in place,
/// and p ← p − lr·m/(√v + ε).
/// </summary>
/// <remarks>
/// <para>Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (Algorithm 1 computes
/// m̂ and v̂ as new values and keeps m and v uncorrected).</para>
/// <para>How it differs from PyTorch's <c>Adam</c>: PyTorch never writes the correction back. Writing
/// it back divides the stored moments again at every step, so v grows by about β2/(1 − β2^t) ≈ 1/(t·(1 − β2))
/// per step (500× at t = 2, 330× at t = 3): √v outruns m, and the step lr·m/(√v + ε) falls to about
/// 0.2·lr at t = 2, 0.04·lr at t = 3 and below 1e-3·lr from t = 5. The optimizer moves about 1.3·lr in
/// all and then stands still; in float64 v overflows to ∞ near t = 350, after which every step is
/// exactly zero. β1 = 0.9, β2 = 0.999 and ε = 1e-8 are assumed (PyTorch's defaults).</para>
/// <para>State: "exp_avg" (m) and "exp_avg_sq" (v), both as stored after the correction.</para>
/// </remarks>
public sealed class SeminarAdam : HandWrittenOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">lr &gt; 0 (the seminar: 0.1).</param>
    /// <param name="beta1">β1 in [0, 1) (default 0.9).</param>
    /// <param name="beta2">β2 in [0, 1) (default 0.999).</param>
    /// <param name="eps">ε &gt; 0 added to √v (default 1e-8).</param>
    /// <param name="label">The label in reports.</param>
    /// <exception cref="ArgumentException">lr or ε not finite and positive, or a β outside [0, 1).</exception>
    public SeminarAdam(IEnumerable<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, string label = "seminar Adam")
        : base(label, parameters, learningRate)
    {
        Beta1 = InUnitInterval("beta1", beta1);
        Beta2 = InUnitInterval("beta2", beta2);
        Eps = Positive("eps", eps);
    }

    /// <summary>β1, the decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>β2, the decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>ε, added to √v.</summary>
    public double Eps { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> Describe() =>
        [new("betas", new[] { Beta1, Beta2 }), new("eps", Eps), new("bias correction", "stored in m and v (in place)")];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state)
    {
        var m = Keep(state, "exp_avg", parameter);
        var v = Keep(state, "exp_avg_sq", parameter);
        m.copy_(Scaled(m, Beta1).add_(Scaled(grad, 1 - Beta1)));
        v.copy_(Scaled(v, Beta2).add_(Scaled(grad.mul(grad), 1 - Beta2)));
        m.copy_(Divided(m, 1 - Math.Pow(Beta1, StepCount)));
        v.copy_(Divided(v, 1 - Math.Pow(Beta2, StepCount)));
        parameter.sub_(Scaled(m, LearningRate).div_(AddScalar(v.sqrt(), Eps)));
    }
}
