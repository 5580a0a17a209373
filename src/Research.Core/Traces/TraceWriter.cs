using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Research.Core.Traces;

/// <summary>Names shared by the trace writer and reader (see <c>docs/trace-format.md</c>).</summary>
public static class TraceFormat
{
    /// <summary>The manifest's <c>format</c> value: <c>"research-trace"</c>.</summary>
    public const string Name = "research-trace";

    /// <summary>The manifest version this code writes and reads: 1.</summary>
    public const int Version = 1;

    /// <summary>File name of the manifest inside a run directory: <c>manifest.json</c>.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>The <c>status</c> of a run still being written, or killed before it finished.</summary>
    public const string StatusIncomplete = "incomplete";

    /// <summary>The <c>status</c> of a run whose writer called <see cref="TraceWriter.Complete"/>.</summary>
    public const string StatusComplete = "complete";
}

/// <summary>
/// One series of a trace being written; returned by <see cref="TraceWriter.AddSeries"/> and passed
/// back to <see cref="TraceWriter.Append(SeriesHandle, long, ReadOnlySpan{float})"/>.
/// </summary>
public sealed class SeriesHandle
{
    internal SeriesHandle(TraceWriter owner, int index, string name, string kind, string file, int[] rowShape, int rowSize,
        string? source, string? slice, string? description, long? firstIteration, int every, NpyAppendWriter npy)
    {
        Owner = owner; Index = index; Name = name; Kind = kind; File = file; RowShape = rowShape; RowSize = rowSize;
        Source = source; Slice = slice; Description = description; FirstIteration = firstIteration; Every = every; Npy = npy;
    }

    internal TraceWriter Owner { get; }
    internal int Index { get; }
    internal NpyAppendWriter Npy { get; }
    internal NonFiniteCount NonFiniteAppended;
    internal NonFiniteCount NonFiniteOnDisk;

    /// <summary>The series' name, unique in the trace.</summary>
    public string Name { get; }

    /// <summary>What the series is: "gradient", "parameter", "exp_avg_sq", "scalar", "activation_stats", …</summary>
    public string Kind { get; }

    /// <summary>The <c>.npy</c> file name inside the run directory.</summary>
    public string File { get; }

    /// <summary>Shape of one row (empty for a scalar series).</summary>
    public int[] RowShape { get; }

    /// <summary>Values per row (1 for a scalar series).</summary>
    public int RowSize { get; }

    /// <summary>Name of the tensor the rows were taken from, e.g. "fc3.weight" (null when not given).</summary>
    public string? Source { get; }

    /// <summary>Which part of <see cref="Source"/> each row holds, e.g. "[0:10, 0:512]" (null: all of it).</summary>
    public string? Slice { get; }

    /// <summary>Free text for people reading the manifest (null when not given).</summary>
    public string? Description { get; }

    /// <summary>Iteration of the first row; null until the first row when not given to AddSeries.</summary>
    public long? FirstIteration { get; internal set; }

    /// <summary>Iterations between rows (1: every iteration).</summary>
    public int Every { get; }

    /// <summary>Rows appended so far (flushed or not).</summary>
    public long Rows => Npy.RowsAppended;

    /// <summary>The iteration the next row must belong to (null until the first row when the first iteration is inferred).</summary>
    public long? NextIteration => FirstIteration is { } f ? f + Rows * Every : null;
}

