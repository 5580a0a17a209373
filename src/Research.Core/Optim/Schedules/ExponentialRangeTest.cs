namespace Research.Core.Optim.Schedules;

/// <summary>
/// The exponential learning-rate range test: the rate grows geometrically from start_lr to end_lr
/// over a fixed number of steps, lr_t = start_lr · (end_lr/start_lr)^(t/steps) for t = 0 … steps, while
/// the loss is recorded; the useful range is where the loss falls fastest. Smith, "Cyclical Learning
/// Rates for Training Neural Networks", WACV 2017 (linear form); the exponential form as in fastai's
/// <c>lr_find</c>.
/// </summary>
/// <remarks>
/// The constructor sets the optimizer's rate to start_lr (t = 0). The formula is evaluated afresh at
/// every step (not by repeated multiplication), as <c>start * pow(end/start, t/steps)</c> in double
/// precision; this equals PyTorch's <c>LambdaLR</c> with base_lr = start_lr and
/// λ(t) = (end/start)^(t/steps) bit for bit. Beyond <c>steps</c> the same formula keeps growing;
/// <see cref="IsFinished"/> says when the planned range is done.
/// </remarks>
public sealed class ExponentialRangeTest : LearningRateSchedule
{
    /// <summary>Creates the range test and sets the optimizer's rate to start_lr.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="startLearningRate">First rate start_lr &gt; 0 (e.g. 1e-8).</param>
    /// <param name="endLearningRate">Rate end_lr &gt; 0 reached after <paramref name="steps"/> steps (e.g. 10).</param>
    /// <param name="steps">Number of steps from start_lr to end_lr, ≥ 1.</param>
    /// <exception cref="ArgumentException">A rate that is not finite and positive, or steps &lt; 1.</exception>
    public ExponentialRangeTest(ILearningRate optimizer, double startLearningRate, double endLearningRate, int steps)
        : base(optimizer, "ExponentialRangeTest")
    {
        if (!(startLearningRate > 0) || double.IsInfinity(startLearningRate))
            throw new ArgumentException($"ExponentialRangeTest: start_lr: expected a finite value > 0, got {startLearningRate}.",
                nameof(startLearningRate));
        if (!(endLearningRate > 0) || double.IsInfinity(endLearningRate))
            throw new ArgumentException($"ExponentialRangeTest: end_lr: expected a finite value > 0, got {endLearningRate}.",
                nameof(endLearningRate));
        if (steps < 1)
            throw new ArgumentException($"ExponentialRangeTest: steps: expected an integer >= 1, got {steps}.", nameof(steps));
        EndLearningRate = endLearningRate;
        Steps = steps;
        optimizer.LearningRate = startLearningRate;
        BaseLearningRate = startLearningRate;
        Start();
    }

    /// <summary>The rate reached after <see cref="Steps"/> steps.</summary>
    public double EndLearningRate { get; }

    /// <summary>Number of steps from the start to the end rate.</summary>
    public int Steps { get; }

    /// <summary>True once <see cref="Steps"/> steps have been taken (the rate is end_lr).</summary>
    public bool IsFinished => LastEpoch >= Steps;

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
        [new("start_lr", BaseLearningRate), new("end_lr", EndLearningRate), new("steps", Steps)];

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate) =>
        BaseLearningRate * Math.Pow(EndLearningRate / BaseLearningRate, epoch / (double)Steps);
}
