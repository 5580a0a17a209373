namespace Research.Core.Training;

/// <summary>Prints a progress bar line every 10% of a run.</summary>
public sealed class ProgressObserver(TextWriter log, string label, long total) : TrainingObserver
{
    long _next = Math.Max(1, total / 10);

    /// <inheritdoc />
    public override void OnAfterStep(StepContext step)
    {
        if (step.Iteration < _next && step.Iteration != total) return;
        _next += Math.Max(1, total / 10);
        int filled = (int)(20 * step.Iteration / Math.Max(1, total));
        log.WriteLine($"  {label,-14} [{new string('#', filled)}{new string('.', 20 - filled)}] step {step.Iteration}/{total}  loss {step.Loss:F4}  lr {step.LearningRate:G3}");
    }
}