/// <summary>
/// Writes a trace: a run directory with <c>manifest.json</c> and one float32 <c>.npy</c> per series,
/// iteration-major, flushed every few iterations so that a killed run still opens.
/// </summary>
/// <remarks>
/// <para>Usage: <c>Create</c> the directory, <c>AddSeries</c> once per series (a 10×512 gradient
/// block, a scalar loss, …), <c>Append</c> one row per series per recorded iteration, <c>Complete</c>
/// at the end, <c>Dispose</c> always. A run that is disposed without <c>Complete</c> (an exception,
/// a break) stays <c>"incomplete"</c>, with every appended row on disk.</para>
/// <para>Rows of a series belong to iterations <c>first, first + every, first + 2·every, …</c> with no
/// gaps; an append for any other iteration is a caller error. Appends for different series may
/// interleave freely.</para>
/// <para>Flushing: when an append starts a new iteration (an iteration number larger than any seen)
/// and <c>flushEvery</c> iterations have finished since the last flush, everything is flushed first;
/// also on <see cref="Flush"/>, <see cref="Complete"/> and <see cref="Dispose"/>. A flush writes every
/// series' rows and rewrites its <c>.npy</c> header (<see cref="NpyAppendWriter.Flush"/>), and only
/// then replaces <c>manifest.json</c> atomically (write <c>manifest.json.tmp</c>, force it to disk,
/// rename over). So the manifest never claims a row that is not on disk.</para>
/// <para>Non-finite values (NaN, ±∞) are stored bit for bit and counted per series in the manifest;
/// nothing is dropped or zeroed. Appending costs a copy into a buffer and a vectorised scan for
/// non-finite values — no allocation.</para>
/// <para>Not thread-safe: call from one thread at a time.</para>
/// </remarks>
public sealed class TraceWriter : IDisposable
{
    readonly List<SeriesHandle> series = [];
    readonly HashSet<string> fileNames = new(StringComparer.OrdinalIgnoreCase);
    readonly bool syncToDisk;
    readonly bool manifestInBackground;
    readonly DateTime createdUtc;
    Task? manifestWrite;
    long? lastIteration;
    long distinctIterations;
    long finishedSinceFlush;
    long iterationsOnDisk;
    long? lastIterationOnDisk;
    bool completed;
    bool disposed;

    TraceWriter(string directory, JsonObject run, int flushEvery, bool syncToDisk, bool manifestInBackground)
    {
        Directory = directory;
        Run = run;
        FlushEvery = flushEvery;
        this.syncToDisk = syncToDisk;
        this.manifestInBackground = manifestInBackground;
        createdUtc = DateTime.UtcNow;
    }

