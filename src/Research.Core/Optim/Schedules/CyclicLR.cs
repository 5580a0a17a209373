namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>CyclicLR</c> with the "triangular" policy (no amplitude scaling): the rate climbs
/// linearly from base_lr to max_lr over step_size_up steps, falls back over step_size_down steps, and
/// repeats; by default the momentum (or Adam's β1) cycles the other way, from max_momentum down to
/// base_momentum and back. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017;
/// momentum cycling from Smith, "A disciplined approach to neural network hyper-parameters: Part 1",
/// arXiv:1803.09820.
/// </summary>
/// <remarks>
/// <para>As in PyTorch, the constructor overwrites the optimizer's learning rate with base_lr. With
/// k = <see cref="LearningRateSchedule.LastEpoch"/>, total = up + down, ratio = up/total:
/// cycle = ⌊1 + k/total⌋, x = 1 + k/total − cycle, scale = x/ratio if x ≤ ratio else (x − 1)/(ratio − 1),
/// lr = base_lr + (max_lr − base_lr)·scale (torch/optim/lr_scheduler.py 1.13, <c>CyclicLR.get_lr</c>).</para>
/// <para>Momentum cycling (<c>cycle_momentum=True</c>, PyTorch's default): the optimizer's β1 when it
/// has betas (<see cref="IBetas"/>: Adam, AdamW, RAdam; PyTorch's <c>use_beta1</c>), else its momentum
/// (<see cref="IMomentum"/>: SGD, RMSprop), is set to max_momentum by the constructor and, at each step,
/// to momentum = max_momentum − (max_momentum − base_momentum)·scale, the same scale as the rate's (so
/// the momentum is lowest where the rate is highest). Like PyTorch this overrides the momentum the
/// optimizer was created with, even 0 (an SGD without momentum then gets momentum 0.9): pass
/// <c>cycleMomentum: false</c> to leave it alone. An optimizer with neither capability (Adagrad,
/// Adadelta, a plain <see cref="ILearningRate"/>) is rejected, as PyTorch raises ValueError.</para>
/// <para>PyTorch's "triangular2" and "exp_range" policies and custom scale functions are not
/// implemented.</para>
/// </remarks>
public sealed class CyclicLR : LearningRateSchedule
{
    readonly double _totalSize;
    readonly double _stepRatio;
    readonly IBetas? _betas;
    readonly IMomentum? _momentum;

    /// <summary>Creates the schedule, sets the optimizer's rate to base_lr and, when cycling momentum,
    /// its momentum (or β1) to max_momentum.</summary>
    /// <param name="optimizer">The optimizer whose learning rate (and momentum) is scheduled.</param>
    /// <param name="baseLearningRate">Lower end base_lr ≥ 0 of the cycle.</param>
    /// <param name="maxLearningRate">Upper end max_lr ≥ 0 of the cycle.</param>
    /// <param name="stepSizeUp">Steps of the rising half, ≥ 1 (PyTorch's default 2000).</param>
    /// <param name="stepSizeDown">Steps of the falling half, ≥ 1 (default: equal to stepSizeUp).</param>
    /// <param name="cycleMomentum">Cycle the momentum (β1 for the Adam family) inversely to the rate
    /// (default true, as PyTorch); needs an optimizer with <see cref="IBetas"/> or <see cref="IMomentum"/>.</param>
    /// <param name="baseMomentum">Lower end of the momentum cycle, reached at max_lr (default 0.8); finite,
    /// ≥ 0, and &lt; 1 when it is β1.</param>
    /// <param name="maxMomentum">Upper end of the momentum cycle, at base_lr (default 0.9); same range.</param>
    /// <exception cref="ArgumentException">A negative or non-finite rate, a step size &lt; 1, a momentum out
    /// of range, or momentum cycling for an optimizer without momentum or betas.</exception>
    public CyclicLR(ILearningRate optimizer, double baseLearningRate, double maxLearningRate, int stepSizeUp = 2000,
        int? stepSizeDown = null, bool cycleMomentum = true, double baseMomentum = 0.8, double maxMomentum = 0.9)
        : base(optimizer, "CyclicLR")
    {
        if (!(baseLearningRate >= 0) || double.IsInfinity(baseLearningRate))
            throw new ArgumentException($"CyclicLR: base_lr: expected a finite value >= 0, got {baseLearningRate}.",
                nameof(baseLearningRate));
        if (!(maxLearningRate >= 0) || double.IsInfinity(maxLearningRate))
            throw new ArgumentException($"CyclicLR: max_lr: expected a finite value >= 0, got {maxLearningRate}.",
                nameof(maxLearningRate));
        if (stepSizeUp < 1)
            throw new ArgumentException($"CyclicLR: step_size_up: expected an integer >= 1, got {stepSizeUp}.",
                nameof(stepSizeUp));
        if (stepSizeDown is < 1)
            throw new ArgumentException($"CyclicLR: step_size_down: expected an integer >= 1 or null, got {stepSizeDown}.",
                nameof(stepSizeDown));
        if (cycleMomentum)
        {
            // PyTorch: use_beta1 = 'betas' in optimizer.defaults, else 'momentum' must be there.
            _betas = optimizer as IBetas;
            _momentum = _betas is null ? optimizer as IMomentum : null;
            if (_betas is null && _momentum is null)
                throw new ArgumentException(
                    $"CyclicLR: cycle_momentum: the optimizer {optimizer.Name} has neither a momentum (IMomentum: SGD, " +
                    "RMSprop) nor betas (IBetas: Adam, AdamW, RAdam) to cycle, so cycle_momentum=True cannot apply " +
                    "(PyTorch raises ValueError here). Pass cycleMomentum: false, or use an optimizer with momentum.",
                    nameof(cycleMomentum));
            string range = _betas is null ? "a finite value >= 0" : "0 <= value < 1 (it becomes beta1)";
            bool InRange(double m) => m >= 0 && (_betas is null ? double.IsFinite(m) : m < 1);
            if (!InRange(baseMomentum))
                throw new ArgumentException($"CyclicLR: base_momentum: expected {range}, got {baseMomentum}.",
                    nameof(baseMomentum));
            if (!InRange(maxMomentum))
                throw new ArgumentException($"CyclicLR: max_momentum: expected {range}, got {maxMomentum}.",
                    nameof(maxMomentum));
        }
        MaxLearningRate = maxLearningRate;
        StepSizeUp = stepSizeUp;
        StepSizeDown = stepSizeDown ?? stepSizeUp;
        CycleMomentum = cycleMomentum;
        BaseMomentum = baseMomentum;
        MaxMomentum = maxMomentum;
        _totalSize = (double)StepSizeUp + StepSizeDown;
        _stepRatio = StepSizeUp / _totalSize;
        optimizer.LearningRate = baseLearningRate;
        BaseLearningRate = baseLearningRate;
        if (cycleMomentum) SetMomentum(maxMomentum);
        Start();
    }

