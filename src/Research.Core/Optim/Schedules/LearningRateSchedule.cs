using System.Collections.ObjectModel;

namespace Research.Core.Optim.Schedules;

/// <summary>
/// Base of the schedules whose learning rate is a function of the step count (and possibly of the
/// optimizer's current rate): PyTorch's <c>_LRScheduler</c>. Subclasses call <see cref="Start"/> at
/// the end of their constructor, which sets the rate for the first optimizer step (PyTorch's
/// <c>last_epoch</c> 0).
/// </summary>
public abstract class LearningRateSchedule : ILearningRateSchedule
{
    /// <summary>Remembers the optimizer and its present learning rate as the base rate.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="name">PyTorch's class name of the schedule.</param>
    protected LearningRateSchedule(ILearningRate optimizer, string name)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        Name = name;
        BaseLearningRate = optimizer.LearningRate;
    }

    /// <inheritdoc/>
    public ILearningRate Optimizer { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The optimizer's learning rate when the schedule was created (PyTorch's
    /// <c>base_lrs[0]</c>/<c>initial_lr</c>), unless the schedule defines its own base rate.</summary>
    public double BaseLearningRate { get; protected set; }

    /// <inheritdoc/>
    public int LastEpoch { get; private set; }

    /// <inheritdoc/>
    public double CurrentLearningRate { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object> Settings =>
        new ReadOnlyDictionary<string, object>(DescribeSettings().ToDictionary(kv => kv.Key, kv => kv.Value));

    /// <summary>The settings under PyTorch's names.</summary>
    protected abstract IEnumerable<KeyValuePair<string, object>> DescribeSettings();

    /// <summary>The learning rate after <paramref name="epoch"/> steps (epoch 0: the first optimizer
    /// step). <paramref name="currentLearningRate"/> is the optimizer's rate before this call, for the
    /// chainable schedules.</summary>
    protected abstract double ComputeLearningRate(int epoch, double currentLearningRate);

    /// <summary>Sets the learning rate of epoch 0; call at the end of a subclass constructor.</summary>
    protected void Start() => Apply(ComputeLearningRate(0, Optimizer.LearningRate));

    /// <inheritdoc/>
    public void Step(double? metric = null)
    {
        LastEpoch++;
        Apply(ComputeLearningRate(LastEpoch, Optimizer.LearningRate));
    }

    void Apply(double lr)
    {
        if (!(lr >= 0) || double.IsInfinity(lr))
            throw new InvalidOperationException(
                $"{Name}: the schedule produced learning rate {lr} at step {LastEpoch}; expected a finite value >= 0. " +
                "Check the schedule's settings (or the lambda of a LambdaLR).");
        Optimizer.LearningRate = lr;
        CurrentLearningRate = lr;
        OnLearningRateSet(LastEpoch);
    }

    /// <summary>Called after the rate of step <paramref name="epoch"/> was set (at construction by
    /// <see cref="Start"/> with epoch 0, then by every <see cref="Step"/>), for schedules that set
    /// more than the rate (e.g. <see cref="CyclicLR"/>'s momentum). Does nothing by default.</summary>
    /// <param name="epoch">The schedule's step count, as given to <see cref="ComputeLearningRate"/>.</param>
    protected virtual void OnLearningRateSet(int epoch) { }

    /// <summary>Name and settings.</summary>
    public override string ToString() => $"{Name}({string.Join(", ", Settings.Select(kv => $"{kv.Key}={kv.Value}"))})";
}
