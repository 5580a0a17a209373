namespace Research.Core.Optim.Schedules;

/// <summary>
/// Linear warm-up as a <see cref="LambdaLR"/> with λ(k) = min(1, (k + 1)/warmup_steps): the rate
/// rises in equal steps from base_lr/warmup_steps at the first optimizer step to base_lr at step
/// warmup_steps (k = warmup_steps − 1) and stays there. The form used for "AdamW with warm-up" in
/// the gradient-distribution notebook (Goyal et al., "Accurate, Large Minibatch SGD: Training
/// ImageNet in 1 Hour", arXiv:1706.02677, for warm-up in general).
/// </summary>
public sealed class LinearWarmup : LambdaLR
{
    /// <summary>Creates the warm-up; the optimizer's present rate is the target base_lr.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="warmupSteps">Number of steps to reach base_lr, ≥ 1.</param>
    /// <exception cref="ArgumentException">warmupSteps &lt; 1.</exception>
    public LinearWarmup(ILearningRate optimizer, int warmupSteps)
        : base(optimizer, Factor(warmupSteps), "LinearWarmup") => WarmupSteps = warmupSteps;

    /// <summary>Steps to reach the base rate.</summary>
    public int WarmupSteps { get; }

    static Func<int, double> Factor(int warmupSteps)
    {
        if (warmupSteps < 1)
            throw new ArgumentException($"LinearWarmup: warmup_steps: expected an integer >= 1, got {warmupSteps}.",
                nameof(warmupSteps));
        return k => Math.Min(1.0, (k + 1) / (double)warmupSteps);
    }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
        [new("base_lr", BaseLearningRate), new("warmup_steps", WarmupSteps), new("lr_lambda", "min(1, (k + 1) / warmup_steps)")];
}
