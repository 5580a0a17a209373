using Research.Core.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>A point (x, y) of the plane; a tuple <c>(x, y)</c> converts to it.</summary>
/// <param name="X">x.</param>
/// <param name="Y">y.</param>
public readonly record struct PlanePoint(double X, double Y)
{
    /// <summary>The point of a tuple.</summary>
    public static implicit operator PlanePoint((double X, double Y) p) => new(p.X, p.Y);
}

/// <summary>An interval [Min, Max] of one axis; a tuple <c>(min, max)</c> converts to it.</summary>
/// <param name="Min">The lower end.</param>
/// <param name="Max">The upper end.</param>
public readonly record struct AxisRange(double Min, double Max)
{
    /// <summary>The interval of a tuple.</summary>
    public static implicit operator AxisRange((double Min, double Max) r) => new(r.Min, r.Max);
}

/// <summary>A stationary point of a 2-D test function: a local minimum, or a declared saddle.</summary>
/// <param name="X">x.</param>
/// <param name="Y">y.</param>
/// <param name="F">f(x, y).</param>
/// <param name="Kind">"minimum" or "saddle".</param>
public sealed record StationaryPoint(double X, double Y, double F, string Kind);

/// <summary>Values of f on a rectangular grid: <c>Z[i][j] = f(Xs[j], Ys[i])</c> (rows over y).</summary>
/// <param name="Xs">Grid x values, ascending.</param>
/// <param name="Ys">Grid y values, ascending.</param>
/// <param name="Z">f at each grid point, rows over y.</param>
public sealed record SurfaceGrid(double[] Xs, double[] Ys, double[][] Z);

/// <summary>∇f on a rectangular grid, rows over y: <c>Dx[i][j] = ∂f/∂x (Xs[j], Ys[i])</c>.</summary>
/// <param name="Xs">Grid x values.</param>
/// <param name="Ys">Grid y values.</param>
/// <param name="Dx">∂f/∂x at each grid point.</param>
/// <param name="Dy">∂f/∂y at each grid point.</param>
/// <param name="Source">How the gradient was computed.</param>
public sealed record GradientField(double[] Xs, double[] Ys, double[][] Dx, double[][] Dy, GradientSource Source);

/// <summary>How the gradient an optimizer sees is computed.</summary>
public enum GradientSource
{
    /// <summary>Reverse-mode automatic differentiation (<c>backward()</c>): exact up to rounding.</summary>
    Autograd,

    /// <summary>The self-study notes' numerical gradient ("Deep Learning from Scratch", ch. 4,
    /// <c>numerical_gradient</c>): (f(x + h) − f(x − h))/(2h) per coordinate, h = 1e-4.</summary>
    CentralDifference,
}

/// <summary>
/// A differentiable function f(x, y) of two variables, written once as element-wise tensor
/// operations (so one call evaluates a point, a batch of points or a whole grid), with the start
/// the notebooks used, the rectangle its figures show, and its local minima in that rectangle.
/// Everything is computed in float64.
/// </summary>
public sealed class TestFunction
{
    readonly Func<Tensor, Tensor, Tensor> _function;
    readonly StationaryPoint[]? _declared;
    StationaryPoint[]? _minima;

    /// <summary>Defines a test function.</summary>
    /// <param name="key">Command-line and table name, lower-case with dashes ("rosenbrock").</param>
    /// <param name="formula">f in words ("(1 − x)² + 100(y − x²)²").</param>
    /// <param name="source">Where it comes from, and any difference between a notebook's code and its title.</param>
    /// <param name="function">f(x, y), element-wise on float64 tensors of any (equal) shape.</param>
    /// <param name="start">The start (x, y) of every optimizer.</param>
    /// <param name="xRange">The rectangle's x extent (min &lt; max).</param>
    /// <param name="yRange">The rectangle's y extent (min &lt; max).</param>
    /// <param name="declaredStationary">Reference points used instead of the minima search (e.g. the
    /// saddle of a function without minima); null: search the rectangle for local minima.</param>
    /// <exception cref="ArgumentException">An empty key, or a range with min ≥ max.</exception>
    public TestFunction(string key, string formula, string source, Func<Tensor, Tensor, Tensor> function,
        PlanePoint start, AxisRange xRange, AxisRange yRange,
        IEnumerable<StationaryPoint>? declaredStationary = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        ArgumentNullException.ThrowIfNull(function);
        if (!(xRange.Min < xRange.Max) || !(yRange.Min < yRange.Max))
            throw new ArgumentException(
                $"{key}: expected ranges with min < max, got x {xRange}, y {yRange}.", nameof(xRange));
        Key = key;
        Formula = formula;
        Source = source;
        _function = function;
        Start = start;
        XRange = xRange;
        YRange = yRange;
        _declared = declaredStationary?.ToArray();
    }

    /// <summary>Command-line and table name.</summary>
    public string Key { get; }

