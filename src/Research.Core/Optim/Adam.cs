using TorchSharp.Modules;

namespace Research.Core.Optim;

/// <summary>
/// Adam (optionally AMSGrad) with L2 weight decay, exactly as PyTorch 1.13's <c>torch.optim.Adam</c>
/// (single-tensor path, not capturable).
/// </summary>
/// <remarks>
/// <para>Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; AMSGrad from Reddi,
/// Kale and Kumar, "On the Convergence of Adam and Beyond", ICLR 2018. Per parameter at step t, with
/// g the gradient (negated when maximising): g ← g + weight_decay·p; m ← β1·m + (1 − β1)·g;
/// v ← β2·v + (1 − β2)·g²; AMSGrad: v̂ ← max(v̂, v), else v̂ = v;
/// p ← p − (lr / (1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps). The update is <see cref="AdamFamily"/>'s.</para>
/// <para>State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v̂, AMSGrad only). The adaptive
/// per-weight step is lr/(1 − β1^t) / (√v / √(1 − β2^t) + eps).</para>
/// </remarks>
public sealed class Adam : AdamFamily
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (default 1e-3).</param>
    /// <param name="beta1">Decay β1 ∈ [0, 1) of the first moment (default 0.9).</param>
    /// <param name="beta2">Decay β2 ∈ [0, 1) of the second moment (default 0.999).</param>
    /// <param name="eps">Term ≥ 0 added to the denominator (default 1e-8).</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 added to the gradient (default 0).</param>
    /// <param name="amsgrad">Use the running maximum of the second moment (default false).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public Adam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0, bool amsgrad = false, bool maximize = false)
        : base(OptimizerKind.Adam, parameters, learningRate, beta1, beta2, eps, weightDecay, amsgrad, maximize,
            decoupledWeightDecay: false)
    {
    }
}
