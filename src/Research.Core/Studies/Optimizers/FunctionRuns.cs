using System.Diagnostics;
using Research.Core.Runtime;
using Research.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>One optimizer's path over a 2-D test function.</summary>
/// <param name="Function">The function's key.</param>
/// <param name="Label">The optimizer's label.</param>
/// <param name="Gradient">How the gradients were computed.</param>
/// <param name="X">x of the start and after every step (length steps + 1, fewer when diverged).</param>
/// <param name="Y">y likewise.</param>
/// <param name="F">f at each point (the last is non-finite when the run diverged).</param>
/// <param name="Diverged">True when f became NaN or infinite; the run stopped there.</param>
/// <param name="DivergedAtStep">The step whose f was not finite, or null.</param>
/// <param name="PlannedSteps">The steps asked for.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record Trajectory(string Function, string Label, GradientSource Gradient, double[] X, double[] Y,
    double[] F, bool Diverged, long? DivergedAtStep, int PlannedSteps, double Seconds)
{
    /// <summary>Steps actually taken (updates applied).</summary>
    public int Steps => X.Length - 1;
}

/// <summary>
/// The 2-D harness: minimises a <see cref="TestFunction"/> from a start with one optimizer through the
/// toolkit's training loop (<see cref="Trainer.Minimize"/>) and records the path
/// (<see cref="TrajectoryRecorder"/>). A run whose f becomes NaN or infinite stops there and is marked
/// diverged; nothing is thrown for it.
/// </summary>
public static class FunctionRuns
{
    /// <summary>Runs one optimizer.</summary>
    /// <param name="function">The function.</param>
    /// <param name="recipe">The optimizer.</param>
    /// <param name="start">The start (finite, with f finite there).</param>
    /// <param name="steps">Steps, ≥ 1.</param>
    /// <param name="gradient">Autograd, or the notes' central differences.</param>
    /// <exception cref="ArgumentException">A non-finite start, a start where f is not finite, or steps
    /// &lt; 1.</exception>
    public static Trajectory Run(TestFunction function, OptimizerRecipe recipe, PlanePoint start, int steps,
        GradientSource gradient = GradientSource.Autograd)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(recipe);
        CheckStart(function, start);
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"{function.Key}: steps: expected an integer " +
                $">= 1, got {steps}.");
        var clock = Stopwatch.StartNew();
        using var xy = new Parameter(torch.tensor(new[] { start.X, start.Y }, ScalarType.Float64));
        var objective = gradient == GradientSource.Autograd
            ? FunctionObjective.TwoDimensional(function.Key, xy, function.Evaluate)
            : CentralDifference.Objective(function, xy);
        var optimizer = recipe.Create([xy], objective.Evaluate);
        try
        {
            var path = new TrajectoryRecorder();
            var history = Trainer.Minimize(objective, optimizer, steps, [path]);
            var x = path.Points.Select(p => p[0]).ToArray();
            var y = path.Points.Select(p => p[1]).ToArray();
            var f = path.Values.Append(function.Value(x[^1], y[^1])).ToArray();
            return new Trajectory(function.Key, recipe.Label, gradient, x, y, f, history.Diverged,
                history.DivergedAtIteration, steps, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            (optimizer as IDisposable)?.Dispose();
        }
    }

    /// <summary>Throws unless the start is finite and f is finite there.</summary>
    /// <exception cref="ArgumentException">The message names the point, f's value and a fix.</exception>
    public static void CheckStart(TestFunction function, PlanePoint start)
    {
        ArgumentNullException.ThrowIfNull(function);
        if (!double.IsFinite(start.X) || !double.IsFinite(start.Y))
            throw new ArgumentException(
                $"{function.Key}: start: expected finite coordinates, got ({start.X}, {start.Y}). " +
                $"Give a point such as ({function.Start.X}, {function.Start.Y}).", nameof(start));
        double f = function.Value(start.X, start.Y);
        if (!double.IsFinite(f))
            throw new ArgumentException(
                $"{function.Key}: start: f({start.X}, {start.Y}) = {f}; expected a finite value there. " +
                "Choose a start " +
                $"inside x ∈ [{function.XRange.Min}, {function.XRange.Max}], y ∈ [{function.YRange.Min}, " +
                    $"{function.YRange.Max}].",
                nameof(start));
    }
}
