using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Research.Core.Runtime;

/// <summary>
/// Loads TorchSharp's native library (<c>libLibTorchSharp.so</c>) so that it works on Debian 12.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> was linked with GCC 13 and declares a need for
/// <c>GLIBCXX_3.4.32</c>; Debian 12's libstdc++ (GCC 12) stops at 3.4.30, so the stock library fails
/// to load with "version `GLIBCXX_3.4.32' not found". The only symbol behind that version is
/// <c>std::ios_base_library_init()</c>, referenced without a call or relocation. When (and only
/// when) the running libstdc++ lacks that version, this class writes a private copy of the library
/// under the user's cache folder in which that one version requirement is marked weak
/// (<c>vna_flags |= VER_FLG_WEAK</c> in <c>.gnu.version_r</c>), links the other libtorch libraries
/// beside it, loads the copy by full path and points TorchSharp's <c>DllImport("LibTorchSharp")</c>
/// at it. Nothing system-wide is touched and no root is needed. It logs once what it did.
/// Call <see cref="EnsureLoaded"/> before the first <c>torch</c> call; <see cref="TorchRuntime"/>
/// does this for you.
/// </remarks>
public static class TorchNative
{
    /// <summary>The libstdc++ symbol version TorchSharp 0.107's native library asks for.</summary>
    public const string RequiredGlibcxx = "GLIBCXX_3.4.32";

    const string LibName = "libLibTorchSharp.so";
    const ushort VerFlgWeak = 0x2;
    const uint ShtGnuVerneed = 0x6ffffffe;

    static readonly object Gate = new();
    static IntPtr _handle;
    static bool _attempted;
    static string? _description;
    static Exception? _failure;

    /// <summary>What the loader did (null before <see cref="EnsureLoaded"/> ran or off Linux).</summary>
    public static string? Description => _description;

    /// <summary>True when a patched private copy of <c>libLibTorchSharp.so</c> is in use.</summary>
    public static bool UsesPatchedCopy { get; private set; }

    /// <summary>Full path of the native library that was loaded (null off Linux or before loading).</summary>
    public static string? LoadedPath { get; private set; }

    /// <summary>
    /// Loads the native TorchSharp library once per process, patching a private copy if the
    /// running libstdc++ lacks <see cref="RequiredGlibcxx"/>. Safe to call many times and from
    /// many threads; the log line is written only the first time.
    /// </summary>
    /// <param name="log">Where the one-line description goes (default: standard error).</param>
    /// <exception cref="InvalidOperationException">The native files cannot be found or loaded;
    /// the message names what was searched and how to fix it.</exception>
    public static void EnsureLoaded(TextWriter? log = null)
    {
        lock (Gate)
        {
            if (_attempted)
            {
                if (_failure != null) throw new InvalidOperationException(_failure.Message, _failure);
                return;
            }
            _attempted = true;
            if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
                return; // TorchSharp's own loader handles Windows and macOS.
            try
            {
                ReproducibleNumerics.Configure(); // before libtorch (and MKL inside it) loads
                Load(log ?? Console.Error);
            }
            catch (Exception e)
            {
                _failure = e;
                throw;
            }
        }
    }

