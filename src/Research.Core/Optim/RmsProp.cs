using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// RMSprop, optionally centred and with momentum, exactly as PyTorch 1.13's <c>torch.optim.RMSprop</c>
/// (single-tensor path).
/// </summary>
/// <remarks>
/// <para>Hinton, Srivastava and Swersky, "Neural Networks for Machine Learning", lecture 6e (2012);
/// the centred form after Graves, "Generating Sequences With Recurrent Neural Networks",
/// arXiv:1308.0850. Per parameter, with g the gradient (negated when maximising):
/// g ← g + weight_decay·p; v ← α·v + (1 − α)·g²; centred: m ← α·m + (1 − α)·g, a = √(v − m²), else
/// a = √v; a ← a + eps; with momentum μ &gt; 0: b ← μ·b + g/a, p ← p − lr·b; else p ← p − lr·g/a.</para>
/// <para>State: "square_avg" (v), "grad_avg" (m, centred only), "momentum_buffer" (b, momentum &gt; 0 only).</para>
/// <para>The momentum may change between steps (<see cref="IMomentum"/>, e.g. cycled by
/// <see cref="Schedules.CyclicLR"/>); μ is read at each step, as in PyTorch 1.13. A step with μ = 0
/// does not touch a buffer made earlier, which a later step with μ &gt; 0 continues. PyTorch 1.13
/// creates the buffer only on a parameter's first step and only if μ &gt; 0 then, so raising μ from 0
/// later fails there (KeyError 'momentum_buffer'); here the buffer is then created as zeros on the
/// first step with μ &gt; 0, which is the buffer PyTorch would have had from the start.</para>
/// </remarks>
public sealed class RmsProp : Optimizer, IMomentum
{
    /// <summary>Creates the optimizer with PyTorch 1.13's defaults (TorchSharp's own RMSProp
    /// defaults to lr 1e-3; PyTorch's is 1e-2).</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (default 1e-2).</param>
    /// <param name="alpha">Smoothing constant α ≥ 0 of the running averages (default 0.99).</param>
    /// <param name="eps">Term ≥ 0 added to the denominator (default 1e-8).</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 (default 0).</param>
    /// <param name="momentum">Momentum factor μ ≥ 0 (default 0).</param>
    /// <param name="centered">Normalise by the estimated variance instead of the second moment (default false).</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public RmsProp(IEnumerable<Parameter> parameters, double learningRate = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weightDecay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : base(OptimizerKind.RMSprop, parameters, learningRate)
    {
        Require(alpha >= 0 && double.IsFinite(alpha), nameof(alpha), "alpha", "a finite value >= 0 (usually just below 1)", alpha);
        RequireFiniteNonNegative(eps, nameof(eps), "eps");
        RequireFiniteNonNegative(weightDecay, nameof(weightDecay), "weight_decay");
        RequireFiniteNonNegative(momentum, nameof(momentum), "momentum");
        Alpha = alpha;
        Eps = eps;
        WeightDecay = weightDecay;
        _momentum = momentum;
        Centered = centered;
        Maximize = maximize;
    }

    /// <summary>Smoothing constant of the running averages.</summary>
    public double Alpha { get; }

    /// <summary>Term added to the denominator.</summary>
    public double Eps { get; }

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Momentum factor μ ≥ 0, read at every step; settable between steps with the
    /// constructor's check.</summary>
    /// <exception cref="ArgumentException">A negative or non-finite value.</exception>
    public double Momentum
    {
        get => _momentum;
        set
        {
            RequireFiniteNonNegative(value, nameof(value), "momentum");
            _momentum = value;
        }
    }

    double _momentum;

    /// <summary>Whether the centred form is used.</summary>
    public bool Centered { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames =>
        [
            "square_avg",
            .. (Momentum > 0 ? new[] { "momentum_buffer" } : []),
            .. (Centered ? new[] { "grad_avg" } : []),
        ];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("alpha", Alpha), new("eps", Eps), new("weight_decay", WeightDecay), new("momentum", Momentum),
        new("centered", Centered), new("maximize", Maximize),
    ];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        if (!state.Has("square_avg"))
        {
            state.Create("square_avg", zeros_like(parameter));
            if (Momentum > 0) state.Create("momentum_buffer", zeros_like(parameter));
            if (Centered) state.Create("grad_avg", zeros_like(parameter));
        }
        var squareAvg = state["square_avg"];
        var g = Maximize ? grad.neg() : grad;
        if (WeightDecay != 0) g = AddScaled(g, parameter, WeightDecay, FusedMultiplyAdd);
        Scale_(squareAvg, Alpha);
        AddProduct_(squareAvg, g, g, 1 - Alpha, FusedMultiplyAdd);
        Tensor avg;
        if (Centered)
        {
            var gradAvg = state["grad_avg"];
            Scale_(gradAvg, Alpha);
            AddScaled_(gradAvg, g, 1 - Alpha, FusedMultiplyAdd);
            avg = Sqrt(AddProduct(squareAvg, gradAvg, gradAvg, -1, FusedMultiplyAdd));
        }
        else
            avg = Sqrt(squareAvg);
        AddScalar_(avg, Eps);
        if (Momentum > 0)
        {
            var buf = state.Has("momentum_buffer")
                ? state["momentum_buffer"]
                : state.Create("momentum_buffer", zeros_like(parameter));
            Scale_(buf, Momentum);
            AddQuotient_(buf, g, avg, 1);
            AddScaled_(parameter, buf, -LearningRate, FusedMultiplyAdd);
        }
        else
            AddQuotient_(parameter, g, avg, -LearningRate);
    }
}
