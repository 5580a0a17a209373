using TorchSharp.Modules;

namespace Research.Core.Optim;

/// <summary>
/// AdamW: Adam with decoupled weight decay, exactly as PyTorch 1.13's <c>torch.optim.AdamW</c>
/// (single-tensor path, not capturable).
/// </summary>
/// <remarks>
/// <para>Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019. Per parameter:
/// p ← p·(1 − lr·weight_decay) first, then the Adam step of <see cref="Adam"/> on the raw gradient
/// (no L2 term in the gradient). The decay is scaled by the current learning rate, as in PyTorch, so a
/// schedule scales it too. The update is <see cref="AdamFamily"/>'s.</para>
/// <para>State: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (AMSGrad only).</para>
/// </remarks>
public sealed class AdamW : AdamFamily
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults (weight decay 1e-2).</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (default 1e-3).</param>
    /// <param name="beta1">Decay β1 ∈ [0, 1) of the first moment (default 0.9).</param>
    /// <param name="beta2">Decay β2 ∈ [0, 1) of the second moment (default 0.999).</param>
    /// <param name="eps">Term ≥ 0 added to the denominator (default 1e-8).</param>
    /// <param name="weightDecay">Decoupled weight decay coefficient ≥ 0 (default 1e-2).</param>
    /// <param name="amsgrad">Use the running maximum of the second moment (default false).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public AdamW(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(OptimizerKind.AdamW, parameters, learningRate, beta1, beta2, eps, weightDecay, amsgrad, maximize,
            decoupledWeightDecay: true)
    {
    }
}