    /// <summary>f in words.</summary>
    public string Formula { get; }

    /// <summary>Where it comes from.</summary>
    public string Source { get; }

    /// <summary>The notebooks' start.</summary>
    public PlanePoint Start { get; }

    /// <summary>The x extent of the figures and of the minima search.</summary>
    public AxisRange XRange { get; }

    /// <summary>The y extent of the figures and of the minima search.</summary>
    public AxisRange YRange { get; }

    /// <summary>f(x, y) element-wise, with the autograd graph of its inputs.</summary>
    public Tensor Evaluate(Tensor x, Tensor y) => _function(x, y);

    /// <summary>f at one point, in float64.</summary>
    public double Value(double x, double y)
    {
        TorchNative.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        return _function(torch.tensor(x, ScalarType.Float64), torch.tensor(y, ScalarType.Float64)).item<double>();
    }

    /// <summary>f at each point (xs[k], ys[k]), in float64 (one evaluation of the batch).</summary>
    /// <exception cref="ArgumentException">Arrays of different lengths.</exception>
    public double[] Values(double[] xs, double[] ys)
    {
        ArgumentNullException.ThrowIfNull(xs);
        ArgumentNullException.ThrowIfNull(ys);
        if (xs.Length != ys.Length)
            throw new ArgumentException($"{Key}: expected as many y as x values, got {xs.Length} and {ys.Length}.",
                nameof(ys));
        TorchNative.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var values = _function(torch.tensor(xs, ScalarType.Float64), torch.tensor(ys, ScalarType.Float64));
        return values.data<double>().ToArray();
    }

    /// <summary>∇f at one point by autograd, in float64.</summary>
    public (double Dx, double Dy) Gradient(double x, double y)
    {
        var g = Gradients(new[] { (x, y) });
        return g[0];
    }

    /// <summary>∇f at many points by autograd (one backward pass over the batch).</summary>
    public (double Dx, double Dy)[] Gradients(IReadOnlyList<(double X, double Y)> points)
    {
        TorchNative.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        var flat = points.SelectMany(q => new[] { q.X, q.Y }).ToArray();
        var p = torch.tensor(flat, [points.Count, 2], ScalarType.Float64);
        var g = BatchGradient(p).data<double>().ToArray();
        return Enumerable.Range(0, points.Count).Select(i => (g[2 * i], g[2 * i + 1])).ToArray();
    }

    /// <summary>∇f of each row (x, y) of <paramref name="points"/> [n, 2] by autograd: f is element-wise,
    /// so the gradient of the sum is each point's own gradient.</summary>
    internal Tensor BatchGradient(Tensor points)
    {
        using var enable = torch.enable_grad();
        var p = points.detach().clone().requires_grad_(true);
        _function(p[.., 0], p[.., 1]).sum().backward();
        return p.grad!.detach().clone();
    }

    /// <summary>f on an n × n grid over the function's rectangle.</summary>
    /// <param name="n">Points per axis, ≥ 2.</param>
    public SurfaceGrid Surface(int n)
    {
        var (xs, ys) = Axes(n);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (gx, gy) = Mesh(xs, ys);
        return new SurfaceGrid(xs, ys, Rows(_function(gx, gy), n));
    }