    /// <summary>Creates a run directory and writes an initial manifest with status "incomplete".</summary>
    /// <param name="directory">The run directory: created when missing; an existing one must be empty
    /// unless <paramref name="overwrite"/> is true.</param>
    /// <param name="run">What was trained (model, dataset, batch size, seed, optimizer with every
    /// hyperparameter, schedule, device, software versions): any JSON object, stored as given (a
    /// deep copy) under <c>"run"</c>. Null: an empty object. Further changes go through <see cref="Run"/>.</param>
    /// <param name="flushEvery">Flush after this many finished iterations (default 10; 1 flushes every iteration).</param>
    /// <param name="overwrite">Replace a previous trace in <paramref name="directory"/>: deletes its
    /// manifest and top-level <c>.npy</c> files. Only a directory holding a <c>manifest.json</c> is
    /// replaced; any other non-empty directory is refused. Default false.</param>
    /// <param name="syncToDisk">Force data, headers and manifest to stable storage at each flush
    /// (fsync; default true). False keeps the trace consistent after a killed process but not after
    /// a power cut, and makes flushes cheaper on slow disks.</param>
    /// <param name="manifestInBackground">At the automatic flushes inside <see cref="Append(SeriesHandle, long, ReadOnlySpan{float})"/>,
    /// write the rows and headers as usual but hand the manifest (serialised on the caller's thread,
    /// after the rows are on disk) to a background task that writes and renames it, so the caller does
    /// not wait for the file system; at most one such write is in flight (the next flush waits for
    /// it). <see cref="Flush"/>, <see cref="Complete"/>, <see cref="Dispose"/> and
    /// <see cref="AddSeries"/> wait for it and write their manifest themselves. A killed process
    /// leaves the previous manifest or the new one, each claiming only rows on disk. A failed
    /// background write is thrown by the next flush, <see cref="Complete"/> or <see cref="Dispose"/>.
    /// Default false (every manifest written before the append returns).</param>
    /// <returns>The writer; dispose it.</returns>
    /// <exception cref="ArgumentException">A non-empty directory without <paramref name="overwrite"/>,
    /// a non-empty directory that is not a trace, or <paramref name="flushEvery"/> &lt; 1.</exception>
    public static TraceWriter Create(string directory, JsonObject? run = null, int flushEvery = 10, bool overwrite = false, bool syncToDisk = true,
        bool manifestInBackground = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (flushEvery < 1)
            throw new ArgumentException($"expected flushEvery >= 1 (iterations between flushes), got {flushEvery}; use 1 to flush every iteration", nameof(flushEvery));
        directory = System.IO.Path.GetFullPath(directory);
        if (System.IO.Directory.Exists(directory))
        {
            var entries = System.IO.Directory.GetFileSystemEntries(directory);
            if (entries.Length > 0)
            {
                var manifest = System.IO.Path.Combine(directory, TraceFormat.ManifestFileName);
                if (!overwrite)
                    throw new ArgumentException(
                        $"expected a new or empty run directory, got {directory} which holds {entries.Length} entries" +
                        (File.Exists(manifest) ? " (a previous trace)" : "") +
                        "; choose another directory, or pass overwrite: true to replace a previous trace", nameof(directory));
                if (!File.Exists(manifest))
                    throw new ArgumentException(
                        $"expected a previous trace (a directory with {TraceFormat.ManifestFileName}) to overwrite, got {directory} which holds {entries.Length} entries but no manifest; refusing to delete files that are not a trace — choose another directory", nameof(directory));
                File.Delete(manifest);
                File.Delete(manifest + ".tmp");
                foreach (var f in System.IO.Directory.GetFiles(directory, "*.npy")) File.Delete(f);
            }
        }
        else
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        var w = new TraceWriter(directory, (JsonObject?)run?.DeepClone() ?? new JsonObject(), flushEvery, syncToDisk, manifestInBackground);
        w.WriteManifest();
        return w;
    }

    /// <summary>The run directory (full path).</summary>
    public string Directory { get; }

    /// <summary>The free-form description of the run, written to the manifest at every flush; may be changed while writing.</summary>
    public JsonObject Run { get; }

    /// <summary>Iterations between automatic flushes.</summary>
    public int FlushEvery { get; }

    /// <summary>The series added so far, in order.</summary>
    public IReadOnlyList<SeriesHandle> Series => series;

    /// <summary>Whether <see cref="Complete"/> has been called.</summary>
    public bool IsComplete => completed;

