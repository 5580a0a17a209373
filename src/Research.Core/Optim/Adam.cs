using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

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
/// p ← p − (lr / (1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps).</para>
/// <para>State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v̂, AMSGrad only). The adaptive
/// per-weight step is lr/(1 − β1^t) / (√v / √(1 − β2^t) + eps).</para>
/// </remarks>
public sealed class Adam : Optimizer
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
        : base(OptimizerKind.Adam, parameters, learningRate)
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

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
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
        if (WeightDecay != 0) g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        AdamCore.Apply(parameter, g, state.Step, state["exp_avg"], state["exp_avg_sq"],
            Amsgrad ? state["max_exp_avg_sq"] : null, LearningRate, Beta1, Beta2, Eps, FusedMultiplyAdd, Sqrt);
    }
}

/// <summary>The moment updates and parameter step shared by <see cref="Adam"/> and <see cref="AdamW"/>
/// (PyTorch 1.13's <c>_single_tensor_adam</c>/<c>_single_tensor_adamw</c> after weight decay).</summary>
internal static class AdamCore
{
    public static void Validate(string name, double beta1, double beta2, double eps, double weightDecay)
    {
        if (!(beta1 >= 0 && beta1 < 1))
            throw new ArgumentException($"{name}: beta1 (betas[0]): expected 0 <= beta1 < 1, got {beta1}.", nameof(beta1));
        if (!(beta2 >= 0 && beta2 < 1))
            throw new ArgumentException($"{name}: beta2 (betas[1]): expected 0 <= beta2 < 1, got {beta2}.", nameof(beta2));
        if (!(eps >= 0 && double.IsFinite(eps)))
            throw new ArgumentException($"{name}: eps: expected a finite value >= 0, got {eps}.", nameof(eps));
        if (!(weightDecay >= 0 && double.IsFinite(weightDecay)))
            throw new ArgumentException($"{name}: weight_decay: expected a finite value >= 0, got {weightDecay}.",
                nameof(weightDecay));
    }

    public static IReadOnlyList<string> StateNames(bool amsgrad) =>
        amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"];

    /// <summary>Moments and parameter step for gradient <paramref name="g"/> (weight decay already
    /// applied), in PyTorch 1.13's operation order: exp_avg.mul_(β1).add_(g, alpha=1−β1);
    /// exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2); [torch.maximum(max, exp_avg_sq, out=max)];
    /// denom = (v.sqrt() / √(1−β2^t)).add_(eps); p.addcdiv_(exp_avg, denom, value=−lr/(1−β1^t)).</summary>
    public static void Apply(Tensor parameter, Tensor g, long step, Tensor expAvg, Tensor expAvgSq, Tensor? maxExpAvgSq,
        double lr, double beta1, double beta2, double eps, bool fused, Func<Tensor, Tensor> sqrt)
    {
        Scale_(expAvg, beta1);
        AddScaled_(expAvg, g, 1 - beta1, fused);
        Scale_(expAvgSq, beta2);
        AddProduct_(expAvgSq, g, g, 1 - beta2, fused);
        double t = step;
        double biasCorrection1 = 1 - Math.Pow(beta1, t);
        double biasCorrection2 = 1 - Math.Pow(beta2, t);
        double stepSize = lr / biasCorrection1;
        double biasCorrection2Sqrt = Math.Sqrt(biasCorrection2);
        Tensor second = expAvgSq;
        if (maxExpAvgSq is not null)
        {
            using var m = maximum(maxExpAvgSq, expAvgSq);
            maxExpAvgSq.copy_(m);
            second = maxExpAvgSq;
        }
        var denom = Divided(sqrt(second), biasCorrection2Sqrt);
        AddScalar_(denom, eps);
        AddQuotient_(parameter, expAvg, denom, -stepSize);
    }
}
