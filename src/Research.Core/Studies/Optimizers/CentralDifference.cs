using TorchSharp;
using TorchSharp.Modules;
using Research.Core.Training;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The self-study notes' numerical gradient: per coordinate (f(x + h) − f(x − h))/(2h) with h = 1e-4,
/// as <c>numerical_gradient</c> in Saito, "Deep Learning from Scratch" (2016), ch. 4, computed in float64
/// exactly as numpy does it (x + h rounded, the difference of the two values divided by 2h).
/// </summary>
/// <remarks>The truncation error is h²/6·f‴ (about 2e-9·|f‴|) and the rounding error about
/// ε·|f|/h (about 2e-12·|f|), so on the study's functions it agrees with autograd to roughly 1e-8.</remarks>
public static class CentralDifference
{
    /// <summary>The notes' step h.</summary>
    public const double NotesStep = 1e-4;

    /// <summary>Both partial derivatives at each point of (x, y) (tensors of equal shape), step h.</summary>
    /// <exception cref="ArgumentException">h not finite and positive.</exception>
    public static (Tensor Dx, Tensor Dy) Gradient(TestFunction f, Tensor x, Tensor y, double h)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (!(h > 0) || double.IsInfinity(h))
            throw new ArgumentException($"{f.Key}: h: expected a finite step > 0, got {h} (the notes use 1e-4).",
                nameof(h));
        using var _ = torch.no_grad();
        var dx = (f.Evaluate(x + h, y) - f.Evaluate(x - h, y)) / (2 * h);
        var dy = (f.Evaluate(x, y + h) - f.Evaluate(x, y - h)) / (2 * h);
        return (dx, dy);
    }

    /// <summary>Both partial derivatives at one point.</summary>
    public static (double Dx, double Dy) Gradient(TestFunction f, double x, double y, double h = NotesStep)
    {
        using var scope = torch.NewDisposeScope();
        var (dx, dy) = Gradient(f, torch.tensor(x, ScalarType.Float64), torch.tensor(y, ScalarType.Float64), h);
        return (dx.item<double>(), dy.item<double>());
    }

    /// <summary>
    /// f(x, y) as a function objective of <paramref name="xy"/> whose value is f's and whose gradient
    /// is the central difference: f.detach() + (s − s.detach()) with s = Σ xy·g and g the (constant)
    /// numerical gradient, so <c>backward()</c> leaves exactly g in <c>xy.grad</c> and the value is f to the bit.
    /// </summary>
    /// <param name="f">The function.</param>
    /// <param name="xy">The parameter holding (x, y), float64 [2].</param>
    /// <param name="h">The step (the notes: 1e-4).</param>
    public static FunctionObjective Objective(TestFunction f, Parameter xy, double h = NotesStep) =>
        new($"{f.Key} (central differences, h = {h})", xy, p =>
        {
            var point = p.detach().reshape(2);
            var (dx, dy) = Gradient(f, point[0], point[1], h);
            Tensor value;
            using (torch.no_grad()) value = f.Evaluate(point[0], point[1]);
            var s = (p.reshape(2) * torch.stack([dx, dy])).sum();
            return value + (s - s.detach());
        });
}