    /// <summary>Adds a series and creates its <c>.npy</c> file (shape <c>(0, …rowShape)</c>).</summary>
    /// <param name="name">Unique name, e.g. "fc3.weight.grad"; the file name is derived from it
    /// (characters other than letters, digits, '.', '_' and '-' become '_').</param>
    /// <param name="kind">What the series is: "gradient", "parameter", "exp_avg_sq", "scalar",
    /// "activation_stats", or another word the analysis understands.</param>
    /// <param name="rowShape">Shape of one row, e.g. [10, 512]; [] for one value per iteration.</param>
    /// <param name="source">Name of the tensor the rows come from, e.g. "fc3.weight" (optional).</param>
    /// <param name="slice">Which part of that tensor, e.g. "[0:10, 0:512]" (optional; null means all).</param>
    /// <param name="description">Free text (optional).</param>
    /// <param name="firstIteration">Iteration of the first row; null (default) takes it from the first append.</param>
    /// <param name="every">Iterations between rows (default 1).</param>
    /// <returns>The handle to append with.</returns>
    /// <exception cref="ArgumentException">An empty, duplicate or control-character name, an empty
    /// kind, a negative dimension, <paramref name="every"/> &lt; 1, or a negative first iteration.</exception>
    /// <exception cref="InvalidOperationException">The writer is complete or disposed.</exception>
    public SeriesHandle AddSeries(string name, string kind, int[] rowShape, string? source = null, string? slice = null,
        string? description = null, long? firstIteration = null, int every = 1)
    {
        CheckOpen();
        if (string.IsNullOrWhiteSpace(name) || name.Any(char.IsControl))
            throw new ArgumentException($"expected a non-empty series name without control characters, got \"{name}\"", nameof(name));
        if (series.Any(s => s.Name == name))
            throw new ArgumentException($"expected a new series name, got \"{name}\" which this trace already has; choose another name", nameof(name));
        if (string.IsNullOrWhiteSpace(kind))
            throw new ArgumentException($"expected a kind such as \"gradient\", \"parameter\", \"exp_avg_sq\", \"scalar\" or \"activation_stats\", got \"{kind}\"", nameof(kind));
        ArgumentNullException.ThrowIfNull(rowShape);
        if (every < 1)
            throw new ArgumentException($"expected every >= 1 (iterations between rows), got {every}", nameof(every));
        if (firstIteration is < 0)
            throw new ArgumentException($"expected firstIteration >= 0 or null, got {firstIteration}", nameof(firstIteration));
        var file = UniqueFileName(name);
        long rowBytes = 4;
        foreach (var d in rowShape) rowBytes *= Math.Clamp(d, 0, 1 << 30);
        int bufferBytes = (int)Math.Clamp(rowBytes * Math.Min(FlushEvery, 64), 1 << 16, 1 << 23); // about one flush's worth, 64 KiB..8 MiB
        var npy = new NpyAppendWriter(System.IO.Path.Combine(Directory, file), rowShape, overwrite: false, syncToDisk: syncToDisk, bufferBytes: bufferBytes);
        var h = new SeriesHandle(this, series.Count, name, kind, file, (int[])rowShape.Clone(), npy.RowSize, source, slice, description,
            firstIteration, every, npy);
        series.Add(h);
        fileNames.Add(file);
        WriteManifest();
        return h;
    }

    /// <summary>Adds a scalar series (one value per iteration: loss, learning rate, gradient norm).</summary>
    /// <param name="name">Unique name, e.g. "loss".</param>
    /// <param name="description">Free text (optional).</param>
    /// <param name="firstIteration">Iteration of the first value; null takes it from the first append.</param>
    /// <param name="every">Iterations between values (default 1).</param>
    /// <returns>The handle to append with.</returns>
    /// <exception cref="ArgumentException">As <see cref="AddSeries"/>.</exception>
    public SeriesHandle AddScalar(string name, string? description = null, long? firstIteration = null, int every = 1) =>
        AddSeries(name, "scalar", [], description: description, firstIteration: firstIteration, every: every);

