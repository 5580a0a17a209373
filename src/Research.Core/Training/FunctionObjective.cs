using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>
/// A differentiable function f of the parameters alone (no data, no network), for
/// <see cref="Trainer.Minimize"/>: each step computes f, runs backward and steps the optimizer. The
/// usual use is a 2-D test function f(x, y) of one parameter tensor holding (x, y), whose trajectory
/// shows how an optimizer moves (<see cref="TwoDimensional"/>).
/// </summary>
/// <example><code>
/// using var xy = new Parameter(torch.tensor(new[] { 1.0, -0.5 }, dtype: ScalarType.Float64));
/// var sphere = FunctionObjective.TwoDimensional("x² + y²", xy, (x, y) => x * x + y * y);
/// using var sgd = new Sgd([xy], learningRate: 0.1);
/// var path = new TrajectoryRecorder();
/// var history = Trainer.Minimize(sphere, sgd, steps: 50, observers: [path]);
/// </code></example>
public sealed class FunctionObjective : Objective
{
    readonly Func<IReadOnlyList<Parameter>, Tensor> _function;

    /// <summary>f of several parameter tensors.</summary>
    /// <param name="name">A name for messages and reports (e.g. "Rosenbrock").</param>
    /// <param name="parameters">The parameters f depends on (at least one, each requiring grad); give the
    /// optimizer the same ones.</param>
    /// <param name="function">f: the parameters (in the order given) → a tensor with one element that
    /// depends on them.</param>
    /// <exception cref="ArgumentException">No parameters, a null one, or one that does not require grad.</exception>
    public FunctionObjective(string name, IEnumerable<Parameter> parameters, Func<IReadOnlyList<Parameter>, Tensor> function)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(function);
        Name = name;
        Parameters = parameters.ToArray();
        if (Parameters.Count == 0)
            throw new ArgumentException($"{name}: parameters: expected at least one parameter tensor, got none.", nameof(parameters));
        for (int i = 0; i < Parameters.Count; i++)
        {
            if (Parameters[i] is null)
                throw new ArgumentException($"{name}: parameter {i} is null.", nameof(parameters));
            if (!Parameters[i].requires_grad)
                throw new ArgumentException(
                    $"{name}: parameter {i} (shape [{string.Join(", ", Parameters[i].shape)}]) does not require grad, so f " +
                    "could not be differentiated with respect to it. Create it as new Parameter(tensor).", nameof(parameters));
        }
        _function = function;
    }

    /// <summary>f of one parameter tensor.</summary>
    /// <param name="name">A name for messages and reports.</param>
    /// <param name="parameter">The parameter f depends on.</param>
    /// <param name="function">f: the parameter → a tensor with one element.</param>
    public FunctionObjective(string name, Parameter parameter, Func<Tensor, Tensor> function)
        : this(name, [parameter], ps => function(ps[0])) => ArgumentNullException.ThrowIfNull(function);

    /// <summary>A function f(x, y) of the two elements of one parameter tensor, x = xy[0], y = xy[1].</summary>
    /// <param name="name">A name for messages and reports.</param>
    /// <param name="xy">A parameter with exactly two elements (any shape, e.g. [2]).</param>
    /// <param name="function">f(x, y) from the two zero-dimensional element tensors.</param>
    /// <exception cref="ArgumentException"><paramref name="xy"/> does not have two elements.</exception>
    public static FunctionObjective TwoDimensional(string name, Parameter xy, Func<Tensor, Tensor, Tensor> function)
    {
        ArgumentNullException.ThrowIfNull(xy);
        ArgumentNullException.ThrowIfNull(function);
        if (xy.numel() != 2)
            throw new ArgumentException(
                $"{name}: xy: expected a parameter with 2 elements (x, y), got shape [{string.Join(", ", xy.shape)}] " +
                $"({xy.numel()} elements).", nameof(xy));
        return new FunctionObjective(name, xy, p =>
        {
            var flat = p.reshape(2);
            return function(flat[0], flat[1]);
        });
    }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <summary>The parameters f depends on, in order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>f at the present parameters, with its autograd graph (call <c>backward()</c> on it).</summary>
    /// <exception cref="InvalidOperationException">f returned null, more than one element, or a value that
    /// does not depend on the parameters.</exception>
    public Tensor Evaluate()
    {
        var f = _function(Parameters)
                ?? throw new InvalidOperationException($"{Name}: the function returned null; expected a one-element tensor.");
        if (f.numel() != 1)
            throw new InvalidOperationException(
                $"{Name}: the function returned shape [{string.Join(", ", f.shape)}] ({f.numel()} elements); expected a " +
                "scalar (one element). Sum or reduce it.");
        if (!f.requires_grad)
            throw new InvalidOperationException(
                $"{Name}: the function's value does not depend on the parameters (it has no gradient); build it from the " +
                "parameter tensors it is given, not from copies or .item() values.");
        return f;
    }
}
