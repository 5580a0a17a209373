using System.Collections.ObjectModel;
using Research.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The base of the optimization seminar's hand-written optimizers (<see cref="HeavyBallMomentum"/>,
/// <see cref="LookAheadNesterov"/>, <see cref="SeminarAdagrad"/>, <see cref="SeminarAdadelta"/>,
/// <see cref="SeminarAdam"/>): each reproduces one class of the notebook with its own update rule,
/// which is not PyTorch's (each subclass says how it differs). They run in the toolkit's training
/// loops like any <see cref="IOptimizer"/>, so a trajectory of the notebook's Adam and of
/// <c>torch.optim.Adam</c> come from the same harness.
/// </summary>
/// <remarks>
/// <para>The notebook files are not in this repository; each rule is reconstructed from the study's
/// specification (issue 11), which quotes how the notebook's code differs from PyTorch, and every
/// constant the specification does not give is named as an assumption in the subclass.</para>
/// <para>State is kept per parameter as named tensors created on its first step, as PyTorch does.
/// <see cref="Step"/> runs under <c>no_grad</c> in a dispose scope; parameters without a gradient are
/// skipped. Not thread-safe.</para>
/// </remarks>
public abstract class HandWrittenOptimizer : IOptimizer, IDisposable
{
    readonly Parameter[] _parameters;
    readonly Dictionary<string, Tensor>?[] _state;
    double _learningRate;

    /// <summary>Checks the parameters and the learning rate.</summary>
    /// <param name="name">The label in reports, e.g. "seminar Adam".</param>
    /// <param name="parameters">The parameters to optimise (at least one).</param>
    /// <param name="learningRate">Learning rate lr, finite and &gt; 0.</param>
    /// <exception cref="ArgumentException">No parameters, or lr not finite and positive.</exception>
    protected HandWrittenOptimizer(string name, IEnumerable<Parameter> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Name = name;
        _parameters = parameters.ToArray();
        if (_parameters.Length == 0 || _parameters.Any(p => p is null))
            throw new ArgumentException($"{name}: expected one or more non-null parameters, got {_parameters.Length} " +
                "(or a null one). Pass the objective's parameters.", nameof(parameters));
        _state = new Dictionary<string, Tensor>?[_parameters.Length];
        LearningRate = learningRate;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The parameters, in the order given.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>The learning rate of the next step.</summary>
    /// <exception cref="ArgumentException">A value that is not finite and positive.</exception>
    public double LearningRate
    {
        get => _learningRate;
        set
        {
            if (!(value > 0) || double.IsInfinity(value))
                throw new ArgumentException(
                    $"{Name}: lr: expected a finite value > 0, got {value}. The notebook's runs use lr = 0.1.",
                    nameof(value));
            _learningRate = value;
        }
    }

    /// <summary>Returns <paramref name="value"/> when 0 ≤ value &lt; 1, else throws naming it.</summary>
    /// <exception cref="ArgumentException">value outside [0, 1).</exception>
    protected double InUnitInterval(string name, double value) => value >= 0 && value < 1 ? value
        : throw new ArgumentException($"{Name}: {name}: expected 0 <= {name} < 1, got {value}.", name);

    /// <summary>Returns <paramref name="value"/> when it is finite and &gt; 0, else throws naming it.</summary>
    /// <exception cref="ArgumentException">value ≤ 0, NaN or infinite.</exception>
    protected double Positive(string name, double value) => value > 0 && double.IsFinite(value) ? value
        : throw new ArgumentException($"{Name}: {name}: expected a finite value > 0, got {value}.", name);

    /// <summary>How many steps have been taken (t of the bias corrections).</summary>
    public long StepCount { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object> Hyperparameters =>
        new ReadOnlyDictionary<string, object>(
            new Dictionary<string, object>(Describe()) { ["lr"] = LearningRate });

    /// <summary>The hyperparameters other than lr, by the notebook's names.</summary>
    protected abstract IEnumerable<KeyValuePair<string, object>> Describe();

    /// <inheritdoc/>
    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            using var g = p.grad;
            if (g is not null) p.grad = null;
        }
    }

    /// <inheritdoc/>
    public virtual void Step()
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        StepCount++;
        for (int i = 0; i < _parameters.Length; i++)
            if (_parameters[i].grad is { } grad)
                Update(_parameters[i], grad, StateOf(i));
    }

    /// <summary>One parameter's update in place, under no_grad; <see cref="StepCount"/> already counts it.</summary>
    /// <param name="parameter">The parameter (updated in place).</param>
    /// <param name="grad">Its gradient.</param>
    /// <param name="state">Its state tensors by name; add new ones with <see cref="Keep"/>.</param>
    protected abstract void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state);

    /// <summary>The state of parameter <paramref name="index"/> (created empty on first use).</summary>
    protected IDictionary<string, Tensor> StateOf(int index) => _state[index] ??= new Dictionary<string, Tensor>();

    /// <summary>The state tensor <paramref name="name"/>, created as zeros like the parameter on first use
    /// and kept (outside the step's dispose scope) until <see cref="Dispose"/>.</summary>
    protected static Tensor Keep(IDictionary<string, Tensor> state, string name, Tensor parameter)
    {
        if (!state.TryGetValue(name, out var t))
            state[name] = t = torch.zeros_like(parameter).DetachFromDisposeScope();
        return t;
    }

    /// <inheritdoc/>
    public Tensor? GetState(Parameter parameter, string name)
    {
        int i = Array.IndexOf(_parameters, parameter);
        if (i < 0)
            throw new ArgumentException($"{Name}: the parameter is not one of this optimizer's {_parameters.Length}.",
                nameof(parameter));
        return _state[i] is { } s && s.TryGetValue(name, out var t) ? t : null;
    }

    /// <summary>Frees the state tensors.</summary>
    public void Dispose()
    {
        foreach (var s in _state)
            if (s is not null)
                foreach (var t in s.Values) t.Dispose();
        Array.Clear(_state);
        GC.SuppressFinalize(this);
    }

    /// <summary>The label and hyperparameters.</summary>
    public override string ToString() =>
        $"{Name}({string.Join(", ", Hyperparameters.Select(kv => $"{kv.Key}={kv.Value}"))})";
}