    /// <summary>Appends the row of <paramref name="series"/> for <paramref name="iteration"/>.</summary>
    /// <param name="series">A handle from this writer's <see cref="AddSeries"/>.</param>
    /// <param name="iteration">The iteration the row belongs to: must be the series' next one
    /// (<see cref="SeriesHandle.NextIteration"/>).</param>
    /// <param name="row">The values, C order, length <see cref="SeriesHandle.RowSize"/>; stored as given, NaN and ±∞ included.</param>
    /// <exception cref="ArgumentException">A handle from another writer, a row of the wrong length, or
    /// an iteration out of order.</exception>
    /// <exception cref="InvalidOperationException">The writer is complete or disposed.</exception>
    public void Append(SeriesHandle series, long iteration, ReadOnlySpan<float> row)
    {
        CheckOpen();
        ArgumentNullException.ThrowIfNull(series);
        if (!ReferenceEquals(series.Owner, this))
            throw new ArgumentException($"expected a series handle from this trace ({Directory}), got \"{series.Name}\" of {series.Owner.Directory}", nameof(series));
        if (row.Length != series.RowSize)
            throw new ArgumentException($"expected a row of {series.RowSize} values for series \"{series.Name}\" (row shape {ShapeText(series.RowShape)}), got {row.Length}", nameof(row));
        if (series.FirstIteration is { } first)
        {
            long expected = first + series.Rows * series.Every;
            if (iteration != expected)
                throw new ArgumentException(
                    $"expected iteration {expected} next for series \"{series.Name}\" (first {first}, every {series.Every}, {series.Rows} rows so far), got {iteration}; " +
                    (iteration < expected ? "iterations must increase" : "rows have no gaps — append a row (NaN if nothing was measured) for every recorded iteration, or use a larger 'every'"),
                    nameof(iteration));
        }
        else
        {
            if (iteration < 0)
                throw new ArgumentException($"expected iteration >= 0 for series \"{series.Name}\", got {iteration}", nameof(iteration));
            series.FirstIteration = iteration;
        }

        if (lastIteration is not { } last || iteration > last)
        {
            if (lastIteration is not null)
            {
                finishedSinceFlush++;
                if (finishedSinceFlush >= FlushEvery) FlushCore(background: manifestInBackground);
            }
            lastIteration = iteration;
            distinctIterations++;
        }
        series.NonFiniteAppended += NonFiniteCount.Count(row);
        series.Npy.Append(row);
    }

    /// <summary>Appends the value of a scalar series for <paramref name="iteration"/>.</summary>
    /// <param name="series">A handle with a one-element row (e.g. from <see cref="AddScalar"/>).</param>
    /// <param name="iteration">The iteration the value belongs to.</param>
    /// <param name="value">The value; NaN and ±∞ are stored as given.</param>
    /// <exception cref="ArgumentException">As <see cref="Append(SeriesHandle, long, ReadOnlySpan{float})"/>.</exception>
    public void Append(SeriesHandle series, long iteration, float value) =>
        Append(series, iteration, new ReadOnlySpan<float>(in value));

    /// <summary>Writes every appended row to disk, then the manifest (see remarks on <see cref="TraceWriter"/>).</summary>
    /// <exception cref="InvalidOperationException">The writer is complete or disposed.</exception>
    public void Flush()
    {
        CheckOpen();
        FlushCore(background: false);
    }

    void FlushCore(bool background)
    {
        FlushSeries();
        finishedSinceFlush = 0;
        iterationsOnDisk = distinctIterations;
        lastIterationOnDisk = lastIteration;
        if (background)
        {
            var bytes = ManifestBytes(); // a snapshot taken after the rows it announces are on disk
            WaitForManifest();
            manifestWrite = Task.Run(() => WriteManifestFile(bytes));
        }
        else WriteManifest();
    }

    /// <summary>Waits for the background manifest write, if any, and throws what it threw.</summary>
    void WaitForManifest()
    {
        if (manifestWrite is not { } pending) return;
        manifestWrite = null;
        pending.GetAwaiter().GetResult();
    }

    void FlushSeries()
    {
        foreach (var s in series)
        {
            s.Npy.Flush();
            s.NonFiniteOnDisk = s.NonFiniteAppended;
        }
    }

    /// <summary>Flushes, marks the run "complete" in the manifest and closes the files.</summary>
    /// <exception cref="InvalidOperationException">Already complete, or disposed.</exception>
    public void Complete()
    {
        CheckOpen();
        FlushSeries();
        iterationsOnDisk = distinctIterations;
        lastIterationOnDisk = lastIteration;
        completed = true;
        WriteManifest();
        foreach (var s in series) s.Npy.Dispose();
    }

    /// <summary>Flushes and closes. A run not completed stays "incomplete" (all appended rows on disk). Safe to call twice.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Exception? first = null;
        if (!completed)
        {
            try { FlushCore(background: false); }
            catch (Exception e) { first = e; }
        }
        else
        {
            try { WaitForManifest(); }
            catch (Exception e) { first = e; }
        }
        foreach (var s in series)
        {
            try { s.Npy.Dispose(); }
            catch (Exception e) { first ??= e; }
        }
        if (first is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
    }

