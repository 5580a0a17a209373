using System.Text.Json;
using System.Text.Json.Nodes;

namespace Research.Core.Traces;

/// <summary>
/// Opens a trace directory: parses and checks <c>manifest.json</c> against the <c>.npy</c> files and
/// memory-maps them (nothing is read whole until asked).
/// </summary>
/// <remarks>
/// <para>The full manifest schema and an example are in <c>docs/trace-format.md</c>. The minimal
/// manifest — what a NumPy user writes by hand — is</para>
/// <code>
/// { "format": "research-trace", "version": 1,
///   "series": [ { "name": "w", "file": "w.npy" } ] }
/// </code>
/// <para>Everything else is inferred: <c>status</c> defaults to "complete"; a series' dtype, row shape
/// and iteration count come from its <c>.npy</c> header (shape <c>[iterations, …row shape]</c>; any
/// dtype <see cref="NpyArray"/> reads, converted to float32 on read); <c>first_iteration</c> defaults to
/// 0, <c>every</c> to 1; <c>kind</c>, <c>source</c>, <c>slice</c>, <c>description</c> and the non-finite
/// counts to null (<see cref="TraceSeries.CountNonFinite"/> computes the latter).</para>
/// <para>Checks, each failing with a <see cref="TraceFormatException"/> (or, for a bad <c>.npy</c>,
/// an <see cref="NpyFormatException"/>) naming the file and the problem: a missing manifest; invalid
/// or foreign JSON; a format name other than "research-trace"; a version other than 1; a status other
/// than "complete"/"incomplete"; a series without name or file, with a duplicate name, or whose file
/// leaves the directory or is missing; a dtype or row shape that differs from the file's header; an
/// iteration count that differs from the header's first dimension. For an "incomplete" run the file
/// may announce more rows than the manifest (flushed after the manifest was last written): the
/// manifest's count is used. For a "complete" run they must be equal.</para>
/// <para>Thread-safe for reading. Dispose to unmap the files.</para>
/// </remarks>
public sealed class TraceReader : IDisposable
{
    readonly List<TraceSeries> series;
    readonly Dictionary<string, TraceSeries> byName;

