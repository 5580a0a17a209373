using System.Collections.ObjectModel;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// A first-order optimizer over one group of parameters that behaves step for step like the
/// PyTorch 1.13 optimizer of the same name (single-tensor path, <c>foreach=False</c>).
/// </summary>
/// <remarks>
/// <para>This is the toolkit's own optimizer family, not TorchSharp's <c>torch.optim</c>: TorchSharp
/// 0.107's RAdam applies the learning rate twice once ρ_t &gt; 5, and several of its defaults differ
/// from PyTorch's (AdamW weight decay 0, RAdam lr 0.002, no <c>maximize</c> for Adagrad and RAdam);
/// its other update rules agree with PyTorch (see <c>OptimizerTests.fs</c>). Each subclass performs
/// exactly the tensor operations of PyTorch 1.13.1's <c>torch/optim/*.py</c>, in the same order, with
/// the scalar factors computed in double precision as Python does.</para>
/// <para>Agreement with PyTorch (<c>/work/shared/reference/optimizers*.json</c>, 60 runs of 100 steps
/// per file): bit for bit when the square root is correctly rounded. libtorch 2.10's CPU
/// <c>sqrt</c> is not (about 0.8% of float64 results are one ulp off), which leaves deviations of at
/// most a few 1e-14 relative after 100 steps for the optimizers that take square roots (see
/// <see cref="Sqrt"/>).</para>
/// <para>All parameters form one parameter group and share the hyperparameters. State is created
/// lazily, per parameter, on the first step in which that parameter has a gradient (as in PyTorch),
/// and lives until <see cref="Dispose"/>. <see cref="GetState"/> returns the live state tensors, so a
/// recorder can copy, for example, Adam's second moment <c>exp_avg_sq</c>.</para>
/// <para>Per-parameter step counters are 64-bit integers; PyTorch keeps them in a float32 tensor,
/// which is exact up to 2^24 steps, so the two agree for any run shorter than that.</para>
/// <para>Not thread-safe: step an optimizer from one thread at a time.</para>
/// </remarks>
public abstract class Optimizer : IDisposable, Research.Core.Training.IOptimizer
{
    readonly Parameter[] _parameters;
    readonly ParameterState?[] _state;
    readonly Dictionary<Parameter, int> _index = new(ReferenceEqualityComparer.Instance);
    double _learningRate;
    bool _disposed;