    void CheckOpen()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed)
            throw new InvalidOperationException($"the trace in {Directory} is complete; nothing more can be added — create a new trace");
    }

    string UniqueFileName(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        var stem = sb.ToString().TrimStart('.');
        if (stem.Length == 0) stem = "series";
        if (stem.Length > 200) stem = stem[..200];
        var file = stem + ".npy";
        for (int k = 2; fileNames.Contains(file) || File.Exists(System.IO.Path.Combine(Directory, file)); k++)
            file = $"{stem}-{k}.npy";
        return file;
    }

    static string ShapeText(int[] shape) => "[" + string.Join(", ", shape) + "]";

    void WriteManifest()
    {
        var bytes = ManifestBytes();
        WaitForManifest();
        WriteManifestFile(bytes);
    }

    /// <summary>Writes the manifest to <c>manifest.json.tmp</c>, forces it to disk when asked, and renames it over <c>manifest.json</c>.</summary>
    void WriteManifestFile(byte[] bytes)
    {
        var path = System.IO.Path.Combine(Directory, TraceFormat.ManifestFileName);
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(syncToDisk);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The manifest's text as it stands now, ending in a newline.</summary>
    byte[] ManifestBytes()
    {
        var fs = new MemoryStream(4096);
        {
            using (var j = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                j.WriteStartObject();
                j.WriteString("format", TraceFormat.Name);
                j.WriteNumber("version", TraceFormat.Version);
                j.WriteString("status", completed ? TraceFormat.StatusComplete : TraceFormat.StatusIncomplete);
                j.WriteNumber("iterations_on_disk", iterationsOnDisk);
                if (lastIterationOnDisk is { } li) j.WriteNumber("last_iteration_on_disk", li); else j.WriteNull("last_iteration_on_disk");
                j.WriteString("created_utc", createdUtc.ToString("o", CultureInfo.InvariantCulture));
                j.WriteString("updated_utc", DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));
                j.WriteString("writer", $"Research.Core {typeof(TraceWriter).Assembly.GetName().Version}");
                j.WriteNumber("flush_every", FlushEvery);
                j.WritePropertyName("run");
                Run.WriteTo(j);
                j.WriteStartArray("series");
                foreach (var s in series)
                {
                    j.WriteStartObject();
                    j.WriteString("name", s.Name);
                    j.WriteString("kind", s.Kind);
                    if (s.Description is not null) j.WriteString("description", s.Description); else j.WriteNull("description");
                    if (s.Source is not null) j.WriteString("source", s.Source); else j.WriteNull("source");
                    if (s.Slice is not null) j.WriteString("slice", s.Slice); else j.WriteNull("slice");
                    j.WriteString("file", s.File);
                    j.WriteString("dtype", Npy.Float32Descr);
                    j.WriteStartArray("row_shape");
                    foreach (var d in s.RowShape) j.WriteNumberValue(d);
                    j.WriteEndArray();
                    if (s.FirstIteration is { } f) j.WriteNumber("first_iteration", f); else j.WriteNull("first_iteration");
                    j.WriteNumber("every", s.Every);
                    j.WriteNumber("iterations", s.Npy.RowsOnDisk);
                    var nf = s.NonFiniteOnDisk; // counted over the rows announced in "iterations"
                    j.WriteStartObject("non_finite");
                    j.WriteNumber("nan", nf.NaN);
                    j.WriteNumber("pos_inf", nf.PositiveInfinity);
                    j.WriteNumber("neg_inf", nf.NegativeInfinity);
                    j.WriteEndObject();
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            fs.WriteByte((byte)'\n');
        }
        return fs.ToArray();
    }
}