    TraceReader(string directory, string manifestPath, JsonObject manifest, string status, JsonObject run, long? iterationsOnDisk, List<TraceSeries> series)
    {
        Directory = directory;
        ManifestPath = manifestPath;
        Manifest = manifest;
        Status = status;
        Run = run;
        IterationsOnDisk = iterationsOnDisk;
        this.series = series;
        byName = series.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    /// <summary>Opens the trace in <paramref name="directory"/>.</summary>
    /// <param name="directory">A run directory holding <c>manifest.json</c>.</param>
    /// <returns>The open trace; dispose it.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="TraceFormatException">The manifest is missing, foreign or inconsistent with the files.</exception>
    /// <exception cref="NpyFormatException">A series file is not a readable <c>.npy</c>.</exception>
    public static TraceReader Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = System.IO.Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{directory}: no such trace directory");
        var manifestPath = System.IO.Path.Combine(directory, TraceFormat.ManifestFileName);
        if (!File.Exists(manifestPath))
            throw new TraceFormatException(manifestPath, $"missing: {directory} has no {TraceFormat.ManifestFileName}, so it is not a research trace (a trace is a directory with {TraceFormat.ManifestFileName} beside its .npy files)");
        ResolveInside(directory, manifestPath, "the manifest");

        JsonNode? root;
        try
        {
            var bytes = File.ReadAllBytes(manifestPath);
            if (FirstInvalidUtf8(bytes) is var bad and >= 0)
                throw new TraceFormatException(manifestPath,
                    $"not valid UTF-8 (byte 0x{bytes[bad]:X2} at offset {bad}); JSON files must be UTF-8: save the manifest as UTF-8 (e.g. iconv -f latin1 -t utf-8)");
            root = JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(manifestPath, $"not valid JSON ({e.Message})");
        }
        if (root is not JsonObject m)
            throw new TraceFormatException(manifestPath, $"expected a JSON object at the top level, got {Kind(root)}");

        var format = m["format"];
        if (format is null)
            throw new TraceFormatException(manifestPath, $"no \"format\" field: this JSON is not a {TraceFormat.Name} manifest (expected \"format\": \"{TraceFormat.Name}\")");
        if (!TryString(format, out var formatName) || formatName != TraceFormat.Name)
            throw new TraceFormatException(manifestPath, $"format is {format.ToJsonString()}, expected \"{TraceFormat.Name}\": a manifest of another tool");
        var versionNode = m["version"];
        if (versionNode is null)
            throw new TraceFormatException(manifestPath, $"no \"version\" field; expected \"version\": {TraceFormat.Version}");
        if (!TryLong(versionNode, out var version) || version != TraceFormat.Version)
            throw new TraceFormatException(manifestPath, $"unsupported trace version {versionNode.ToJsonString()}; this reader understands version {TraceFormat.Version}");

        string status = TraceFormat.StatusComplete;
        if (m["status"] is { } statusNode)
        {
            if (!TryString(statusNode, out var st) || st is not (TraceFormat.StatusComplete or TraceFormat.StatusIncomplete))
                throw new TraceFormatException(manifestPath, $"status is {statusNode.ToJsonString()}, expected \"complete\" or \"incomplete\"");
            status = st;
        }
        bool complete = status == TraceFormat.StatusComplete;

        JsonObject run;
        switch (m["run"])
        {
            case null: run = new JsonObject(); break;
            case JsonObject r: run = r; break;
            default: throw new TraceFormatException(manifestPath, $"\"run\" must be a JSON object, got {Kind(m["run"])}");
        }
        long? iterationsOnDisk = null;
        if (m["iterations_on_disk"] is { } iod)
        {
            if (!TryLong(iod, out var v) || v < 0)
                throw new TraceFormatException(manifestPath, $"iterations_on_disk must be a non-negative integer, got {iod.ToJsonString()}");
            iterationsOnDisk = v;
        }

        if (m["series"] is not JsonArray entries)
            throw new TraceFormatException(manifestPath, m["series"] is null
                ? "no \"series\" list; expected \"series\": [ { \"name\": ..., \"file\": ... }, ... ]"
                : $"\"series\" must be a JSON array, got {Kind(m["series"])}");

        var list = new List<TraceSeries>(entries.Count);
        try
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < entries.Count; i++)
            {
                var s = OpenSeries(directory, manifestPath, entries[i], i, complete);
                if (!names.Add(s.Name))
                {
                    s.Array.Dispose();
                    throw new TraceFormatException(manifestPath, $"series {i}: the name \"{s.Name}\" appears twice");
                }
                list.Add(s);
            }
        }
        catch
        {
            foreach (var s in list) s.Array.Dispose();
            throw;
        }
        return new TraceReader(directory, manifestPath, m, status, run, iterationsOnDisk, list);
    }

    static TraceSeries OpenSeries(string directory, string manifestPath, JsonNode? node, int index, bool complete)
    {
        if (node is not JsonObject e)
            throw new TraceFormatException(manifestPath, $"series {index}: expected a JSON object with at least \"name\" and \"file\", got {Kind(node)}");
        if (!TryString(e["name"], out var name) || name.Length == 0)
            throw new TraceFormatException(manifestPath, $"series {index}: missing or empty \"name\" (a non-empty string)");
        string where = $"series \"{name}\"";
        if (!TryString(e["file"], out var file) || file.Length == 0)
            throw new TraceFormatException(manifestPath, $"{where}: missing or empty \"file\" (the .npy file name inside the trace directory)");
        if (System.IO.Path.IsPathRooted(file) || file.Split('/', '\\').Any(part => part == ".."))
            throw new TraceFormatException(manifestPath, $"{where}: file \"{file}\" must be a relative path inside the trace directory (no root, no '..')");
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, file));
        if (!File.Exists(path))
            throw new TraceFormatException(path, $"missing: the manifest {manifestPath} lists it as the file of {where}, but it does not exist");
        ResolveInside(directory, path, $"the file of {where}");

        string? kind = OptionalString(e, "kind", manifestPath, where);
        string? description = OptionalString(e, "description", manifestPath, where);
        string? source = OptionalString(e, "source", manifestPath, where);
        string? slice = OptionalString(e, "slice", manifestPath, where);
        string? dtype = OptionalString(e, "dtype", manifestPath, where);
        long firstIteration = OptionalLong(e, "first_iteration", manifestPath, where, 0, min: 0);
        long every = OptionalLong(e, "every", manifestPath, where, 1, min: 1);
        if (every > int.MaxValue)
            throw new TraceFormatException(manifestPath, $"{where}: every must be at most {int.MaxValue}, got {every}");
        long? iterations = e["iterations"] is null ? null : OptionalLong(e, "iterations", manifestPath, where, 0, min: 0);
        int[]? rowShape = null;
        if (e["row_shape"] is { } rs)
        {
            if (rs is not JsonArray ra || ra.Any(x => !TryLong(x, out var d) || d < 0 || d > int.MaxValue))
                throw new TraceFormatException(manifestPath, $"{where}: row_shape must be a list of non-negative integers, got {rs.ToJsonString()}");
            rowShape = ra.Select(x => { TryLong(x, out var d); return (int)d; }).ToArray();
        }
        NonFiniteCount? nonFinite = null;
        if (e["non_finite"] is { } nf)
        {
            if (nf is not JsonObject no
                || !TryLong(no["nan"], out var nan) || !TryLong(no["pos_inf"], out var pinf) || !TryLong(no["neg_inf"], out var ninf)
                || nan < 0 || pinf < 0 || ninf < 0)
                throw new TraceFormatException(manifestPath, $"{where}: non_finite must be {{\"nan\": n, \"pos_inf\": n, \"neg_inf\": n}} with non-negative integers, got {nf.ToJsonString()}");
            nonFinite = new NonFiniteCount(nan, pinf, ninf);
        }

        var array = NpyArray.Open(path);
        try
        {
            var h = array.Header;
            if (h.Shape.Length == 0)
                throw new TraceFormatException(path, $"{where}: a 0-d array; a series needs a leading iterations dimension, shape (iterations, ...)");
            if (dtype is not null && dtype != h.Descr)
                throw new TraceFormatException(path, $"{where}: the manifest says dtype '{dtype}' but the file holds '{h.Descr}'");
            var fileRowShape = h.Shape.Skip(1).ToArray();
            if (fileRowShape.Any(d => d > int.MaxValue))
                throw new TraceFormatException(path, $"{where}: row shape {Npy.ShapeRepr(fileRowShape)} has a dimension beyond {int.MaxValue}");
            if (rowShape is not null && !rowShape.Select(d => (long)d).SequenceEqual(fileRowShape))
                throw new TraceFormatException(path, $"{where}: the manifest says row shape [{string.Join(", ", rowShape)}] but the file's shape is {h.ShapeText}, i.e. rows of [{string.Join(", ", fileRowShape)}]");
            long rowSizeLong = fileRowShape.Aggregate(1L, (a, b) => checked(a * b));
            if (rowSizeLong > Array.MaxLength)
                throw new TraceFormatException(path, $"{where}: rows of {rowSizeLong} elements do not fit a .NET array");
            long rowsInFile = h.Shape[0];
            long rows = iterations ?? rowsInFile;
            if (complete && rows != rowsInFile)
                throw new TraceFormatException(path, $"{where}: the manifest of this complete run says {rows} iterations but the file holds {rowsInFile} (shape {h.ShapeText}); the files do not belong to this manifest, or were changed after it was written");
            if (!complete && rows > rowsInFile)
                throw new TraceFormatException(path, $"{where}: the manifest says {rows} iterations are on disk but the file announces only {rowsInFile} (shape {h.ShapeText})");
            return new TraceSeries(name, kind, description, source, slice, file, path, h.Descr, fileRowShape.Select(d => (int)d).ToArray(),
                (int)rowSizeLong, rows, firstIteration, (int)every, nonFinite, e, array);
        }
        catch
        {
            array.Dispose();
            throw;
        }
    }

    /// The offset of the first byte that is not part of valid UTF-8, or -1.
    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int used) != System.Buffers.OperationStatus.Done) return i;
            i += used;
        }
        return -1;
    }

    /// <summary>
    /// Checks that <paramref name="path"/>, with every symbolic link along it resolved, is a file
    /// inside <paramref name="directory"/> (itself resolved): a trace never reads a file outside its
    /// folder through a link, so no foreign file's bytes reach a message or a hash.
    /// </summary>
    /// <param name="directory">The trace directory.</param>
    /// <param name="path">A file of the trace (full path).</param>
    /// <param name="what">What the file is, for the message ("the file of series "g"").</param>
    /// <returns>The resolved path.</returns>
    /// <exception cref="TraceFormatException">The file resolves outside the directory, or is not a file.</exception>
    public static string ResolveInside(string directory, string path, string what)
    {
        string real, realDir;
        try
        {
            real = RealPath(path);
            realDir = RealPath(directory);
        }
        catch (IOException e)
        {
            throw new TraceFormatException(path, $"{what}: its symbolic links cannot be resolved ({e.Message}); replace the links by the files themselves");
        }
        var prefix = realDir.EndsWith(System.IO.Path.DirectorySeparatorChar) ? realDir : realDir + System.IO.Path.DirectorySeparatorChar;
        if (!real.StartsWith(prefix, StringComparison.Ordinal))
            throw new TraceFormatException(path,
                $"{what} is a symbolic link to {real}, outside the trace directory {realDir}; a trace reads only files inside its own folder: copy the file into the folder instead of linking to it");
        var info = new FileInfo(real);
        if (!info.Exists || (info.Attributes & FileAttributes.Directory) != 0)
            throw new TraceFormatException(path, $"{what} is not a file ({real}); expected an .npy or JSON file");
        return real;
    }

    /// The path with every symbolic link along it resolved, component by component (as realpath(3)).
    static string RealPath(string path, int depth = 0)
    {
        if (depth > 40) throw new IOException("too many levels of symbolic links");
        path = System.IO.Path.GetFullPath(path);
        var root = System.IO.Path.GetPathRoot(path)!;
        var result = root;
        foreach (var part in path[root.Length..].Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = System.IO.Path.Combine(result, part);
            var info = new FileInfo(next);
            if (info.LinkTarget is { } target)
            {
                var resolved = System.IO.Path.IsPathRooted(target) ? target : System.IO.Path.Combine(result, target);
                next = RealPath(resolved, depth + 1);
            }
            result = next;
        }
        return result;
    }

    static string? OptionalString(JsonObject e, string key, string manifestPath, string where)
    {
        var n = e[key];
        if (n is null) return null;
        if (!TryString(n, out var s))
            throw new TraceFormatException(manifestPath, $"{where}: {key} must be a string, got {n.ToJsonString()}");
        return s;
    }

    static long OptionalLong(JsonObject e, string key, string manifestPath, string where, long fallback, long min)
    {
        var n = e[key];
        if (n is null) return fallback;
        if (!TryLong(n, out var v) || v < min)
            throw new TraceFormatException(manifestPath, $"{where}: {key} must be an integer >= {min}, got {n.ToJsonString()}");
        return v;
    }

    static bool TryString(JsonNode? n, out string value)
    {
        value = "";
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) { value = v.GetValue<string>(); return true; }
        return false;
    }

    static bool TryLong(JsonNode? n, out long value)
    {
        value = 0;
        return n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out value);
    }

    static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => $"a {v.GetValueKind().ToString().ToLowerInvariant()} ({v.ToJsonString()})",
        _ => "something else",
    };

    /// <summary>The run directory (full path).</summary>
    public string Directory { get; }

    /// <summary>Full path of <c>manifest.json</c>.</summary>
    public string ManifestPath { get; }

    /// <summary>The whole manifest as parsed (read-only use).</summary>
    public JsonObject Manifest { get; }

    /// <summary>"complete" or "incomplete" (a run still being written, or killed).</summary>
    public string Status { get; }

    /// <summary>True when <see cref="Status"/> is "complete".</summary>
    public bool IsComplete => Status == TraceFormat.StatusComplete;

    /// <summary>The free-form description of the run (model, optimizer, …); empty when the manifest has none.</summary>
    public JsonObject Run { get; }

    /// <summary>The manifest's <c>iterations_on_disk</c> (distinct iterations with at least one row on disk); null when absent.</summary>
    public long? IterationsOnDisk { get; }

    /// <summary>The series, in manifest order.</summary>
    public IReadOnlyList<TraceSeries> Series => series;

    /// <summary>The series called <paramref name="name"/>.</summary>
    /// <param name="name">A series name.</param>
    /// <exception cref="ArgumentException">No series of that name; the message lists the names there are.</exception>
    public TraceSeries this[string name] =>
        byName.TryGetValue(name, out var s)
            ? s
            : throw new ArgumentException($"expected the name of a series in {Directory}, got \"{name}\"; the trace holds: {string.Join(", ", series.Select(x => $"\"{x.Name}\""))}", nameof(name));

    /// <summary>Looks a series up by name without throwing.</summary>
    /// <param name="name">A series name.</param>
    /// <param name="result">The series, when found.</param>
    /// <returns>Whether the trace holds a series of that name.</returns>
    public bool TryGetSeries(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TraceSeries? result) =>
        byName.TryGetValue(name, out result);

    /// <summary>Unmaps every series file. Safe to call twice.</summary>
    public void Dispose()
    {
        foreach (var s in series) s.Array.Dispose();
    }
}
