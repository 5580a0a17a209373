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
/// give ρ_t and r_t for any step.</para>
/// </remarks>
public sealed class RAdam : Optimizer
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
        : base(OptimizerKind.RAdam, parameters, learningRate)
    {
        AdamCore.Validate(Name, beta1, beta2, eps, weightDecay);
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        Maximize = maximize;
    }

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Term added to √v.</summary>
    public double Eps { get; }

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

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
    public override IReadOnlyList<string> StateNames => ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("betas", new[] { Beta1, Beta2 }), new("eps", Eps), new("weight_decay", WeightDecay),
        new("maximize", Maximize),
    ];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("exp_avg"))
        {
            state.Create("exp_avg", zeros_like(parameter));
            state.Create("exp_avg_sq", zeros_like(parameter));
        }
        var expAvg = state["exp_avg"];
        var expAvgSq = state["exp_avg_sq"];
        var g = Maximize ? grad.neg() : grad;
        if (WeightDecay != 0) g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        Scale_(expAvg, Beta1);
        AddScaled_(expAvg, g, 1 - Beta1, FusedMultiplyAdd);
        Scale_(expAvgSq, Beta2);
        AddProduct_(expAvgSq, g, g, 1 - Beta2, FusedMultiplyAdd);

        double t = state.Step;
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        var biasCorrectedExpAvg = Divided(expAvg, biasCorrection1);
        double rhoInf = 2 / (1 - Beta2) - 1;
        double rhoT = rhoInf - 2 * t * Math.Pow(Beta2, t) / biasCorrection2;
        var stepTensor = Scaled(biasCorrectedExpAvg, LearningRate);
        if (rhoT > RhoThreshold)
        {
            double rect = Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
            var expAvgSqSqrt = Sqrt(expAvgSq);
            AddScalar_(expAvgSqSqrt, Eps);
            var adaptiveLr = ScalarOver(Math.Sqrt(biasCorrection2), expAvgSqSqrt);
            stepTensor.mul_(adaptiveLr);
            Scale_(stepTensor, rect);
        }
        AddScaled_(parameter, stepTensor, -1.0, FusedMultiplyAdd);
    }
}
