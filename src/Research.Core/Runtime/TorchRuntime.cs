using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Runtime;

/// <summary>What <see cref="TorchRuntime.Initialize"/> chose, for logs and report methods sections.</summary>
/// <param name="Device">The device tensors and models are placed on.</param>
/// <param name="DeviceReason">Why that device was chosen (request, environment, or availability).</param>
/// <param name="Seed">The seed given to every random source.</param>
/// <param name="CudaAvailable">Whether <c>torch.cuda.is_available()</c> answered true.</param>
/// <param name="Threads">Intra-op threads libtorch uses on the CPU.</param>
/// <param name="TorchSharpVersion">Version of the TorchSharp assembly.</param>
/// <param name="NativeDescription">What the native loader did (patched copy or stock library).</param>
/// <param name="Numerics">The MKL code-path setting that makes CPU results independent of the thread
/// count (see <see cref="ReproducibleNumerics"/>).</param>
public sealed record RuntimeInfo(
    string Device,
    string DeviceReason,
    long Seed,
    bool CudaAvailable,
    int Threads,
    string TorchSharpVersion,
    string? NativeDescription,
    string? Numerics)
{
    /// <summary>One line for a terminal.</summary>
    public override string ToString() =>
        $"device={Device} ({DeviceReason}), seed={Seed}, threads={Threads}, TorchSharp {TorchSharpVersion}, {Numerics ?? "MKL_CBWR default"}";
}

/// <summary>
/// The one place that loads the native library, chooses the device and seeds every random source.
/// </summary>
/// <remarks>
/// Device choice: an explicit request wins ("cpu", "cuda", "cuda:1"); otherwise the environment
/// variable <c>RESEARCH_DEVICE</c>; otherwise CUDA when <c>torch.cuda.is_available()</c>, else CPU.
/// CUDA needs the TorchSharp-cuda-linux / libtorch-cuda package in place of libtorch-cpu-linux-x64
/// (a build switch in paket.dependencies; see README): with the CPU package CUDA is never available.
/// Seeding: <c>torch.manual_seed</c> (which also seeds CUDA generators) for torch; every other random
/// choice in the toolkit (batch order, bootstrap) takes an explicit seed derived from the same number
/// with <see cref="DeriveSeed"/>. TorchSharp has no <c>use_deterministic_algorithms</c>; on the CPU a
/// seed plus an explicit batch order makes runs bit-identical.
/// </remarks>
public static class TorchRuntime
{
    /// <summary>Loads natives (see <see cref="TorchNative"/>) without choosing a device or seeding.</summary>
    public static void EnsureNative() => TorchNative.EnsureLoaded();

    /// <summary>Chooses the device and seeds torch.</summary>
    /// <param name="seed">Seed for torch's generators (CPU and CUDA).</param>
    /// <param name="device">"auto" (default), "cpu", "cuda" or "cuda:N". Null means auto.</param>
    /// <param name="log">Where to print one line describing the choice (null: silent).</param>
    /// <exception cref="ArgumentException">A device name that is not one of the above, or CUDA
    /// requested when it is not available.</exception>
    public static RuntimeInfo Initialize(long seed, string? device = null, TextWriter? log = null)
    {
        TorchNative.EnsureLoaded(log ?? TextWriter.Null);
        var (dev, reason) = ChooseDevice(device);
        torch.manual_seed(seed);
        var info = new RuntimeInfo(dev.ToString(), reason, seed, cuda.is_available(), torch.get_num_threads(),
            typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown", TorchNative.Description,
            ReproducibleNumerics.Description);
        log?.WriteLine($"runtime: {info}");
        return info;
    }

    /// <summary>Seeds torch's generators (CPU and, when present, CUDA).</summary>
    public static void Seed(long seed)
    {
        TorchNative.EnsureLoaded();
        torch.manual_seed(seed);
    }

    /// <summary>The device a name stands for; see the remarks on <see cref="TorchRuntime"/>.</summary>
    public static Device Device(string? requested = null) => ChooseDevice(requested).device;

    static (Device device, string reason) ChooseDevice(string? requested)
    {
        TorchNative.EnsureLoaded();
        string source = "requested";
        if (string.IsNullOrWhiteSpace(requested) || requested == "auto")
        {
            var env = Environment.GetEnvironmentVariable("RESEARCH_DEVICE");
            if (!string.IsNullOrWhiteSpace(env) && env != "auto") { requested = env; source = "RESEARCH_DEVICE"; }
            else
            {
                return cuda.is_available()
                    ? (CUDA, "auto: torch.cuda.is_available() is true")
                    : (CPU, "auto: CUDA not available (CPU libtorch package or no GPU)");
            }
        }
        var name = requested!.Trim().ToLowerInvariant();
        if (name == "cpu") return (CPU, source);
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new ArgumentException(
                    $"device '{requested}' ({source}) asked for CUDA, but torch.cuda.is_available() is false: this build " +
                    "uses the CPU libtorch package. Use 'cpu' or 'auto', or switch paket.dependencies to a CUDA libtorch package.",
                    nameof(requested));
            return (torch.device(name), source);
        }
        throw new ArgumentException($"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got '{requested}' ({source}).",
            nameof(requested));
    }

    /// <summary>
    /// A sub-seed for one named random source (batch order, dropout, bootstrap …), so that one
    /// study seed fixes all of them while they stay independent. SplitMix64 of seed and a stable
    /// FNV-1a hash of the purpose.
    /// </summary>
    public static long DeriveSeed(long seed, string purpose)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in purpose) { h ^= c; h *= 1099511628211UL; }
        ulong z = unchecked((ulong)seed + h + 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (long)(z & 0x7FFF_FFFF_FFFF_FFFFUL);
    }
}
