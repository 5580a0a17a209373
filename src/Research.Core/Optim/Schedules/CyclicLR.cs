namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>CyclicLR</c> with the "triangular" policy (no amplitude scaling, momentum not
/// cycled): the rate climbs linearly from base_lr to max_lr over step_size_up steps, falls back over
/// step_size_down steps, and repeats. Smith, "Cyclical Learning Rates for Training Neural Networks",
/// WACV 2017.
/// </summary>
/// <remarks>
/// As in PyTorch, the constructor overwrites the optimizer's learning rate with base_lr. With
/// k = <see cref="LearningRateSchedule.LastEpoch"/>, total = up + down, ratio = up/total:
/// cycle = ⌊1 + k/total⌋, x = 1 + k/total − cycle, scale = x/ratio if x ≤ ratio else (x − 1)/(ratio − 1),
/// lr = base_lr + (max_lr − base_lr)·scale. PyTorch's "triangular2" and "exp_range" policies and its
/// momentum cycling (<c>cycle_momentum</c>) are not implemented.
/// </remarks>
public sealed class CyclicLR : LearningRateSchedule
{
    readonly double _totalSize;
    readonly double _stepRatio;

    /// <summary>Creates the schedule and sets the optimizer's rate to base_lr.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="baseLearningRate">Lower end base_lr ≥ 0 of the cycle.</param>
    /// <param name="maxLearningRate">Upper end max_lr ≥ 0 of the cycle.</param>
    /// <param name="stepSizeUp">Steps of the rising half, ≥ 1 (PyTorch's default 2000).</param>
    /// <param name="stepSizeDown">Steps of the falling half, ≥ 1 (default: equal to stepSizeUp).</param>
    /// <exception cref="ArgumentException">A negative or non-finite rate, or a step size &lt; 1.</exception>
    public CyclicLR(ILearningRate optimizer, double baseLearningRate, double maxLearningRate, int stepSizeUp = 2000,
        int? stepSizeDown = null) : base(optimizer, "CyclicLR")
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
        MaxLearningRate = maxLearningRate;
        StepSizeUp = stepSizeUp;
        StepSizeDown = stepSizeDown ?? stepSizeUp;
        _totalSize = (double)StepSizeUp + StepSizeDown;
        _stepRatio = StepSizeUp / _totalSize;
        optimizer.LearningRate = baseLearningRate;
        BaseLearningRate = baseLearningRate;
        Start();
    }

    /// <summary>Upper end of the cycle.</summary>
    public double MaxLearningRate { get; }

    /// <summary>Steps of the rising half.</summary>
    public int StepSizeUp { get; }

    /// <summary>Steps of the falling half.</summary>
    public int StepSizeDown { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
    [
        new("base_lr", BaseLearningRate), new("max_lr", MaxLearningRate), new("step_size_up", StepSizeUp),
        new("step_size_down", StepSizeDown), new("mode", "triangular"), new("cycle_momentum", false),
    ];

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate)
    {
        double cycle = Math.Floor(1 + epoch / _totalSize);
        double x = 1.0 + epoch / _totalSize - cycle;
        double scale = x <= _stepRatio ? x / _stepRatio : (x - 1) / (_stepRatio - 1);
        double baseHeight = (MaxLearningRate - BaseLearningRate) * scale;
        return BaseLearningRate + baseHeight * 1.0;
    }
}
