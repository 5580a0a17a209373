namespace Research.Core.Optim.Schedules;

/// <summary>
/// A learning-rate schedule acting on any optimizer with a settable learning rate
/// (<see cref="ILearningRate"/>: every toolkit optimizer and every <c>Training.IOptimizer</c>), with PyTorch 1.13's
/// <c>torch.optim.lr_scheduler</c> conventions: constructing the schedule sets the learning rate of
/// the first optimizer step, and <see cref="Step"/> is called once after each optimizer step (or
/// epoch), setting the rate for the next one.
/// </summary>
/// <remarks>
/// The usual loop is <c>optimizer.Step(); schedule.Step();</c> (ReduceLROnPlateau:
/// <c>schedule.Step(validationLoss)</c>). After k calls of <see cref="Step"/>, the optimizer's
/// learning rate is the value PyTorch's scheduler gives after k calls of <c>scheduler.step()</c>.
/// </remarks>
public interface ILearningRateSchedule
{
    /// <summary>The optimizer whose learning rate this schedule sets (schedules that change more,
    /// such as <see cref="CyclicLR"/> with momentum cycling, ask for further capabilities).</summary>
    ILearningRate Optimizer { get; }

    /// <summary>PyTorch's class name of the schedule (e.g. "StepLR").</summary>
    string Name { get; }

    /// <summary>Every setting under PyTorch's name, for manifests and reports.</summary>
    IReadOnlyDictionary<string, object> Settings { get; }

    /// <summary>How many times <see cref="Step"/> has been called (PyTorch's <c>last_epoch</c>).</summary>
    int LastEpoch { get; }

    /// <summary>The learning rate this schedule set last (PyTorch's <c>get_last_lr()[0]</c>).</summary>
    double CurrentLearningRate { get; }

    /// <summary>Advances the schedule by one step and sets the optimizer's learning rate.</summary>
    /// <param name="metric">The monitored quantity (e.g. validation loss): required by
    /// ReduceLROnPlateau, ignored by the other schedules.</param>
    void Step(double? metric = null);
}