    static void Load(TextWriter log)
    {
        var torchAssembly = typeof(TorchSharp.torch).Assembly;
        var (sharpPath, libtorchDir) = LocateNatives(torchAssembly);
        var stdcxx = FindRunningLibStdCxx();
        bool lacks = stdcxx != null && !FileContainsAscii(stdcxx, RequiredGlibcxx + "\0");
        string toLoad = sharpPath;
        if (lacks)
        {
            toLoad = PreparePatchedCopy(sharpPath, libtorchDir);
            UsesPatchedCopy = true;
        }
        else if (!string.Equals(Path.GetDirectoryName(sharpPath), libtorchDir, StringComparison.Ordinal))
        {
            // $ORIGIN will not find libtorch: load its libraries first, by full path.
            foreach (var dep in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
                NativeLibrary.Load(Path.Combine(libtorchDir, dep));
        }

        try
        {
            _handle = NativeLibrary.Load(toLoad);
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException(
                $"Could not load TorchSharp's native library '{toLoad}': {e.Message}. " +
                "Rebuild the solution (dotnet build Research.sln) so the libtorch natives are restored, " +
                "or set RESEARCH_TORCH_NATIVE_DIR to a folder holding libLibTorchSharp.so and libtorch*.so.", e);
        }
        LoadedPath = toLoad;
        try
        {
            NativeLibrary.SetDllImportResolver(torchAssembly, (name, _, _) =>
                name is "LibTorchSharp" or "libLibTorchSharp" or "libLibTorchSharp.so" ? _handle : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // A resolver is already registered (e.g. by the host); the library is loaded by soname anyway.
        }

        _description = lacks
            ? $"TorchSharp native: {stdcxx} lacks {RequiredGlibcxx}; loaded a private copy of {LibName} with that " +
              $"one version need marked weak: {toLoad} (original {sharpPath}; system untouched)."
            : $"TorchSharp native: loaded {toLoad} (libstdc++ {stdcxx ?? "not found in process"} has {RequiredGlibcxx} or it is not needed).";
        log.WriteLine(_description);
    }

    /// <summary>Finds <c>libLibTorchSharp.so</c> and the folder with <c>libtorch_cpu.so</c>.</summary>
    static (string sharpPath, string libtorchDir) LocateNatives(Assembly torchAssembly)
    {
        var searched = new List<string>();
        var dirs = new List<string>();
        var env = Environment.GetEnvironmentVariable("RESEARCH_TORCH_NATIVE_DIR");
        if (!string.IsNullOrEmpty(env)) dirs.Add(env);
        foreach (var baseDir in new[] { Path.GetDirectoryName(torchAssembly.Location), AppContext.BaseDirectory,
                     Path.GetDirectoryName(typeof(TorchNative).Assembly.Location) })
        {
            if (string.IsNullOrEmpty(baseDir)) continue;
            dirs.Add(Path.Combine(baseDir, "runtimes", "linux-x64", "native"));
            dirs.Add(baseDir);
        }
        string? sharp = null, libtorch = null;
        foreach (var d in dirs)
        {
            searched.Add(d);
            if (sharp == null && File.Exists(Path.Combine(d, LibName))) sharp = Path.Combine(d, LibName);
            if (libtorch == null && File.Exists(Path.Combine(d, "libtorch_cpu.so"))) libtorch = d;
        }
        // NuGet's global package folder (what `dotnet fsi` with #r "nuget: ..." uses).
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(nugetRoot))
            nugetRoot = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var tsVersion = torchAssembly.GetName().Version;
        if (sharp == null && tsVersion != null)
        {
            var d = Path.Combine(nugetRoot, "torchsharp", $"{tsVersion.Major}.{tsVersion.Minor}.{tsVersion.Build}", "runtimes", "linux-x64", "native");
            searched.Add(d);
            if (File.Exists(Path.Combine(d, LibName))) sharp = Path.Combine(d, LibName);
        }
        if (libtorch == null)
        {
            var pkg = Path.Combine(nugetRoot, "libtorch-cpu-linux-x64");
            searched.Add(pkg);
            if (Directory.Exists(pkg))
                libtorch = Directory.GetDirectories(pkg).OrderByDescending(p => p, StringComparer.Ordinal)
                    .Select(p => Path.Combine(p, "runtimes", "linux-x64", "native"))
                    .FirstOrDefault(p => File.Exists(Path.Combine(p, "libtorch_cpu.so")));
        }
        if (sharp == null || libtorch == null)
            throw new InvalidOperationException(
                $"TorchSharp natives not found: {(sharp == null ? LibName : "libtorch_cpu.so")} is in none of: " +
                string.Join("; ", searched) + ". Run `dotnet build Research.sln` (it restores the TorchSharp and " +
                "libtorch-cpu-linux-x64 packages), or set RESEARCH_TORCH_NATIVE_DIR.");
        return (sharp, libtorch);
    }

    /// <summary>The path of the libstdc++.so.6 mapped into this process (loading it if needed).</summary>
    static string? FindRunningLibStdCxx()
    {
        string? Scan()
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/self/maps"))
                {
                    int i = line.IndexOf('/');
                    if (i < 0) continue;
                    var path = line[i..];
                    if (Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal)) return path;
                }
            }
            catch (IOException) { }
            return null;
        }
        var found = Scan();
        if (found != null) return found;
        if (NativeLibrary.TryLoad("libstdc++.so.6", out _)) return Scan();
        return null;
    }

    static bool FileContainsAscii(string path, string text)
    {
        var needle = Encoding.ASCII.GetBytes(text);
        var bytes = File.ReadAllBytes(path);
        return bytes.AsSpan().IndexOf(needle) >= 0;
    }

    /// <summary>Writes (once, atomically) the patched copy plus links to its sibling libraries.</summary>
    static string PreparePatchedCopy(string sharpPath, string libtorchDir)
    {
        var original = File.ReadAllBytes(sharpPath);
        var hash = Convert.ToHexString(SHA256.HashData(original))[..16].ToLowerInvariant();
        var cacheRoot = NativeCacheRoot(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        // The folder name includes the libtorch folder's hash so two checkouts never share links.
        var dirHash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(libtorchDir)))[..8].ToLowerInvariant();
        var dir = Path.Combine(cacheRoot, $"torchsharp-{hash}-{dirHash}");
        try
        {
            return WritePatchedCopy(dir, original, sharpPath, libtorchDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CacheError(cacheRoot, e.Message);
        }
    }

    const string CacheFix =
        "Set RESEARCH_NATIVE_CACHE to a folder you can write to (e.g. export RESEARCH_NATIVE_CACHE=/tmp/research-native-$USER).";

    static string CacheWhy =>
        $"TorchSharp's {LibName} needs {RequiredGlibcxx}, which this system's libstdc++ lacks, so the toolkit loads a patched copy " +
        "that it writes into a cache folder first";

    /// <summary>The error for a cache folder that cannot be written: names the folder, why it is needed and the fix.</summary>
    internal static InvalidOperationException CacheError(string cacheRoot, string problem) =>
        new($"native-library cache {cacheRoot}: cannot write there ({problem}). {CacheWhy}. {CacheFix}");

    /// <summary>
    /// The folder the patched copy goes to: <c>$RESEARCH_NATIVE_CACHE</c>; else
    /// <c>$XDG_CACHE_HOME/research-toolkit/native</c> when that is an absolute path (the XDG base
    /// directory specification says relative ones are to be ignored); else
    /// <c>$HOME/.cache/research-toolkit/native</c> (HOME, or the account's home folder, when absolute).
    /// Never a relative folder: a library would then be written to, and loaded from, wherever the
    /// command happens to run.
    /// </summary>
    /// <param name="environment">Reads an environment variable (null when unset).</param>
    /// <param name="accountHome">The account's home folder when HOME is unset (may be empty).</param>
    /// <exception cref="InvalidOperationException">No absolute folder can be derived; the message says how to set one.</exception>
    internal static string NativeCacheRoot(Func<string, string?> environment, string? accountHome)
    {
        var explicitRoot = environment("RESEARCH_NATIVE_CACHE");
        if (!string.IsNullOrEmpty(explicitRoot)) return Path.GetFullPath(explicitRoot);
        var xdg = environment("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "research-toolkit", "native");
        var home = environment("HOME");
        if (string.IsNullOrEmpty(home)) home = accountHome;
        if (!string.IsNullOrEmpty(home) && Path.IsPathRooted(home)) return Path.Combine(home, ".cache", "research-toolkit", "native");
        var found = string.IsNullOrEmpty(home) ? "HOME is not set" : $"HOME is the relative path '{home}'";
        var xdgText = string.IsNullOrEmpty(xdg) ? "XDG_CACHE_HOME is not set" : $"XDG_CACHE_HOME is the relative path '{xdg}'";
        throw new InvalidOperationException($"native-library cache: no folder for it ({found} and {xdgText}). {CacheWhy}. {CacheFix}");
    }

    /// <summary>Writes the patched copy and the links beside it into <paramref name="dir"/>; returns the copy's path.</summary>
    static string WritePatchedCopy(string dir, byte[] original, string sharpPath, string libtorchDir)
    {
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, LibName);

        // Links to libtorch's libraries so that the copy's RUNPATH ($ORIGIN) finds them.
        foreach (var file in Directory.GetFiles(libtorchDir, "*.so*"))
        {
            var name = Path.GetFileName(file);
            if (name == LibName) continue;
            var link = Path.Combine(dir, name);
            var info = new FileInfo(link);
            if (info.LinkTarget == file) continue;
            if (info.Exists || info.LinkTarget != null) File.Delete(link);
            try { File.CreateSymbolicLink(link, file); }
            catch (IOException) when (new FileInfo(link).LinkTarget == file) { } // another process won
        }

        var patched = (byte[])original.Clone();
        int changed = MarkVersionNeedWeak(patched, RequiredGlibcxx, sharpPath);
        if (File.Exists(target) && File.ReadAllBytes(target).AsSpan().SequenceEqual(patched))
            return target;
        var tmp = target + "." + Environment.ProcessId + ".tmp";
        File.WriteAllBytes(tmp, patched);
        File.Move(tmp, target, overwrite: true);
        _ = changed;
        return target;
    }

    /// <summary>
    /// Sets <c>VER_FLG_WEAK</c> on every <c>Vernaux</c> entry of <paramref name="version"/> in an
    /// ELF64 little-endian image. Returns the number of entries changed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The image is not ELF64 LE or has no such entry.</exception>
    public static int MarkVersionNeedWeak(byte[] elf, string version, string fileNameForErrors)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidOperationException($"{fileNameForErrors}: not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidOperationException($"{fileNameForErrors}: expected a 64-bit little-endian ELF file.");
        var span = elf.AsSpan();
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > elf.Length)
            throw new InvalidOperationException($"{fileNameForErrors}: ELF section table missing or truncated.");
        int changed = 0;
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)(shoff + (long)s * shentsize));
            uint type = BitConverter.ToUInt32(elf, sh + 4);
            if (type != ShtGnuVerneed) continue;
            long off = BitConverter.ToInt64(elf, sh + 24);
            int link = (int)BitConverter.ToUInt32(elf, sh + 40);
            uint count = BitConverter.ToUInt32(elf, sh + 44); // sh_info = number of Verneed entries
            int strSh = checked((int)(shoff + (long)link * shentsize));
            long strOff = BitConverter.ToInt64(elf, strSh + 24);
            long vn = off;
            for (uint i = 0; i < count; i++)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    uint nameOff = BitConverter.ToUInt32(elf, (int)aux + 8);
                    int start = (int)(strOff + nameOff);
                    int end = span[start..].IndexOf((byte)0);
                    var name = Encoding.ASCII.GetString(elf, start, end);
                    if (name == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        BitConverter.TryWriteBytes(span.Slice((int)aux + 4, 2), (ushort)(flags | VerFlgWeak));
                        changed++;
                    }
                    uint next = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }
        if (changed == 0)
            throw new InvalidOperationException($"{fileNameForErrors}: no version need '{version}' found to mark weak.");
        return changed;
    }
}