    /// <summary>Upper end of the cycle.</summary>
    public double MaxLearningRate { get; }

    /// <summary>Steps of the rising half.</summary>
    public int StepSizeUp { get; }

    /// <summary>Steps of the falling half.</summary>
    public int StepSizeDown { get; }

    /// <summary>Whether the momentum (or β1) is cycled.</summary>
    public bool CycleMomentum { get; }

    /// <summary>True when the cycled quantity is the optimizer's β1 (PyTorch's <c>use_beta1</c>).</summary>
    public bool UsesBeta1 => _betas is not null;

    /// <summary>Lower end of the momentum cycle (at max_lr).</summary>
    public double BaseMomentum { get; }

    /// <summary>Upper end of the momentum cycle (at base_lr).</summary>
    public double MaxMomentum { get; }

    /// <summary>The momentum (or β1) this schedule set last; null when it does not cycle momentum.</summary>
    public double? CurrentMomentum { get; private set; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
    [
        new("base_lr", BaseLearningRate), new("max_lr", MaxLearningRate), new("step_size_up", StepSizeUp),
        new("step_size_down", StepSizeDown), new("mode", "triangular"), new("cycle_momentum", CycleMomentum),
        new("base_momentum", BaseMomentum), new("max_momentum", MaxMomentum), new("use_beta1", UsesBeta1),
    ];

    /// <summary>PyTorch's scale_factor at step <paramref name="epoch"/>: 0 at base_lr, 1 at max_lr.</summary>
    double ScaleFactor(int epoch)
    {
        double cycle = Math.Floor(1 + epoch / _totalSize);
        double x = 1.0 + epoch / _totalSize - cycle;
        return x <= _stepRatio ? x / _stepRatio : (x - 1) / (_stepRatio - 1);
    }

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate)
    {
        double baseHeight = (MaxLearningRate - BaseLearningRate) * ScaleFactor(epoch);
        return BaseLearningRate + baseHeight * 1.0; // scale_fn(cycle) = 1 for "triangular"
    }

    /// <inheritdoc/>
    protected override void OnLearningRateSet(int epoch)
    {
        if (!CycleMomentum) return;
        double baseHeight = (MaxMomentum - BaseMomentum) * ScaleFactor(epoch);
        SetMomentum(MaxMomentum - baseHeight * 1.0);
    }

    void SetMomentum(double momentum)
    {
        if (_betas is not null) _betas.Beta1 = momentum;
        else _momentum!.Momentum = momentum;
        CurrentMomentum = momentum;
    }
}
