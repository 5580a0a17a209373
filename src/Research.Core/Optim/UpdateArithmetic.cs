using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Optim;

/// <summary>
/// The few multiply-add tensor operations PyTorch's optimizers are written in, in two roundings
/// flavours: libtorch's fused kernels (as PyTorch calls them) or separate multiply and add.
/// </summary>
/// <remarks>
/// <para>PyTorch's <c>x.add_(y, alpha=s)</c> and <c>x.addcmul_(y, z, value=s)</c> compute
/// <c>x + s·y</c> and <c>x + (s·y)·z</c>. On CPUs with FMA (AVX2, AVX-512) libtorch's kernels round
/// those once (a fused multiply-add); without FMA (<c>ATEN_CPU_CAPABILITY=default</c>) they round the
/// product and the sum separately. libtorch 2.10 as shipped with TorchSharp 0.107 was measured on
/// this project's AVX-512 machine to fuse both, for every tensor length (vector body and scalar
/// tail), while <c>mul</c> followed by <c>add</c> rounds twice. So the fused flavour calls the
/// libtorch kernels PyTorch calls (and reproduces PyTorch on the same kind of CPU, the reference
/// file <c>optimizers.json</c>), and the plain flavour spells the operation as separate multiply
/// and add (hardware-independent; reproduces PyTorch without FMA, <c>optimizers_nofma.json</c>).</para>
/// <para><c>addcdiv</c> computes <c>x + (s·y)/z</c>, which has no multiply-add to fuse: it is the
/// same in both flavours.</para>
/// <para>Every scalar is wrapped in a <see cref="Scalar"/> that is disposed at once, so these
/// helpers leave no native handle behind; tensors they return belong to the current dispose scope.</para>
/// </remarks>
internal static class UpdateArithmetic
{
    /// <summary><paramref name="x"/> ← <paramref name="x"/>·<paramref name="s"/> in place.</summary>
    public static void Scale_(Tensor x, double s)
    {
        using var sc = s.ToScalar();
        x.mul_(sc);
    }

    /// <summary><paramref name="x"/> ← <paramref name="x"/> + <paramref name="s"/> in place.</summary>
    public static void AddScalar_(Tensor x, double s)
    {
        using var sc = s.ToScalar();
        x.add_(sc);
    }

    /// <summary>A new tensor <paramref name="x"/> + <paramref name="s"/>.</summary>
    public static Tensor AddScalar(Tensor x, double s)
    {
        using var sc = s.ToScalar();
        return x.add(sc);
    }

    /// <summary>A new tensor <paramref name="x"/>·<paramref name="s"/>.</summary>
    public static Tensor Scaled(Tensor x, double s)
    {
        using var sc = s.ToScalar();
        return x.mul(sc);
    }

    /// <summary>A new tensor <paramref name="x"/>/<paramref name="s"/> (true division, as PyTorch's
    /// <c>tensor / float</c>).</summary>
    public static Tensor Divided(Tensor x, double s)
    {
        using var sc = s.ToScalar();
        return x.div(sc);
    }

    /// <summary>A new tensor <paramref name="s"/>/<paramref name="x"/> computed as PyTorch's
    /// <c>float / tensor</c> does: <c>x.reciprocal() * s</c> (two roundings, not one division).</summary>
    public static Tensor ScalarOver(double s, Tensor x)
    {
        using var r = x.reciprocal();
        using var sc = s.ToScalar();
        return r.mul(sc);
    }

    /// <summary>PyTorch's <c>x.add_(y, alpha=s)</c>: <paramref name="x"/> ← x + s·y in place.</summary>
    public static void AddScaled_(Tensor x, Tensor y, double s, bool fused)
    {
        if (fused)
        {
            using var sc = s.ToScalar();
            x.add_(y, sc);
        }
        else
        {
            using var sy = Scaled(y, s);
            x.add_(sy);
        }
    }

    /// <summary>PyTorch's <c>x.add(y, alpha=s)</c>: a new tensor x + s·y.</summary>
    public static Tensor AddScaled(Tensor x, Tensor y, double s, bool fused)
    {
        if (fused)
        {
            using var sc = s.ToScalar();
            return x.add(y, sc);
        }
        using var sy = Scaled(y, s);
        return x.add(sy);
    }

    /// <summary>PyTorch's <c>x.addcmul_(y, z, value=s)</c>: <paramref name="x"/> ← x + (s·y)·z in place.</summary>
    public static void AddProduct_(Tensor x, Tensor y, Tensor z, double s, bool fused)
    {
        if (fused)
        {
            using var sc = s.ToScalar();
            x.addcmul_(y, z, sc);
        }
        else
        {
            using var syz = Scaled(y, s);
            syz.mul_(z);
            x.add_(syz);
        }
    }

    /// <summary>PyTorch's <c>x.addcmul(y, z, value=s)</c>: a new tensor x + (s·y)·z.</summary>
    public static Tensor AddProduct(Tensor x, Tensor y, Tensor z, double s, bool fused)
    {
        if (fused)
        {
            using var sc = s.ToScalar();
            return x.addcmul(y, z, sc);
        }
        using var syz = Scaled(y, s);
        syz.mul_(z);
        return x.add(syz);
    }

    /// <summary>PyTorch's <c>x.addcdiv_(y, z, value=s)</c>: <paramref name="x"/> ← x + (s·y)/z in
    /// place (no multiply-add, identical in both flavours).</summary>
    public static void AddQuotient_(Tensor x, Tensor y, Tensor z, double s)
    {
        using var sc = s.ToScalar();
        x.addcdiv_(y, z, sc);
    }
}