    /// <summary>Checks the parameters and the learning rate; subclasses check the rest.</summary>
    /// <param name="kind">Which optimizer this is (its name is PyTorch's class name, e.g. "Adam").</param>
    /// <param name="parameters">The parameters to optimise (at least one, no repeats, none null).</param>
    /// <param name="learningRate">Initial learning rate, ≥ 0 and finite.</param>
    /// <exception cref="ArgumentException">An empty or repeated parameter list, or a bad learning rate.</exception>
    protected Optimizer(OptimizerKind kind, IEnumerable<Parameter> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Kind = kind;
        Name = kind.ToString();
        _parameters = parameters.ToArray();
        if (_parameters.Length == 0)
            throw new ArgumentException(
                $"{Name}: expected at least one parameter, got an empty sequence. Pass model.parameters() " +
                "(and check that the model has trainable parameters).", nameof(parameters));
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i] ?? throw new ArgumentException(
                $"{Name}: parameter {i} is null; expected only non-null parameters.", nameof(parameters));
            if (!_index.TryAdd(p, i))
                throw new ArgumentException(
                    $"{Name}: parameter {i} is the same object as parameter {_index[p]}; expected each parameter " +
                    "once (a repeated parameter would be updated twice per step). Remove the duplicate.",
                    nameof(parameters));
        }
        _state = new ParameterState?[_parameters.Length];
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
            throw new ArgumentException($"{Name}: lr: expected a finite value >= 0, got {learningRate}.",
                nameof(learningRate));
        _learningRate = learningRate;
    }

    /// <summary>Which optimizer this is.</summary>
    public OptimizerKind Kind { get; }

    /// <summary>PyTorch's class name of this optimizer ("SGD", "Adagrad", "Adadelta", "RMSprop",
    /// "Adam", "AdamW" or "RAdam"): <see cref="Kind"/> as text.</summary>
    public string Name { get; }

    /// <summary>The parameters, in the order given to the constructor.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>The learning rate the next <see cref="Step"/> uses. Schedules set it between steps.</summary>
    /// <exception cref="ArgumentException">A negative, NaN or infinite value.</exception>
    public double LearningRate
    {
        get => _learningRate;
        set
        {
            if (!(value >= 0) || double.IsInfinity(value))
                throw new ArgumentException(
                    $"{Name}: lr: expected a finite value >= 0, got {value}.", nameof(value));
            _learningRate = value;
        }
    }

    /// <summary>How many times <see cref="Step"/> has been called.</summary>
    public long StepCount { get; private set; }

    /// <summary>
    /// True (the default): use libtorch's fused <c>add(alpha)</c>/<c>addcmul</c> kernels exactly where
    /// PyTorch's optimizer calls them; on CPUs with FMA these round once, as PyTorch does on such CPUs
    /// (reference <c>optimizers.json</c>). False: separate multiply and add, two roundings on any
    /// hardware, as PyTorch with <c>ATEN_CPU_CAPABILITY=default</c> (reference
    /// <c>optimizers_nofma.json</c>). The two differ only in the last bits of each step.
    /// </summary>
    public bool FusedMultiplyAdd { get; set; } = true;

    /// <summary>
    /// Every hyperparameter under PyTorch's name ("lr", "betas", "eps", "weight_decay", …; "betas" is a
    /// two-element <c>double[]</c>), plus "fused_multiply_add". "lr" is the current learning rate.
    /// A fresh snapshot on every call, for manifests and reports.
    /// </summary>
    public IReadOnlyDictionary<string, object> Hyperparameters
    {
        get
        {
            var d = new Dictionary<string, object> { ["lr"] = LearningRate };
            foreach (var (k, v) in DescribeHyperparameters()) d[k] = v;
            d["fused_multiply_add"] = FusedMultiplyAdd;
            return new ReadOnlyDictionary<string, object>(d);
        }
    }

    /// <summary>The names of the state tensors this optimizer keeps per parameter with its present
    /// settings (e.g. "exp_avg", "exp_avg_sq" for Adam), as PyTorch names them.</summary>
    public abstract IReadOnlyList<string> StateNames { get; }

    /// <summary>The hyperparameters other than the learning rate, under PyTorch's names.</summary>
    protected abstract IEnumerable<KeyValuePair<string, object>> DescribeHyperparameters();

    /// <summary>
    /// Clears the gradients of all parameters. <paramref name="setToNone"/> true (the default, as
    /// PyTorch 2's <c>zero_grad(set_to_none=True)</c>) sets each <c>.grad</c> to null, so a parameter
    /// that then gets no gradient is skipped by the next step; false fills existing gradients with
    /// zeros in place (PyTorch 1.13's default), so such a parameter still takes a step with a zero
    /// gradient (which moves it when there is momentum or weight decay).
    /// </summary>
    /// <inheritdoc cref="ZeroGrad(bool)"/>
    void Research.Core.Training.IOptimizer.ZeroGrad() => ZeroGrad();

    public void ZeroGrad(bool setToNone = true)
    {
        ThrowIfDisposed();
        foreach (var p in _parameters)
        {
            using var g = p.grad;
            if (g is null) continue;
            if (setToNone)
                p.grad = null;
            else
            {
                using var _ = torch.no_grad();
                g.detach_();
                g.zero_();
            }
        }
    }

    /// <summary>
    /// Updates every parameter whose <c>.grad</c> is not null, once, from that gradient; parameters
    /// without a gradient are skipped and their state is not touched (as in PyTorch).
    /// </summary>
    /// <remarks>Runs under <c>torch.no_grad()</c> in its own dispose scope: temporaries are freed
    /// before it returns and state tensors are updated in place, so repeated steps allocate no
    /// lasting native memory.</remarks>
    public void Step()
    {
        ThrowIfDisposed();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var grad = p.grad;
            if (grad is null) continue;
            if (grad.is_sparse)
                throw new InvalidOperationException(
                    $"{Name}: parameter {i} has a sparse gradient; only dense gradients are supported.");
            var state = _state[i] ??= new ParameterState();
            state.Step++;
            Update(p, grad, state);
        }
        StepCount++;
    }

    /// <summary>
    /// One parameter's update (PyTorch's single-tensor loop body). Called inside <see cref="Step"/>
    /// under no_grad and a dispose scope, after <paramref name="state"/>.<see cref="ParameterState.Step"/>
    /// was incremented. Update <paramref name="parameter"/> and the state tensors in place.
    /// </summary>
    /// <param name="parameter">The parameter to update in place.</param>
    /// <param name="grad">Its gradient (same shape and dtype).</param>
    /// <param name="state">Its state; create state tensors with <see cref="ParameterState.Create"/>.</param>
    protected abstract void Update(Tensor parameter, Tensor grad, ParameterState state);

    /// <summary>
    /// The live state tensor <paramref name="name"/> of parameter <paramref name="parameter"/>
    /// ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "sum", "square_avg",
    /// "acc_delta", "grad_avg"), or null if this optimizer keeps no such state or has not yet stepped
    /// this parameter. The tensor is the optimizer's own: it changes at every step and is disposed
    /// with the optimizer; copy it (<c>clone()</c>) to keep a value, and never write to it.
    /// </summary>
    /// <exception cref="ArgumentException">The parameter is not one of this optimizer's.</exception>
    public Tensor? GetState(Parameter parameter, string name)
    {
        ThrowIfDisposed();
        var s = _state[IndexOf(parameter)];
        return s is not null && s.Tensors.TryGetValue(name, out var t) ? t : null;
    }

    /// <summary>How many updates parameter <paramref name="parameter"/> has received (PyTorch's
    /// per-parameter <c>state['step']</c>; 0 before its first gradient).</summary>
    /// <exception cref="ArgumentException">The parameter is not one of this optimizer's.</exception>
    public long GetParameterStep(Parameter parameter)
    {
        ThrowIfDisposed();
        return _state[IndexOf(parameter)]?.Step ?? 0;
    }

    int IndexOf(Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (_index.TryGetValue(parameter, out var i)) return i;
        throw new ArgumentException(
            $"{Name}: the parameter (shape [{string.Join(", ", parameter.shape)}]) is not one of this optimizer's " +
            $"{_parameters.Length} parameters; pass the same Parameter object the optimizer was built with.",
            nameof(parameter));
    }

    /// <summary>
    /// The element-wise square root the updates use: libtorch's <c>sqrt</c> unless a test replaced it.
    /// </summary>
    /// <remarks>libtorch 2.10's CPU <c>sqrt</c> (TorchSharp 0.107) is not correctly rounded: about 0.8%
    /// of float64 (and 0.7% of float32) results are one ulp off, whatever <c>ATEN_CPU_CAPABILITY</c> says
    /// (<c>pow(x, 0.5)</c> likewise), whereas the
    /// PyTorch 1.13 that produced the reference vectors rounds correctly. The tests swap in a correctly
    /// rounded square root through <see cref="SquareRootOverride"/> to show that every other operation
    /// reproduces PyTorch bit for bit.</remarks>
    protected Tensor Sqrt(Tensor x) => SquareRootOverride is { } f ? f(x) : x.sqrt();

    /// <summary>Test hook: replaces the square root of <see cref="Sqrt"/> (null: libtorch's).</summary>
    internal Func<Tensor, Tensor>? SquareRootOverride { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the hyperparameter unless <paramref name="ok"/>.</summary>
    /// <param name="ok">The check.</param>
    /// <param name="paramName">The C# parameter name (the exception's ParamName).</param>
    /// <param name="torchName">PyTorch's name of the hyperparameter, used in the message.</param>
    /// <param name="expectation">The valid range, e.g. "a finite value >= 0".</param>
    /// <param name="value">The value received.</param>
    /// <param name="fix">An optional hint how to fix it.</param>
    protected void Require(bool ok, string paramName, string torchName, string expectation, object value,
        string? fix = null)
    {
        if (!ok)
            throw new ArgumentException(
                $"{Name}: {torchName}: expected {expectation}, got {value}." + (fix is null ? "" : " " + fix),
                paramName);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="value"/> is finite and ≥ 0.</summary>
    /// <param name="value">The value received.</param>
    /// <param name="paramName">The C# parameter name.</param>
    /// <param name="torchName">PyTorch's name of the hyperparameter.</param>
    protected void RequireFiniteNonNegative(double value, string paramName, string torchName) =>
        Require(value >= 0 && double.IsFinite(value), paramName, torchName, "a finite value >= 0", value);

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Disposes every state tensor. The parameters are not touched.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _state) s?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>A short description: name and hyperparameters.</summary>
    public override string ToString() =>
        $"{Name}({string.Join(", ", Hyperparameters.Select(kv => $"{kv.Key}={Format(kv.Value)}"))})";

    static string Format(object v) => v switch
    {
        double[] a => "(" + string.Join(", ", a.Select(x => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + ")",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "True" : "False",
        _ => v.ToString() ?? "",
    };

    /// <summary>The optimizer state of one parameter: its step counter and named state tensors.</summary>
    protected sealed class ParameterState : IDisposable
    {
        /// <summary>Updates this parameter has received, including the current one.</summary>
        public long Step { get; internal set; }

        /// <summary>The state tensors by PyTorch's name.</summary>
        public Dictionary<string, Tensor> Tensors { get; } = new();

        /// <summary>True once a state tensor <paramref name="name"/> exists.</summary>
        public bool Has(string name) => Tensors.ContainsKey(name);

        /// <summary>The state tensor <paramref name="name"/> (which must exist).</summary>
        public Tensor this[string name] => Tensors[name];

        /// <summary>Adds <paramref name="tensor"/> as state <paramref name="name"/>, taking it out of
        /// the current dispose scope so that it lives until the optimizer is disposed.</summary>
        public Tensor Create(string name, Tensor tensor)
        {
            var owned = tensor.DetachFromDisposeScope();
            Tensors.Add(name, owned);
            return owned;
        }

        /// <summary>Disposes the state tensors.</summary>
        public void Dispose()
        {
            foreach (var t in Tensors.Values) t.Dispose();
            Tensors.Clear();
        }
    }
}
