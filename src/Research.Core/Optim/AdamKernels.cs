using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// The Adam family's update as two passes over the tensors' memory instead of about ten libtorch
/// operations: the same roundings in the same order, so the same bits as the operations they replace.
/// </summary>
/// <remarks>
/// <para>What each pass computes, with every scalar factor rounded to the tensors' type first (as
/// libtorch does with a Python float), ⊕ a multiply-add rounded once in the fused flavour and a
/// product and a sum rounded separately in the plain one (see <see cref="UpdateArithmetic"/>):</para>
/// <list type="bullet">
/// <item><see cref="Moments{T}"/>: g ← −g (maximize); AdamW p ← p·(1 − lr·wd); Adam/RAdam
/// g ← g ⊕ wd·p; m ← (m·β1) ⊕ (1 − β1)·g; v ← (v·β2) ⊕ ((1 − β2)·g)·g; AMSGrad v̂ ← max(v̂, v).
/// PyTorch's mul_, add_(alpha), addcmul_(value) and torch.maximum.</item>
/// <item><see cref="AdamStep{T}"/>: p ← p + (s·m) / (r / c + eps) with r the square root of v (or v̂)
/// taken by libtorch, c = √(1 − β2^t), s = −lr/(1 − β1^t): PyTorch's
/// <c>denom = (v.sqrt() / c).add_(eps); p.addcdiv_(m, denom, value=s)</c>.</item>
/// <item><see cref="RAdamStep{T}"/>: p ← p − (((m / b1)·lr)·((1 / (r + eps))·c))·ρ, or p ← p − (m / b1)·lr
/// while the rectification is off: PyTorch 1.13's <c>_single_tensor_radam</c>.</item>
/// </list>
/// <para>The square root stays libtorch's (<see cref="Optimizer.Sqrt"/>): it is not correctly rounded,
/// and replacing it would change the training runs this toolkit has recorded.</para>
/// <para>The fused flavour is used only where libtorch fuses too (the CPU has FMA and
/// <c>ATEN_CPU_CAPABILITY</c> is not "default"); elsewhere the optimizers keep calling libtorch.
/// Tensors must be contiguous CPU tensors of one floating type, float32 or float64, of equal length.</para>
/// <para>The passes write the tensors' memory directly, so autograd's version counters do not move;
/// the optimizers step under no_grad, where nothing reads them.</para>
/// </remarks>
internal static class AdamKernels
{
    /// <summary>True when libtorch's add_(alpha) and addcmul_ round once on this machine, as the
    /// fused flavour assumes.</summary>
    public static readonly bool LibtorchFuses =
        Fma.IsSupported && !string.Equals(Environment.GetEnvironmentVariable("ATEN_CPU_CAPABILITY"), "default", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when the passes can replace libtorch's operations on these tensors (nulls are skipped).</summary>
    public static bool Applies(bool fused, Tensor parameter, params Tensor?[] others)
    {
        if (fused && !LibtorchFuses) return false;
        if (!Plain(parameter)) return false;
        foreach (var t in others)
            if (t is not null && !(Plain(t) && t.dtype == parameter.dtype && t.numel() == parameter.numel()))
                return false;
        return true;

        static bool Plain(Tensor t) =>
            t.device_type == DeviceType.CPU && (t.dtype == ScalarType.Float32 || t.dtype == ScalarType.Float64)
            && t.is_contiguous() && !t.is_sparse && t.numel() <= int.MaxValue;
    }

    /// <summary>The tensor's elements in place (a contiguous CPU tensor of type <typeparamref name="T"/>).</summary>
    public static Span<T> Elements<T>(Tensor t) where T : unmanaged => MemoryMarshal.Cast<byte, T>(t.bytes);

    /// <summary>The factors of <see cref="Moments{T}"/>, in double as computed by the optimizer.</summary>
    /// <param name="Beta1">β1.</param>
    /// <param name="Beta2">β2.</param>
    /// <param name="Maximize">Negate the gradient.</param>
    /// <param name="L2">Weight decay added to the gradient (Adam, RAdam); 0: none.</param>
    /// <param name="Decay">AdamW's factor 1 − lr·wd on the parameter; null: none.</param>
    public readonly record struct MomentFactors(double Beta1, double Beta2, bool Maximize, double L2, double? Decay);

    /// <summary>The moment pass (see the class remarks). <paramref name="vmax"/> is empty unless AMSGrad.</summary>
    public static void Moments<T>(Span<T> p, ReadOnlySpan<T> grad, Span<T> m, Span<T> v, Span<T> vmax, in MomentFactors f, bool fused)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = p.Length;
        T b1 = T.CreateChecked(f.Beta1), c1 = T.CreateChecked(1 - f.Beta1);
        T b2 = T.CreateChecked(f.Beta2), c2 = T.CreateChecked(1 - f.Beta2);
        T wd = T.CreateChecked(f.L2), decay = T.CreateChecked(f.Decay ?? 1);
        bool l2 = f.L2 != 0, decoupled = f.Decay is not null, amsgrad = !vmax.IsEmpty;
        ref T rp = ref MemoryMarshal.GetReference(p);
        ref T rg = ref MemoryMarshal.GetReference(grad);
        ref T rm = ref MemoryMarshal.GetReference(m);
        ref T rv = ref MemoryMarshal.GetReference(v);
        ref T rx = ref MemoryMarshal.GetReference(vmax);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vb1 = Vector256.Create(b1); var vc1 = Vector256.Create(c1);
            var vb2 = Vector256.Create(b2); var vc2 = Vector256.Create(c2);
            var vwd = Vector256.Create(wd); var vdecay = Vector256.Create(decay);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                nuint k = (nuint)i;
                var g = Vector256.LoadUnsafe(ref rg, k);
                if (f.Maximize) g = -g;
                if (decoupled) Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref rp, k) * vdecay, ref rp, k);
                else if (l2) g = MulAdd(Vector256.LoadUnsafe(ref rp, k), vwd, g, fused);
                var mk = MulAdd(g, vc1, Vector256.LoadUnsafe(ref rm, k) * vb1, fused);
                var vk = MulAdd(vc2 * g, g, Vector256.LoadUnsafe(ref rv, k) * vb2, fused);
                Vector256.StoreUnsafe(mk, ref rm, k);
                Vector256.StoreUnsafe(vk, ref rv, k);
                if (amsgrad) Vector256.StoreUnsafe(Vector256.Max(Vector256.LoadUnsafe(ref rx, k), vk), ref rx, k);
            }
        }
        for (; i < n; i++)
        {
            T g = Unsafe.Add(ref rg, i);
            if (f.Maximize) g = -g;
            ref T pi = ref Unsafe.Add(ref rp, i);
            if (decoupled) pi *= decay;
            else if (l2) g = MulAdd(pi, wd, g, fused);
            ref T mi = ref Unsafe.Add(ref rm, i);
            ref T vi = ref Unsafe.Add(ref rv, i);
            mi = MulAdd(g, c1, mi * b1, fused);
            vi = MulAdd(c2 * g, g, vi * b2, fused);
            if (amsgrad)
            {
                ref T xi = ref Unsafe.Add(ref rx, i);
                xi = T.Max(xi, vi);
            }
        }
    }

    /// <summary>Adam's parameter pass: p ← p + (s·m) / (r / c + eps) (see the class remarks).</summary>
    public static void AdamStep<T>(Span<T> p, ReadOnlySpan<T> m, ReadOnlySpan<T> root, double stepScale, double rootDivisor, double eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = p.Length;
        T s = T.CreateChecked(stepScale), c = T.CreateChecked(rootDivisor), e = T.CreateChecked(eps);
        ref T rp = ref MemoryMarshal.GetReference(p);
        ref T rm = ref MemoryMarshal.GetReference(m);
        ref T rr = ref MemoryMarshal.GetReference(root);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vs = Vector256.Create(s); var vc = Vector256.Create(c); var ve = Vector256.Create(e);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                nuint k = (nuint)i;
                var denom = Vector256.LoadUnsafe(ref rr, k) / vc + ve;
                Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref rp, k) + vs * Vector256.LoadUnsafe(ref rm, k) / denom, ref rp, k);
            }
        }
        for (; i < n; i++)
        {
            T denom = Unsafe.Add(ref rr, i) / c + e;
            ref T pi = ref Unsafe.Add(ref rp, i);
            pi += s * Unsafe.Add(ref rm, i) / denom;
        }
    }

    /// <summary>RAdam's parameter pass (see the class remarks); <paramref name="root"/> is empty and
    /// <paramref name="rectification"/> null while the rectification is off.</summary>
    public static void RAdamStep<T>(Span<T> p, ReadOnlySpan<T> m, ReadOnlySpan<T> root, double biasCorrection1, double lr,
        double eps, double rootOfBiasCorrection2, double? rectification)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = p.Length;
        T b1 = T.CreateChecked(biasCorrection1), rate = T.CreateChecked(lr), e = T.CreateChecked(eps);
        T c = T.CreateChecked(rootOfBiasCorrection2), rho = T.CreateChecked(rectification ?? 1);
        bool rectified = rectification is not null;
        ref T rp = ref MemoryMarshal.GetReference(p);
        ref T rm = ref MemoryMarshal.GetReference(m);
        ref T rr = ref MemoryMarshal.GetReference(root);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var vb1 = Vector256.Create(b1); var vrate = Vector256.Create(rate); var ve = Vector256.Create(e);
            var vc = Vector256.Create(c); var vrho = Vector256.Create(rho); var one = Vector256<T>.One;
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                nuint k = (nuint)i;
                var step = Vector256.LoadUnsafe(ref rm, k) / vb1 * vrate;
                if (rectified) step = step * (one / (Vector256.LoadUnsafe(ref rr, k) + ve) * vc) * vrho;
                Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref rp, k) - step, ref rp, k);
            }
        }
        for (; i < n; i++)
        {
            T step = Unsafe.Add(ref rm, i) / b1 * rate;
            if (rectified) step = step * (T.One / (Unsafe.Add(ref rr, i) + e) * c) * rho;
            Unsafe.Add(ref rp, i) -= step;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> MulAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c, bool fused) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!fused) return a * b + c;
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"AdamKernels: element type {typeof(T).Name}; expected float or double.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T MulAdd<T>(T a, T b, T c, bool fused) where T : unmanaged, IFloatingPointIeee754<T> =>
        fused ? T.FusedMultiplyAdd(a, b, c) : a * b + c;
}
