using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Research.Core.Models;
using Research.Core.Traces;
using Research.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Capture;

/// <summary>A half-open index range [Start, End) along one dimension of a tensor.</summary>
/// <param name="Start">First index (≥ 0).</param>
/// <param name="End">One past the last index.</param>
public readonly record struct IndexRange(int Start, int End)
{
    /// <summary>Number of indices.</summary>
    public int Length => End - Start;

    /// <summary>Python slice notation, "0:10".</summary>
    public override string ToString() => $"{Start}:{End}";
}

/// <summary>
/// What to record of one named parameter: its gradient (always), optionally its value and the
/// optimizer's second moment, over a slice of the tensor, every k-th iteration in a range.
/// </summary>
/// <param name="Parameter">The parameter's name in the model, e.g. "fc3.weight".</param>
/// <param name="Rows">Slice of dimension 0 (null: all).</param>
/// <param name="Columns">Slice of dimension 1 for matrices (null: all).</param>
/// <param name="FromIteration">First iteration recorded (1-based; default 1).</param>
/// <param name="ToIteration">Last iteration recorded, inclusive (null: until training ends).</param>
/// <param name="Every">Record every k-th iteration from <paramref name="FromIteration"/> (default 1).</param>
/// <param name="Value">Also record the parameter's value after the step.</param>
/// <param name="SecondMoment">Also record the optimizer's <c>exp_avg_sq</c> after the step (Adam family):
/// v_t, which includes this step's gradient; the adaptive learning rate actually used is
/// lr·sqrt(1−β₂^t)/(sqrt(v_t)+ε) for Adam.</param>
public sealed record ParameterRecording(
    string Parameter,
    IndexRange? Rows = null,
    IndexRange? Columns = null,
    long FromIteration = 1,
    long? ToIteration = null,
    int Every = 1,
    bool Value = false,
    bool SecondMoment = false)
{
    /// <summary>True when iteration <paramref name="t"/> is recorded.</summary>
    public bool Covers(long t) => t >= FromIteration && (ToIteration is null || t <= ToIteration) && (t - FromIteration) % Every == 0;
}

/// <summary>
/// Records a training run to a trace (see <see cref="TraceWriter"/>): gradients of named parameters
/// (optionally a slice, every k-th iteration), their values and Adam's second moment, per-layer
/// activation and gradient statistics, and the scalars loss, learning rate and global gradient norm.
/// Attach it to <see cref="Trainer.Fit"/> as an observer and dispose it (or call <see cref="Complete"/>)
/// after training.
/// </summary>
/// <remarks>
/// <para>Timing: gradients are copied in <see cref="OnAfterBackward"/> (exactly the parameter's
/// <c>.grad</c> after <c>backward()</c> at step t); values and second moments in
/// <see cref="OnAfterStep"/> (after the optimizer's update at step t).</para>
/// <para>Per-layer statistics use the network's capture mode (<see cref="Network.CaptureLayerTensors"/>):
/// each row holds, for one layer and iteration, <see cref="LayerStatColumns"/>. "Saturated" means
/// |y| &gt; 0.99 for tanh, y &lt; 0.01 or &gt; 0.99 for sigmoid, and is 0 for other layers; "zero"
/// counts outputs exactly 0 (dead ReLUs).</para>
/// <para>Non-finite values are written as they are and counted in the manifest.</para>
/// <para>Copies go through <c>MemoryMarshal.Cast&lt;byte, float&gt;</c> of a contiguous CPU tensor,
/// with no per-iteration managed allocation; on a GPU the slice is copied to the host first.</para>
/// </remarks>
public sealed class TraceRecorder : TrainingObserver, IDisposable
{
    /// <summary>Column names of a per-layer statistics row.</summary>
    public static readonly string[] LayerStatColumns =
    [
        "output_mean", "output_std", "output_fraction_zero", "output_fraction_saturated",
        "grad_output_mean", "grad_output_std", "grad_input_mean", "grad_input_std",
    ];

    readonly TraceWriter _writer;
    readonly List<(ParameterRecording Spec, Parameter Param, SeriesHandle Grad, SeriesHandle? Value, SeriesHandle? Moment)> _params = new();
    readonly Dictionary<string, SeriesHandle> _layerSeries = new();
    readonly bool _layerStats;
    readonly long _layerFrom;
    readonly long? _layerTo;
    readonly SeriesHandle _loss, _lr;
    readonly SeriesHandle? _gradNorm;
    readonly Network _model;
    readonly float[] _statRow = new float[LayerStatColumns.Length];
    bool _completed;

    /// <summary>The trace's directory.</summary>
    public string Directory => _writer.Directory;

    /// <summary>The underlying writer (for extra series or run metadata).</summary>
    public TraceWriter Writer => _writer;

