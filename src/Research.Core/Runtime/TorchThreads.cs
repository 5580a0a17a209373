using TorchSharp;

namespace Research.Core.Runtime;

/// <summary>
/// Sets libtorch's intra-op thread count for a scope and restores it on dispose. Small networks train
/// fastest on one thread: on this project's 2-core machine, shared with other jobs, the seminar CNN's
/// epoch took 13.2 s on 2 threads and 1.7 s on 1 (the threads spin waiting for each other). Results do
/// not depend on the count (<see cref="ReproducibleNumerics"/>).
/// </summary>
public sealed class TorchThreads : IDisposable
{
    readonly int _previous;

    TorchThreads(int threads)
    {
        _previous = torch.get_num_threads();
        torch.set_num_threads(threads);
    }

    /// <summary>Uses <paramref name="threads"/> intra-op threads until the returned scope is disposed.</summary>
    /// <param name="threads">Threads, ≥ 1.</param>
    /// <exception cref="ArgumentException">threads &lt; 1.</exception>
    public static TorchThreads Use(int threads)
    {
        if (threads < 1)
            throw new ArgumentException(
                $"threads: expected at least 1 intra-op thread, got {threads}; give 1 (the default) or more.", nameof(threads));
        TorchNative.EnsureLoaded();
        return new TorchThreads(threads);
    }

    /// <summary>The thread count before the scope.</summary>
    public int Previous => _previous;

    /// <summary>Restores the previous thread count.</summary>
    public void Dispose() => torch.set_num_threads(_previous);
}
