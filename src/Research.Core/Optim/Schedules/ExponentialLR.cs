namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>ExponentialLR</c> (chainable form): each step multiplies the optimizer's current
/// learning rate by γ, so after k steps the rate is base_lr·γ·γ·…·γ by repeated multiplication (which
/// differs from base_lr·γ^k in the last bit for most k).
/// </summary>
public sealed class ExponentialLR : LearningRateSchedule
{
    /// <summary>Creates the schedule; the first step uses the optimizer's present rate.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="gamma">Multiplicative factor γ ≥ 0 per step.</param>
    /// <exception cref="ArgumentException">γ negative or not finite.</exception>
    public ExponentialLR(ILearningRate optimizer, double gamma) : base(optimizer, "ExponentialLR")
    {
        if (!(gamma >= 0) || double.IsInfinity(gamma))
            throw new ArgumentException($"ExponentialLR: gamma: expected a finite value >= 0, got {gamma}.", nameof(gamma));
        Gamma = gamma;
        Start();
    }

    /// <summary>Multiplicative factor per step.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
        [new("base_lr", BaseLearningRate), new("gamma", Gamma)];

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate) =>
        epoch == 0 ? currentLearningRate : currentLearningRate * Gamma;
}