    /// <summary>Creates the trace directory and declares the series.</summary>
    /// <param name="directory">Run directory (must not hold a trace unless <paramref name="overwrite"/>).</param>
    /// <param name="model">The network that will be trained.</param>
    /// <param name="run">What was trained, stored under "run" in the manifest (see <see cref="RunDescription"/>).</param>
    /// <param name="parameters">Parameters to record.</param>
    /// <param name="layerStatistics">Record per-layer statistics (turns on the network's capture mode).</param>
    /// <param name="layerFrom">First iteration of per-layer statistics.</param>
    /// <param name="layerTo">Last iteration of per-layer statistics (null: all).</param>
    /// <param name="flushEvery">Flush to disk every this many iterations.</param>
    /// <param name="overwrite">Replace an existing trace in the directory.</param>
    /// <param name="syncToDisk">fsync at each flush. Off by default: a killed process (even SIGKILL)
    /// still leaves a consistent trace because the page cache survives it; fsync adds protection
    /// against power loss at about 1 ms per flush.</param>
    /// <param name="gradientNorm">Record the global gradient norm (one norm per parameter tensor per step).</param>
    /// <exception cref="ArgumentException">An unknown parameter name, a slice outside the tensor, or a
    /// bad range; the message lists what exists.</exception>
    public TraceRecorder(string directory, Network model, JsonObject run, IEnumerable<ParameterRecording> parameters,
        bool layerStatistics = false, long layerFrom = 1, long? layerTo = null, int flushEvery = 10, bool overwrite = false,
        bool syncToDisk = false, bool gradientNorm = true)
    {
        _model = model;
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var specs = parameters.ToList();
        foreach (var spec in specs) Validate(spec, named);
        // The manifest of each automatic flush is written by a background task: the training thread
        // pays for the rows and headers, not for creating and renaming the manifest (about 1.5 ms).
        _writer = TraceWriter.Create(directory, run, flushEvery, overwrite, syncToDisk, manifestInBackground: true);
        foreach (var spec in specs)
        {
            var p = named[spec.Parameter];
            var (shape, slice) = SliceShape(spec, p);
            var grad = _writer.AddSeries($"grad/{spec.Parameter}", "gradient", shape, spec.Parameter, slice,
                $"gradient of {spec.Parameter}{slice} after backward at each recorded iteration", spec.FromIteration, spec.Every);
            var value = spec.Value
                ? _writer.AddSeries($"value/{spec.Parameter}", "parameter", shape, spec.Parameter, slice,
                    $"value of {spec.Parameter}{slice} after the optimizer step", spec.FromIteration, spec.Every)
                : null;
            var moment = spec.SecondMoment
                ? _writer.AddSeries($"exp_avg_sq/{spec.Parameter}", "exp_avg_sq", shape, spec.Parameter, slice,
                    $"optimizer second moment v_t (exp_avg_sq) of {spec.Parameter}{slice} after the step", spec.FromIteration, spec.Every)
                : null;
            _params.Add((spec, p, grad, value, moment));
        }
        _layerStats = layerStatistics;
        _layerFrom = layerFrom;
        _layerTo = layerTo;
        if (layerStatistics)
        {
            model.CaptureLayerTensors = true;
            model.CaptureInputGradient = true;
            foreach (var name in model.LayerNames)
                _layerSeries[name] = _writer.AddSeries($"layer_stats/{name}", "layer_stats", [LayerStatColumns.Length], name, null,
                    "columns: " + string.Join(", ", LayerStatColumns), layerFrom, 1);
        }
        _loss = _writer.AddScalar("loss", "mean cross-entropy of the batch", 1);
        _lr = _writer.AddScalar("lr", "learning rate used by the step", 1);
        if (gradientNorm)
            _gradNorm = _writer.AddScalar("grad_norm", "global L2 norm of all parameter gradients after backward", 1);
    }

    static void Validate(ParameterRecording spec, Dictionary<string, Parameter> named)
    {
        if (!named.TryGetValue(spec.Parameter, out var p))
            throw new ArgumentException($"parameter '{spec.Parameter}' is not in the model; it has: {string.Join(", ", named.Keys)}.",
                nameof(spec.Parameter));
        if (spec.Every < 1) throw new ArgumentException($"Every: expected ≥ 1, got {spec.Every}.", nameof(spec.Every));
        if (spec.FromIteration < 1) throw new ArgumentException($"FromIteration: expected ≥ 1, got {spec.FromIteration}.", nameof(spec.FromIteration));
        if (spec.ToIteration is { } to && to < spec.FromIteration)
            throw new ArgumentException($"ToIteration {to} is before FromIteration {spec.FromIteration}.", nameof(spec.ToIteration));
        void CheckRange(IndexRange? r, int dim, string what)
        {
            if (r is not { } range) return;
            if (p.dim() <= dim)
                throw new ArgumentException($"{what}: {spec.Parameter} has {p.dim()} dimension(s), shape [{string.Join(", ", p.shape)}].", what);
            if (range.Start < 0 || range.End > p.shape[dim] || range.Length < 1)
                throw new ArgumentException($"{what} {range} is outside 0:{p.shape[dim]} of {spec.Parameter} [{string.Join(", ", p.shape)}].", what);
        }
        CheckRange(spec.Rows, 0, "Rows");
        CheckRange(spec.Columns, 1, "Columns");
    }

