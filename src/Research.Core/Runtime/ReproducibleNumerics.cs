using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Research.Core.Runtime;

/// <summary>
/// Makes libtorch's CPU results independent of the number of threads and of the machine's load,
/// so that the same seed gives the same bytes.
/// </summary>
/// <remarks>
/// <para>libtorch-cpu-linux-x64 2.10 links Intel MKL statically and runs its matrix products
/// (Linear layers, forward and backward) through MKL's sgemm. By default MKL picks its kernel and
/// its blocking by the number of threads it uses, and with dynamic threading (the default,
/// <c>MKL_DYNAMIC=true</c>) it may use fewer threads than libtorch's intra-op count when the
/// machine is busy. The rounding of a product therefore depends on the thread count actually used:
/// measured on the 784-512-512-10 MLP with Adam, 60 steps at batch 128 on MNIST, one thread and two
/// threads end with weights that differ in their last bits, and a probe of five seed-7 runs of the
/// Adam-vs-RAdam study saw one diverge from the others at step 2 (loss 2.1065828800 vs 2.1065831184).</para>
/// <para>MKL's Conditional Numerical Reproducibility (<c>MKL_CBWR</c>) fixes the code path. With
/// <c>AVX2,STRICT</c>, one and two threads give bit-identical weights (and equal the default
/// one-thread result); <c>COMPATIBLE</c> (SSE2 paths) is also thread-independent but 2–4× slower.
/// This class sets <c>MKL_CBWR=AVX2,STRICT</c> on CPUs with AVX2 and <c>COMPATIBLE</c> otherwise,
/// in the process's native environment (libc <c>setenv</c>; .NET's Environment does not reach
/// native code on Unix) before libtorch is loaded. A value the user set is kept.</para>
/// </remarks>
public static class ReproducibleNumerics
{
    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    static extern int SetEnv(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetEnv(string name);

    /// <summary>The MKL code-path setting in force (e.g. "MKL_CBWR=AVX2,STRICT (set by the toolkit)"),
    /// null before <see cref="Configure"/> ran or off Linux.</summary>
    public static string? Description { get; private set; }

    /// <summary>Sets MKL_CBWR in the native environment unless already set. Call before libtorch loads
    /// (<see cref="TorchNative.EnsureLoaded"/> does).</summary>
    public static void Configure()
    {
        if (!OperatingSystem.IsLinux()) return;
        var existing = GetEnv("MKL_CBWR");
        if (existing != IntPtr.Zero)
        {
            Description = $"MKL_CBWR={Marshal.PtrToStringUTF8(existing)} (set by the user)";
            return;
        }
        var value = Avx2.IsSupported ? "AVX2,STRICT" : "COMPATIBLE";
        if (SetEnv("MKL_CBWR", value, 0) != 0)
        {
            Description = $"MKL_CBWR not set (setenv failed with errno {Marshal.GetLastPInvokeError()}): results may depend on the thread count";
            return;
        }
        Description = $"MKL_CBWR={value} (set by the toolkit: matrix products independent of the thread count)";
    }
}
