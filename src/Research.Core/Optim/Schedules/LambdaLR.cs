namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>LambdaLR</c>: the learning rate after k steps is base_lr · λ(k), where base_lr
/// is the optimizer's rate when the schedule is created.
/// </summary>
public class LambdaLR : LearningRateSchedule
{
    readonly Func<int, double> _lambda;

    /// <summary>Creates the schedule and sets the rate base_lr · λ(0) for the first step.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="lambda">The multiplicative factor λ(k) for step count k = 0, 1, …; it must give a
    /// finite value ≥ 0.</param>
    /// <exception cref="InvalidOperationException">λ gives a negative or non-finite factor.</exception>
    public LambdaLR(ILearningRate optimizer, Func<int, double> lambda) : this(optimizer, lambda, "LambdaLR") { }

    /// <summary>For subclasses that are a LambdaLR under another name.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="lambda">The factor λ(k).</param>
    /// <param name="name">The schedule's name.</param>
    protected LambdaLR(ILearningRate optimizer, Func<int, double> lambda, string name) : base(optimizer, name)
    {
        ArgumentNullException.ThrowIfNull(lambda);
        _lambda = lambda;
        Start();
    }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> DescribeSettings() =>
        [new("base_lr", BaseLearningRate), new("lr_lambda", "user function")];

    /// <inheritdoc/>
    protected override double ComputeLearningRate(int epoch, double currentLearningRate) =>
        BaseLearningRate * _lambda(epoch);
}
