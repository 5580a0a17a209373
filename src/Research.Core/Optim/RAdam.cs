using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// Rectified Adam, exactly as PyTorch 1.13's <c>torch.optim.RAdam</c> (single-tensor path).
/// Use this rather than TorchSharp 0.107's <c>torch.optim.RAdam</c>, which applies the learning rate
/// twice once the rectification is active (it moves lr times too little from step 6 on with the
/// default β2) and defaults to lr 0.002.
/// </summary>
/// <remarks>
/// <para>Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020. Per
/// parameter at step t, with g the gradient (negated when maximising): g ← g + weight_decay·p;
/// m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m / (1 − β1^t); ρ∞ = 2/(1 − β2) − 1;
/// ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t). If ρ_t &gt; 5 (PyTorch's threshold; the paper says 4):
/// r_t = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t)),
/// p ← p − ((m̂·lr)·(√(1 − β2^t)/(√v + eps)))·r_t; otherwise p ← p − m̂·lr (v is still updated).
/// With β2 = 0.999 steps 1–5 are un-rectified and step 6 is the first rectified one.</para>
/// <para>State: "exp_avg" (m), "exp_avg_sq" (v). <see cref="Rho"/> and <see cref="Rectification"/>
/// give ρ_t and r_t for any step. Hyperparameters, state and moment updates are
/// <see cref="AdamFamily"/>'s; this class supplies the rectified parameter step.</para>
/// </remarks>
public sealed class RAdam : AdamFamily
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (default 1e-3).</param>
    /// <param name="beta1">Decay β1 ∈ [0, 1) of the first moment (default 0.9).</param>
    /// <param name="beta2">Decay β2 ∈ [0, 1) of the second moment (default 0.999).</param>
    /// <param name="eps">Term ≥ 0 added to √v (default 1e-8).</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 added to the gradient (default 0).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false; PyTorch
    /// 1.13's RAdam has no such option, PyTorch 2's negates the gradient as here).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public RAdam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0, bool maximize = false)
        : base(OptimizerKind.RAdam, parameters, learningRate, beta1, beta2, eps, weightDecay, amsgrad: false, maximize,
            decoupledWeightDecay: false)
    {
    }

    /// <summary>The rectification threshold: the adaptive step is used when ρ_t exceeds it (PyTorch: 5).</summary>
    public const double RhoThreshold = 5.0;

    /// <summary>ρ∞ = 2/(1 − β2) − 1, the maximum length of the approximated simple moving average.</summary>
    public double RhoInfinity => 2 / (1 - Beta2) - 1;

    /// <summary>ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t) at step <paramref name="step"/> ≥ 1, computed as PyTorch does.</summary>
    public double Rho(long step)
    {
        Require(step >= 1, nameof(step), "step", "a step number >= 1", step);
        double t = step;
        return RhoInfinity - 2 * t * Math.Pow(Beta2, t) / (1 - Math.Pow(Beta2, t));
    }

    /// <summary>The rectification term r_t at step <paramref name="step"/>, or null when ρ_t ≤ 5 and
    /// the step is un-adapted.</summary>
    public double? Rectification(long step)
    {
        double rhoT = Rho(step), rhoInf = RhoInfinity;
        if (!(rhoT > RhoThreshold)) return null;
        return Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
    }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("betas", new[] { Beta1, Beta2 }), new("eps", Eps), new("weight_decay", WeightDecay),
        new("maximize", Maximize),
    ];

    /// <summary>RAdam's step (PyTorch 1.13 <c>_single_tensor_radam</c> after the moments): m̂ = m/(1 − β1^t);
    /// if ρ_t &gt; 5, p ← p − ((m̂·lr)·(√(1 − β2^t)/(√v + eps)))·r_t, else p ← p − m̂·lr.</summary>
    /// <param name="parameter">The parameter to update in place.</param>
    /// <param name="state">Its state, with "exp_avg" and "exp_avg_sq" updated for this step.</param>
    protected override void StepParameter(Tensor parameter, ParameterState state)
    {
        var (biasCorrection1, biasCorrection2, rectification) = StepFactors(state.Step);
        var biasCorrectedExpAvg = Divided(state["exp_avg"], biasCorrection1);
        var stepTensor = Scaled(biasCorrectedExpAvg, LearningRate);
        if (rectification is { } rect)
        {
            var expAvgSqSqrt = Sqrt(state["exp_avg_sq"]);
            AddScalar_(expAvgSqSqrt, Eps);
            var adaptiveLr = ScalarOver(Math.Sqrt(biasCorrection2), expAvgSqSqrt);
            stepTensor.mul_(adaptiveLr);
            Scale_(stepTensor, rect);
        }
        AddScaled_(parameter, stepTensor, -1.0, FusedMultiplyAdd);
    }

    /// <inheritdoc/>
    private protected override void StepParameterInPlace(Tensor parameter, ParameterState state)
    {
        var (biasCorrection1, biasCorrection2, rectification) = StepFactors(state.Step);
        var root = rectification is null ? null : Sqrt(state["exp_avg_sq"]);
        if (root is not null && !AdamKernels.Applies(false, parameter, root)) { StepParameter(parameter, state); return; }
        double rootOfBiasCorrection2 = Math.Sqrt(biasCorrection2);
        if (parameter.dtype == ScalarType.Float32)
            AdamKernels.RAdamStep(AdamKernels.Elements<float>(parameter), AdamKernels.Elements<float>(state["exp_avg"]),
                root is null ? default : AdamKernels.Elements<float>(root), biasCorrection1, LearningRate, Eps, rootOfBiasCorrection2, rectification);
        else
            AdamKernels.RAdamStep(AdamKernels.Elements<double>(parameter), AdamKernels.Elements<double>(state["exp_avg"]),
                root is null ? default : AdamKernels.Elements<double>(root), biasCorrection1, LearningRate, Eps, rootOfBiasCorrection2, rectification);
    }

    /// <summary>1 − β1^t, 1 − β2^t and the rectification r_t of step t (null while ρ_t ≤ 5), in PyTorch
    /// 1.13's order of operations.</summary>
    (double BiasCorrection1, double BiasCorrection2, double? Rectification) StepFactors(long step)
    {
        double t = step;
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        double rhoInf = 2 / (1 - Beta2) - 1;
        double rhoT = rhoInf - 2 * t * Math.Pow(Beta2, t) / biasCorrection2;
        double? rect = rhoT > RhoThreshold
            ? Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT))
            : null;
        return (biasCorrection1, biasCorrection2, rect);
    }
}
