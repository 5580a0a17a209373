namespace Research.Core.Training;

/// <summary>
/// Records the values of all optimised parameters (flattened, as <see cref="StepContext.ParameterValues"/>)
/// before the first step and after every step, with the loss (or f) of each step: the path an
/// optimizer takes, e.g. over a 2-D test function (<see cref="FunctionObjective.TwoDimensional"/>).
/// Meant for small parameter sets; every point is a new array.
/// </summary>
public sealed class TrajectoryRecorder : TrainingObserver
{
    readonly List<double[]> _points = new();
    readonly List<double> _values = new();

    /// <summary>Points[0] is the start; Points[k] the parameters after step k.</summary>
    public IReadOnlyList<double[]> Points => _points;

    /// <summary>Values[k] is the loss (or f) at step k + 1, i.e. at Points[k], before that step's update.</summary>
    public IReadOnlyList<double> Values => _values;

    /// <inheritdoc/>
    public override void OnStart(StepContext context)
    {
        _points.Clear();
        _values.Clear();
        _points.Add(context.ParameterValues());
        base.OnStart(context);
    }

    /// <inheritdoc/>
    public override void OnAfterStep(StepContext step)
    {
        _values.Add(step.Loss);
        _points.Add(step.ParameterValues());
    }
}
