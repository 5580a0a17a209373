namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>StepLR</c> (chainable form): every <c>step_size</c> steps the optimizer's
/// current learning rate is multiplied by γ; otherwise it is left as it is.
/// </summary>
public sealed class StepLR : LearningRateSchedule
{
    /// <summary>Creates the schedule; the first step uses the optimizer's present rate.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="stepSize">Period of the decay in steps, ≥ 1.</param>
    /// <param name="gamma">Multiplicative factor γ ≥ 0 (default 0.1).</param>
    /// <exception cref="ArgumentException">stepSize &lt; 1 or γ negative or not finite.</exception>
    public StepLR(ILearningRate optimizer, int stepSize, double gamma = 0.1) : base(optimizer, "StepLR")
    {
        if (stepSize < 1)
            throw new ArgumentException($"StepLR: step_size: expected an integer >= 1, got {stepSize}.", nameof(stepSize));
        if (!(gamma >= 0) || double.IsInfinity(gamma))
            throw new ArgumentException($"StepLR: gamma: expected a finite value >= 0, got {gamma}.", nameof(gamma));
        StepSize = stepSize;
        Gamma = gamma;
        Start();
    }

    /// <summary>Period of the decay in steps.</summary>
    public int StepSize { get; }

    /// <summary>Multiplicative factor of the decay.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
        [new("base_lr", BaseLearningRate), new("step_size", StepSize), new("gamma", Gamma)];

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate) =>
        epoch == 0 || epoch % StepSize != 0 ? currentLearningRate : currentLearningRate * Gamma;
}