    static (int[] shape, string? slice) SliceShape(ParameterRecording spec, Parameter p)
    {
        var shape = p.shape.Select(d => (int)d).ToArray();
        if (spec.Rows is null && spec.Columns is null) return (shape, null);
        var parts = new List<string>();
        for (int d = 0; d < shape.Length; d++)
        {
            IndexRange? r = d == 0 ? spec.Rows : d == 1 ? spec.Columns : null;
            if (r is { } range) { shape[d] = range.Length; parts.Add(range.ToString()); }
            else parts.Add($"0:{shape[d]}");
        }
        return (shape, "[" + string.Join(", ", parts) + "]");
    }

    static Tensor Slice(Tensor t, ParameterRecording spec)
    {
        var s = t;
        if (spec.Rows is { } r) s = s.narrow(0, r.Start, r.Length);
        if (spec.Columns is { } c) s = s.narrow(1, c.Start, c.Length);
        return s;
    }

    void Write(SeriesHandle series, long iteration, Tensor source, ParameterRecording spec)
    {
        using var scope = torch.NewDisposeScope();
        var t = Slice(source.detach(), spec);
        if (t.device_type != DeviceType.CPU) t = t.cpu();
        if (t.dtype != ScalarType.Float32) t = t.to(ScalarType.Float32);
        t = t.contiguous();
        _writer.Append(series, iteration, MemoryMarshal.Cast<byte, float>(t.bytes));
    }

    /// <inheritdoc />
    public override void OnAfterBackward(StepContext step)
    {
        long t = step.Iteration;
        foreach (var (spec, p, grad, _, _) in _params)
        {
            if (!spec.Covers(t)) continue;
            if (p.grad is null)
                throw new InvalidOperationException($"{spec.Parameter} has no gradient at iteration {t} (is it used in the forward pass?).");
            Write(grad, t, p.grad, spec);
        }
        if (_layerStats && t >= _layerFrom && (_layerTo is null || t <= _layerTo))
            WriteLayerStats(t);
        _writer.Append(_loss, t, (float)step.Loss);
        _writer.Append(_lr, t, (float)step.LearningRate);
        if (_gradNorm != null) _writer.Append(_gradNorm, t, (float)step.GradientNorm);
    }

    /// <inheritdoc />
    public override void OnAfterStep(StepContext step)
    {
        long t = step.Iteration;
        foreach (var (spec, p, _, value, moment) in _params)
        {
            if (!spec.Covers(t)) continue;
            if (value != null) Write(value, t, p, spec);
            if (moment != null)
            {
                var v = step.Optimizer.GetState(p, "exp_avg_sq")
                        ?? throw new InvalidOperationException(
                            $"optimizer {step.Optimizer.Name} has no exp_avg_sq state for {spec.Parameter}; " +
                            "record SecondMoment only with the toolkit's Adam, AdamW or RAdam.");
                Write(moment, t, v, spec);
            }
        }
    }

    void WriteLayerStats(long t)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var layer in _model.Captured)
        {
            if (!_layerSeries.TryGetValue(layer.Name, out var series)) continue;
            var y = layer.Output.detach().to(ScalarType.Float64);
            double n = y.numel();
            _statRow[0] = (float)y.mean().item<double>();
            _statRow[1] = n > 1 ? (float)y.std().item<double>() : float.NaN;
            _statRow[2] = (float)(y.eq(0).sum().item<long>() / n);
            _statRow[3] = layer.Kind switch
            {
                "Tanh" => (float)(y.abs().gt(0.99).sum().item<long>() / n),
                "Sigmoid" => (float)((y.lt(0.01).sum().item<long>() + y.gt(0.99).sum().item<long>()) / n),
                _ => 0f,
            };
            (_statRow[4], _statRow[5]) = MeanStd(layer.Output.grad);
            (_statRow[6], _statRow[7]) = MeanStd(layer.Input.grad);
            _writer.Append(series, t, _statRow);
        }
    }

    static (float mean, float std) MeanStd(Tensor? g)
    {
        if (g is null) return (float.NaN, float.NaN);
        var d = g.detach().to(ScalarType.Float64);
        return ((float)d.mean().item<double>(), d.numel() > 1 ? (float)d.std().item<double>() : float.NaN);
    }

    /// <inheritdoc />
    public override void OnEnd(TrainingHistory history) => Complete();

    /// <summary>Flushes everything and marks the trace complete (idempotent).</summary>
    public void Complete()
    {
        if (_completed) return;
        _completed = true;
        _writer.Complete();
    }

    /// <summary>Flushes and closes; a trace not completed stays "incomplete" with what was flushed.</summary>
    public void Dispose()
    {
        if (_layerStats) _model.CaptureLayerTensors = false;
        _writer.Dispose();
    }
}