    /// <summary>∇f on an n × n grid over the rectangle, by autograd or by the notes' central differences.</summary>
    /// <param name="n">Points per axis, ≥ 2.</param>
    /// <param name="source">Autograd, or central differences with step
    /// h = <see cref="CentralDifference.NotesStep"/>.</param>
    public GradientField GradientGrid(int n, GradientSource source)
    {
        var (xs, ys) = Axes(n);
        using var scope = torch.NewDisposeScope();
        var (gx, gy) = Mesh(xs, ys);
        Tensor dx, dy;
        if (source == GradientSource.Autograd)
        {
            var g = BatchGradient(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1));
            dx = g[.., 0];
            dy = g[.., 1];
        }
        else
            (dx, dy) = CentralDifference.Gradient(this, gx.reshape(-1), gy.reshape(-1), CentralDifference.NotesStep);
        return new GradientField(xs, ys, Rows(dx, n), Rows(dy, n), source);
    }

    /// <summary>The points the distances of a trajectory are measured to: the local minima in the rectangle
    /// (found once, see <see cref="FindMinima"/>) or the declared stationary points.</summary>
    public IReadOnlyList<StationaryPoint> ReferencePoints => _declared ?? (_minima ??= FindMinima(801));

    /// <summary>
    /// The strict local minima of f inside the rectangle: the grid points of an n × n grid lower than
    /// their eight neighbours, each refined by Newton's method (autograd gradient, Hessian by central
    /// differences of it, all candidates at once), kept when the gradient vanishes (‖∇f‖ ≤ 1e-9·(1 + |f|)),
    /// the Hessian is positive definite and the point is in the rectangle; duplicates within 1e-6 merged.
    /// </summary>
    /// <param name="n">Grid points per axis, ≥ 3 (fine enough to separate neighbouring minima).</param>
    public StationaryPoint[] FindMinima(int n)
    {
        if (n < 3) throw new ArgumentOutOfRangeException(nameof(n), n, $"{Key}: expected a grid of at least 3 points " +
            $"per axis.");
        var (xs, ys) = Axes(n);
        using var scope = torch.NewDisposeScope();
        Tensor candidates;
        using (torch.no_grad())
        {
            var (gx, gy) = Mesh(xs, ys);
            var z = _function(gx, gy);
            var c = z[1..^1, 1..^1];
            var lower = torch.ones_like(c, dtype: ScalarType.Bool);
            foreach (var (di, dj) in new[] { (0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2) })
                lower = lower.logical_and(c.lt(z[di..(n - 2 + di), dj..(n - 2 + dj)]));
            var ij = lower.nonzero();
            if (ij.shape[0] == 0) return [];
            candidates = torch.stack([gx[1..^1, 1..^1].masked_select(lower), gy[1..^1, 1..^1].masked_select(lower)], 1);
        }
        var p = candidates;
        for (int iteration = 0; iteration < 60; iteration++)
        {
            var g = BatchGradient(p);
            var h = Hessian(p);
            var det = h[.., 0, 0] * h[.., 1, 1] - h[.., 0, 1] * h[.., 1, 0];
            var sx = (h[.., 1, 1] * g[.., 0] - h[.., 0, 1] * g[.., 1]) / det;
            var sy = (h[.., 0, 0] * g[.., 1] - h[.., 1, 0] * g[.., 0]) / det;
            p = p - torch.stack([sx, sy], 1);
        }
        var grad = BatchGradient(p);
        var hess = Hessian(p);
        double[] pv = p.data<double>().ToArray(), gv = grad.data<double>().ToArray();
        double[] hv = hess.data<double>().ToArray();
        var found = new List<StationaryPoint>();
        for (int k = 0; k < pv.Length / 2; k++)
        {
            double x = pv[2 * k], y = pv[2 * k + 1];
            if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
            if (x < XRange.Min || x > XRange.Max || y < YRange.Min || y > YRange.Max) continue;
            double f = Value(x, y);
            double a = hv[4 * k], b = 0.5 * (hv[4 * k + 1] + hv[4 * k + 2]), d = hv[4 * k + 3];
            double gradientNorm = Math.Sqrt(gv[2 * k] * gv[2 * k] + gv[2 * k + 1] * gv[2 * k + 1]);
            bool stationary = gradientNorm <= 1e-9 * (1 + Math.Abs(f));
            if (!stationary || !(a > 0 && a * d - b * b > 0)) continue;
            if (found.Any(q => Math.Abs(q.X - x) <= 1e-6 && Math.Abs(q.Y - y) <= 1e-6)) continue;
            found.Add(new StationaryPoint(x, y, f, "minimum"));
        }
        return found.OrderBy(q => q.F).ThenBy(q => q.X).ThenBy(q => q.Y).ToArray();
    }

    /// <summary>The Hessian [n, 2, 2] of each point by central differences (step 1e-5·(1 + |coordinate|))
    /// of the autograd gradient.</summary>
    Tensor Hessian(Tensor points)
    {
        var columns = new Tensor[2];
        for (int axis = 0; axis < 2; axis++)
        {
            var step = torch.zeros_like(points);
            step[.., axis] = (points[.., axis].abs() + 1) * 1e-5;
            var difference = BatchGradient(points + step) - BatchGradient(points - step);
            columns[axis] = difference / (2 * step[.., axis].unsqueeze(1));
        }
        return torch.stack(columns, 2);
    }

    (double[] Xs, double[] Ys) Axes(int n)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, $"{Key}: expected at least 2 grid points per " +
            $"axis.");
        TorchNative.EnsureLoaded();
        double[] Axis(AxisRange r) =>
            Enumerable.Range(0, n).Select(i => r.Min + (r.Max - r.Min) * i / (n - 1)).ToArray();
        return (Axis(XRange), Axis(YRange));
    }

    static (Tensor X, Tensor Y) Mesh(double[] xs, double[] ys)
    {
        var x = torch.tensor(xs, ScalarType.Float64).unsqueeze(0).expand(ys.Length, xs.Length);
        var y = torch.tensor(ys, ScalarType.Float64).unsqueeze(1).expand(ys.Length, xs.Length);
        return (x.contiguous(), y.contiguous());
    }

    static double[][] Rows(Tensor values, int n)
    {
        var flat = values.detach().contiguous().data<double>().ToArray();
        return Enumerable.Range(0, flat.Length / n).Select(i => flat.AsSpan(i * n, n).ToArray()).ToArray();
    }

    /// <summary>The key.</summary>
    public override string ToString() => Key;
}
