using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// The one implementation of the Adam family, <see cref="Adam"/>, <see cref="AdamW"/> and
/// <see cref="RAdam"/>: PyTorch 1.13's <c>_single_tensor_adam</c>, <c>_single_tensor_adamw</c> and
/// <c>_single_tensor_radam</c> (not capturable), which share their hyperparameters, their state and
/// the moment updates, and differ in how weight decay enters (Adam and RAdam: L2 in the gradient;
/// AdamW: decoupled, a constructor flag) and in the parameter step (Adam's here; RAdam overrides
/// <see cref="StepParameter"/> with its rectified step). A closed family: its constructor is not
/// visible outside the toolkit.
/// </summary>
/// <remarks>
/// <para>Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; AMSGrad from Reddi,
/// Kale and Kumar, "On the Convergence of Adam and Beyond", ICLR 2018; decoupled weight decay from
/// Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019. Per parameter at step
/// t, with g the gradient (negated when maximising): L2 decay g ← g + weight_decay·p (Adam, RAdam),
/// or decoupled decay p ← p·(1 − lr·weight_decay) first (AdamW); then m ← β1·m + (1 − β1)·g and
/// v ← β2·v + (1 − β2)·g² as PyTorch writes them, exp_avg.mul_(β1).add_(g, alpha=1−β1) and
/// exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2). Adam's step: AMSGrad v̂ ← max(v̂, v), else v̂ = v;
/// p ← p − (lr / (1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps), in PyTorch's order
/// [torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)];
/// denom = (v̂.sqrt() / √(1−β2^t)).add_(eps); p.addcdiv_(exp_avg, denom, value=−lr/(1−β1^t)).</para>
/// <para>On contiguous float32 and float64 CPU tensors the update runs as two passes over memory
/// (<see cref="AdamKernels"/>) that reproduce these operations bit for bit, libtorch's square root
/// included; elsewhere as the libtorch operations themselves.</para>
/// <para>State: "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (v̂, AMSGrad only). The adaptive
/// per-weight step of Adam is lr/(1 − β1^t) / (√v / √(1 − β2^t) + eps).</para>
/// </remarks>
public abstract class AdamFamily : Optimizer, IBetas
{
    /// <summary>Checks and stores the hyperparameters (the ranges of PyTorch 1.13's checks).</summary>
    /// <param name="kind">Adam, AdamW or RAdam.</param>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0.</param>
    /// <param name="beta1">Decay β1 ∈ [0, 1) of the first moment.</param>
    /// <param name="beta2">Decay β2 ∈ [0, 1) of the second moment.</param>
    /// <param name="eps">Term ≥ 0 added to the denominator.</param>
    /// <param name="weightDecay">Weight decay coefficient ≥ 0.</param>
    /// <param name="amsgrad">Use the running maximum of the second moment in Adam's step.</param>
    /// <param name="maximize">Maximise the objective instead of minimising it.</param>
    /// <param name="decoupledWeightDecay">True: AdamW's p ← p·(1 − lr·weight_decay) before the step;
    /// false: Adam's L2 term weight_decay·p added to the gradient.</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    private protected AdamFamily(OptimizerKind kind, IEnumerable<Parameter> parameters, double learningRate,
        double beta1, double beta2, double eps, double weightDecay, bool amsgrad, bool maximize, bool decoupledWeightDecay)
        : base(kind, parameters, learningRate)
    {
        AdamCore.Validate(Name, beta1, beta2, eps, weightDecay);
        _beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        Amsgrad = amsgrad;
        Maximize = maximize;
        DecoupledWeightDecay = decoupledWeightDecay;
    }

    /// <summary>Decay β1 ∈ [0, 1) of the first moment; settable between steps (schedules such as
    /// <see cref="Schedules.CyclicLR"/> cycle it), with the constructor's check. PyTorch reads β1 from
    /// the parameter group at every step, bias correction 1 − β1^t included, and so does this optimizer.</summary>
    /// <exception cref="ArgumentException">A value outside [0, 1) (the message names the optimizer and the value).</exception>
    public double Beta1
    {
        get => _beta1;
        set
        {
            AdamCore.ValidateBeta1(Name, value, nameof(value));
            _beta1 = value;
        }
    }

    double _beta1;

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Term added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>Weight decay coefficient: an L2 penalty added to the gradient (Adam) or decoupled and
    /// multiplied by the learning rate at each step (AdamW; a schedule scales it too).</summary>
    public double WeightDecay { get; }

    /// <summary>Whether AMSGrad's running maximum of the second moment is used (always false for RAdam).</summary>
    public bool Amsgrad { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <summary>True for AdamW (decoupled weight decay), false for Adam and RAdam (L2 in the gradient).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames =>
        Amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("betas", new[] { Beta1, Beta2 }), new("eps", Eps), new("weight_decay", WeightDecay),
        new("amsgrad", Amsgrad), new("maximize", Maximize),
    ];

    /// <summary>Whether the update runs as <see cref="AdamKernels"/>' two passes where they apply (the
    /// default) or always as libtorch operations; the same bits either way (the tests compare both).</summary>
    internal bool ElementwiseKernels { get; set; } = true;

    /// <inheritdoc/>
    protected sealed override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("exp_avg"))
            foreach (var name in StateNames) state.Create(name, zeros_like(parameter));
        if (ElementwiseKernels && AdamKernels.Applies(FusedMultiplyAdd, parameter, grad, state["exp_avg"], state["exp_avg_sq"],
                Amsgrad ? state["max_exp_avg_sq"] : null))
        {
            var factors = new AdamKernels.MomentFactors(Beta1, Beta2, Maximize,
                DecoupledWeightDecay ? 0 : WeightDecay, DecoupledWeightDecay ? 1 - LearningRate * WeightDecay : null);
            if (parameter.dtype == ScalarType.Float32) Moments<float>(parameter, grad, state, factors);
            else Moments<double>(parameter, grad, state, factors);
            StepParameterInPlace(parameter, state);
            return;
        }
        var g = Maximize ? grad.neg() : grad;
        if (DecoupledWeightDecay)
            Scale_(parameter, 1 - LearningRate * WeightDecay);
        else if (WeightDecay != 0)
            g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        var expAvg = state["exp_avg"];
        var expAvgSq = state["exp_avg_sq"];
        Scale_(expAvg, Beta1);
        AddScaled_(expAvg, g, 1 - Beta1, FusedMultiplyAdd);
        Scale_(expAvgSq, Beta2);
        AddProduct_(expAvgSq, g, g, 1 - Beta2, FusedMultiplyAdd);
        StepParameter(parameter, state);
    }

    void Moments<T>(Tensor parameter, Tensor grad, ParameterState state, in AdamKernels.MomentFactors factors)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        AdamKernels.Moments(AdamKernels.Elements<T>(parameter), AdamKernels.Elements<T>(grad), AdamKernels.Elements<T>(state["exp_avg"]),
            AdamKernels.Elements<T>(state["exp_avg_sq"]), Amsgrad ? AdamKernels.Elements<T>(state["max_exp_avg_sq"]) : default,
            factors, FusedMultiplyAdd);

    /// <summary>
    /// <see cref="StepParameter"/> as one pass over the tensors' memory after <see cref="AdamKernels.Moments{T}"/>
    /// (contiguous CPU tensors of one type): the same bits. Falls back to <see cref="StepParameter"/> when
    /// the square root (a test may replace it) is not such a tensor.
    /// </summary>
    private protected virtual void StepParameterInPlace(Tensor parameter, ParameterState state)
    {
        var (stepSize, biasCorrection2Sqrt) = AdamStepFactors(state.Step);
        var root = Sqrt(Amsgrad ? state["max_exp_avg_sq"] : state["exp_avg_sq"]);
        if (!AdamKernels.Applies(false, parameter, root)) { StepParameter(parameter, state); return; }
        if (parameter.dtype == ScalarType.Float32)
            AdamKernels.AdamStep(AdamKernels.Elements<float>(parameter), AdamKernels.Elements<float>(state["exp_avg"]),
                AdamKernels.Elements<float>(root), -stepSize, biasCorrection2Sqrt, Eps);
        else
            AdamKernels.AdamStep(AdamKernels.Elements<double>(parameter), AdamKernels.Elements<double>(state["exp_avg"]),
                AdamKernels.Elements<double>(root), -stepSize, biasCorrection2Sqrt, Eps);
    }

    /// <summary>
    /// The parameter step after the moments of step <paramref name="state"/>.Step were updated
    /// (in place, under no_grad, inside <see cref="Optimizer.Step"/>'s dispose scope): Adam's,
    /// with AMSGrad when <see cref="Amsgrad"/>.
    /// </summary>
    /// <param name="parameter">The parameter to update in place.</param>
    /// <param name="state">Its state, with "exp_avg" and "exp_avg_sq" (and "max_exp_avg_sq").</param>
    protected virtual void StepParameter(Tensor parameter, ParameterState state)
    {
        var (stepSize, biasCorrection2Sqrt) = AdamStepFactors(state.Step);
        Tensor second = state["exp_avg_sq"];
        if (Amsgrad)
        {
            var maxExpAvgSq = state["max_exp_avg_sq"];
            using var m = maximum(maxExpAvgSq, second);
            maxExpAvgSq.copy_(m);
            second = maxExpAvgSq;
        }
        var denom = Divided(Sqrt(second), biasCorrection2Sqrt);
        AddScalar_(denom, Eps);
        AddQuotient_(parameter, state["exp_avg"], denom, -stepSize);
    }

    /// <summary>Adam's step size lr/(1 − β1^t) and √(1 − β2^t) at step t, as PyTorch 1.13 computes them.</summary>
    (double StepSize, double BiasCorrection2Sqrt) AdamStepFactors(long step)
    {
        double t = step;
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        return (LearningRate / biasCorrection1, Math.Sqrt(biasCorrection2));
    }
}

/// <summary>The hyperparameter checks of the Adam family (PyTorch 1.13's ranges).</summary>
internal static class AdamCore
{
    public static void Validate(string name, double beta1, double beta2, double eps, double weightDecay)
    {
        ValidateBeta1(name, beta1, nameof(beta1));
        if (!(beta2 >= 0 && beta2 < 1))
            throw new ArgumentException($"{name}: beta2 (betas[1]): expected 0 <= beta2 < 1, got {beta2}.", nameof(beta2));
        if (!(eps >= 0 && double.IsFinite(eps)))
            throw new ArgumentException($"{name}: eps: expected a finite value >= 0, got {eps}.", nameof(eps));
        if (!(weightDecay >= 0 && double.IsFinite(weightDecay)))
            throw new ArgumentException($"{name}: weight_decay: expected a finite value >= 0, got {weightDecay}.",
                nameof(weightDecay));
    }

    public static void ValidateBeta1(string name, double beta1, string paramName)
    {
        if (!(beta1 >= 0 && beta1 < 1))
            throw new ArgumentException($"{name}: beta1 (betas[0]): expected 0 <= beta1 < 1, got {beta1}.", paramName);
    }
}
