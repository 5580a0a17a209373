using TorchSharp.Modules;
using static Research.Core.Optim.UpdateArithmetic;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum, L2 weight
/// decay and maximisation, exactly as PyTorch 1.13's <c>torch.optim.SGD</c> (single-tensor path).
/// </summary>
/// <remarks>
/// <para>Per parameter, with g the gradient (negated when maximising):
/// g ← g + weight_decay·p; with momentum μ ≠ 0: b ← g on the first step, else b ← μ·b + (1 − dampening)·g;
/// then g ← g + μ·b (Nesterov) or g ← b; finally p ← p − lr·g.</para>
/// <para>Momentum as in Sutskever et al., "On the importance of initialization and momentum in deep
/// learning", ICML 2013 (PyTorch's form, which scales the whole velocity by lr); Nesterov's variant
/// as implemented by PyTorch. State: "momentum_buffer" (only when momentum ≠ 0).</para>
/// <para>The momentum may change between steps (<see cref="IMomentum"/>, e.g. cycled by
/// <see cref="Schedules.CyclicLR"/>), with PyTorch 1.13's semantics (<c>SGD.step</c> and
/// <c>_single_tensor_sgd</c>): μ is read at each step; a step with μ = 0 neither creates nor updates
/// the buffer, but keeps one made earlier; the first step with μ ≠ 0 for a parameter without a
/// buffer starts it as a copy of that step's (weight-decayed) gradient, b ← g, and a kept buffer
/// continues as b ← μ·b + (1 − dampening)·g with the present μ.</para>
/// </remarks>
public sealed class Sgd : Optimizer, IMomentum
{
    /// <summary>Creates the optimizer; PyTorch 1.13 has no default learning rate for SGD.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">Learning rate lr ≥ 0 (required, as in PyTorch 1.13).</param>
    /// <param name="momentum">Momentum factor μ ≥ 0 (default 0: plain SGD).</param>
    /// <param name="dampening">Dampening of the momentum (default 0); must be 0 with Nesterov.</param>
    /// <param name="weightDecay">L2 penalty coefficient ≥ 0 added to the gradient (default 0).</param>
    /// <param name="nesterov">Nesterov momentum (default false); needs momentum &gt; 0 and dampening 0.</param>
    /// <param name="maximize">Maximise the objective instead of minimising it (default false).</param>
    /// <exception cref="ArgumentException">A hyperparameter outside its range (the message names it).</exception>
    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : base(OptimizerKind.SGD, parameters, learningRate)
    {
        RequireFiniteNonNegative(momentum, nameof(momentum), "momentum");
        Require(double.IsFinite(dampening), nameof(dampening), "dampening", "a finite value", dampening);
        RequireFiniteNonNegative(weightDecay, nameof(weightDecay), "weight_decay");
        if (nesterov)
            Require(momentum > 0 && dampening == 0, nameof(nesterov), "nesterov",
                "momentum > 0 and dampening == 0 (Nesterov momentum requires a momentum and zero dampening)",
                $"momentum={momentum}, dampening={dampening}", "Set a positive momentum and dampening 0, or nesterov=false.");
        _momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        Maximize = maximize;
    }

    /// <summary>Momentum factor μ ≥ 0, read at every step; settable between steps with the
    /// constructor's checks (see the remarks for what a change does to the buffer).</summary>
    /// <exception cref="ArgumentException">A negative or non-finite value, or 0 with Nesterov momentum.</exception>
    public double Momentum
    {
        get => _momentum;
        set
        {
            RequireFiniteNonNegative(value, nameof(value), "momentum");
            if (Nesterov)
                Require(value > 0, nameof(value), "momentum", "a value > 0 (Nesterov momentum requires a momentum)", value,
                    "Keep the momentum positive, or create the optimizer with nesterov=false.");
            _momentum = value;
        }
    }

    double _momentum;

    /// <summary>Dampening of the momentum.</summary>
    public double Dampening { get; }

    /// <summary>L2 penalty coefficient added to the gradient.</summary>
    public double WeightDecay { get; }

    /// <summary>Whether Nesterov momentum is used.</summary>
    public bool Nesterov { get; }

    /// <summary>Whether the objective is maximised.</summary>
    public bool Maximize { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StateNames => Momentum != 0 ? ["momentum_buffer"] : [];

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters() =>
    [
        new("momentum", Momentum), new("dampening", Dampening), new("weight_decay", WeightDecay),
        new("nesterov", Nesterov), new("maximize", Maximize),
    ];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, ParameterState state)
    {
        var d = Maximize ? grad.neg() : grad;
        if (WeightDecay != 0) d = AddScaled(d, parameter, WeightDecay, FusedMultiplyAdd);
        if (Momentum != 0)
        {
            Tensor buf;
            if (!state.Has("momentum_buffer"))
                buf = state.Create("momentum_buffer", d.clone().detach());
            else
            {
                buf = state["momentum_buffer"];
                Scale_(buf, Momentum);
                AddScaled_(buf, d, 1 - Dampening, FusedMultiplyAdd);
            }
            d = Nesterov ? AddScaled(d, buf, Momentum, FusedMultiplyAdd) : buf;
        }
        AddScaled_(parameter, d, -LearningRate, FusedMultiplyAdd);
    }
}
