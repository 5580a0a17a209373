using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// AdamW: Adam with decoupled weight decay, exactly as PyTorch 1.13's <c>torch.optim.AdamW</c>
/// (single-tensor path, not capturable).
/// </summary>
/// <remarks>
/// <para>Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019. Per parameter:
/// p ← p·(1 − lr·weight_decay) first, then the Adam step of <see cref="Adam"/> on the raw gradient
/// (no L2 term in the gradient). The decay is scaled by the current learning rate, as in PyTorch, so a
/// schedule scales it too.</para>
/// <para>State: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (AMSGrad only).</para>
/// </remarks>
public sealed class AdamW : Optimizer
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
        : base(OptimizerKind.AdamW, parameters, learningRate)
    {
        AdamCore.Validate(Name, beta1, beta2, eps, weightDecay);
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        Amsgrad = amsgrad;
        Maximize = maximize;
    }

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Term added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>Decoupled weight decay coefficient (multiplied by the learning rate at each step).</summary>
    public double WeightDecay { get; }

    /// <summary>Whether AMSGrad's running maximum of the second moment is used.</summary>
    public bool Amsgrad { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => AdamCore.StateNames(Amsgrad);

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("betas", new[] { Beta1, Beta2 }), new("eps", Eps), new("weight_decay", WeightDecay),
        new("amsgrad", Amsgrad), new("maximize", Maximize),
    ];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("exp_avg"))
            foreach (var name in StateNames) state.Create(name, zeros_like(parameter));
        var g = Maximize ? grad.neg() : grad;
        UpdateArithmetic.Scale_(parameter, 1 - LearningRate * WeightDecay);
        AdamCore.Apply(parameter, g, state.Step, state["exp_avg"], state["exp_avg_sq"],
            Amsgrad ? state["max_exp_avg_sq"] : null, LearningRate, Beta1, Beta2, Eps, FusedMultiplyAdd, Sqrt);
    }
}
