using System.Text.Json.Nodes;

namespace Research.Core.Traces;

/// <summary>
/// One series of an open trace (<see cref="TraceReader"/>): its manifest entry and its data,
/// memory-mapped, as rows (iteration-major) or as per-weight series (weight-major).
/// </summary>
/// <remarks>
/// <para>Row <c>r</c> holds iteration <c>FirstIteration + r·Every</c>. A row is the recorded slice
/// flattened in C order (row-major): for a 10×512 block, element <c>(i, j)</c> is at flat index
/// <c>i·512 + j</c>, the "weight index" of <see cref="ReadWeightSeries"/>.</para>
/// <para>Only the first <see cref="Iterations"/> rows are read, even when the file holds more (an
/// incomplete run flushed after its manifest was written). Values are float32; files of another
/// dtype (a NumPy-written trace) are converted on read.</para>
/// <para>Thread-safe for reading; valid until the <see cref="TraceReader"/> is disposed.</para>
/// </remarks>
public sealed unsafe class TraceSeries
{
    internal TraceSeries(string name, string? kind, string? description, string? source, string? slice, string file, string path,
        string dtype, int[] rowShape, int rowSize, long iterations, long firstIteration, int every, NonFiniteCount? nonFinite,
        JsonObject entry, NpyArray array)
    {
        Name = name; Kind = kind; Description = description; Source = source; Slice = slice; File = file; Path = path;
        Dtype = dtype; RowShape = rowShape; RowSize = rowSize; Iterations = iterations; FirstIteration = firstIteration;
        Every = every; NonFinite = nonFinite; Entry = entry; Array = array;
    }

    internal NpyArray Array { get; }

    /// <summary>The series' name.</summary>
    public string Name { get; }

    /// <summary>What it is ("gradient", "parameter", "exp_avg_sq", "scalar", "activation_stats", …); null when the manifest does not say.</summary>
    public string? Kind { get; }

    /// <summary>Free text from the manifest; null when absent.</summary>
    public string? Description { get; }

    /// <summary>The tensor the rows were taken from, e.g. "fc3.weight"; null when absent.</summary>
    public string? Source { get; }

    /// <summary>Which part of <see cref="Source"/>, e.g. "[0:10, 0:512]"; null when absent (all of it).</summary>
    public string? Slice { get; }

    /// <summary>The file name as the manifest gives it.</summary>
    public string File { get; }

    /// <summary>Full path of the <c>.npy</c> file.</summary>
    public string Path { get; }

    /// <summary>The file's dtype descr, e.g. "&lt;f4".</summary>
    public string Dtype { get; }

    /// <summary>Shape of one row (empty for a scalar series).</summary>
    public int[] RowShape { get; }

    /// <summary>Values per row: the product of <see cref="RowShape"/> (1 for a scalar series).</summary>
    public int RowSize { get; }

    /// <summary>Rows (recorded iterations) readable: the manifest's count, or the file's when the manifest has none.</summary>
    public long Iterations { get; }

    /// <summary>Iteration of row 0 (0 when the manifest does not say).</summary>
    public long FirstIteration { get; }

    /// <summary>Iterations between rows (1 when the manifest does not say).</summary>
    public int Every { get; }

    /// <summary>The manifest's non-finite counts over the readable rows; null when it has none (see <see cref="CountNonFinite"/>).</summary>
    public NonFiniteCount? NonFinite { get; }

    /// <summary>The series' manifest entry, with any fields this reader does not interpret.</summary>
    public JsonObject Entry { get; }

    /// <summary>The iteration row <paramref name="row"/> belongs to.</summary>
    /// <param name="row">A row index, 0 ≤ row &lt; <see cref="Iterations"/>.</param>
    public long IterationOf(long row)
    {
        CheckRow(row);
        return FirstIteration + row * Every;
    }

    /// <summary>The iteration number of every row.</summary>
    public long[] IterationNumbers()
    {
        var a = new long[CheckedRows()];
        for (int r = 0; r < a.Length; r++) a[r] = FirstIteration + (long)r * Every;
        return a;
    }

    /// <summary>The row holding <paramref name="iteration"/>.</summary>
    /// <param name="iteration">An iteration that was recorded (on the grid first + k·every, and on disk).</param>
    /// <exception cref="ArgumentOutOfRangeException">The iteration was not recorded or is not on disk.</exception>
    public long RowOf(long iteration)
    {
        long off = iteration - FirstIteration;
        if (off < 0 || off % Every != 0 || off / Every >= Iterations)
            throw new ArgumentOutOfRangeException(nameof(iteration), iteration,
                Iterations == 0
                    ? $"expected a recorded iteration of series \"{Name}\", but it holds no rows"
                    : $"expected a recorded iteration of series \"{Name}\": {FirstIteration}, {FirstIteration + Every}, … up to {FirstIteration + (Iterations - 1) * Every} (every {Every}), got {iteration}");
        return off / Every;
    }

    /// <summary>Copies row <paramref name="row"/> into <paramref name="destination"/>.</summary>
    /// <param name="row">Row index, 0 ≤ row &lt; <see cref="Iterations"/>.</param>
    /// <param name="destination">At least <see cref="RowSize"/> long; the first <see cref="RowSize"/> values are written.</param>
    /// <exception cref="ArgumentOutOfRangeException">Row out of range.</exception>
    /// <exception cref="ArgumentException">Destination too short.</exception>
    public void ReadRow(long row, Span<float> destination)
    {
        CheckRow(row);
        if (destination.Length < RowSize)
            throw new ArgumentException($"expected a destination of at least {RowSize} values, got {destination.Length}", nameof(destination));
        Array.CopyTo(row * RowSize, destination[..RowSize]);
    }

    /// <summary>Row <paramref name="row"/> as a new array of <see cref="RowSize"/> values.</summary>
    /// <param name="row">Row index, 0 ≤ row &lt; <see cref="Iterations"/>.</param>
    public float[] ReadRow(long row)
    {
        var a = new float[RowSize];
        ReadRow(row, a);
        return a;
    }

    /// <summary>The row recorded at iteration <paramref name="iteration"/>.</summary>
    /// <param name="iteration">A recorded iteration (see <see cref="RowOf"/>).</param>
    public float[] ReadIteration(long iteration) => ReadRow(RowOf(iteration));

    /// <summary>All readable rows, flat and iteration-major: element <c>[r·RowSize + i]</c> is weight <c>i</c> at row <c>r</c>.</summary>
    /// <exception cref="InvalidOperationException">More values than one .NET array can hold.</exception>
    public float[] ReadAll()
    {
        var a = new float[CheckedTotal()];
        if (a.Length > 0) Array.CopyTo(0, a);
        return a;
    }

    /// <summary>The values of one weight over all readable rows.</summary>
    /// <param name="index">Flat (C-order) index within a row, 0 ≤ index &lt; <see cref="RowSize"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">Index out of range.</exception>
    public float[] ReadWeightSeries(int index)
    {
        if (index < 0 || index >= RowSize)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"expected a weight index in [0, {RowSize}) for series \"{Name}\" (row shape [{string.Join(", ", RowShape)}]), got {index}");
        int rows = CheckedRows();
        var a = new float[rows];
        var p = Array.Float32Pointer;
        if (p != null)
        {
            float* q = p + index;
            for (int r = 0; r < rows; r++, q += RowSize) a[r] = *q;
        }
        else
        {
            for (int r = 0; r < rows; r++) Array.CopyTo((long)r * RowSize + index, a.AsSpan(r, 1));
        }
        return a;
    }

    /// <summary>
    /// All readable data weight-major: one array per weight (<see cref="RowSize"/> arrays), each holding
    /// that weight's value at every row.
    /// </summary>
    /// <remarks>A blocked (tiled) transpose straight from the mapped file, cache-friendly: 100 rows ×
    /// 5120 weights takes on the order of a millisecond. It touches every page of the mapping, which then
    /// counts in the process's resident memory: for large series read blocks with
    /// <see cref="ReadColumnsFromFile"/> instead.</remarks>
    public float[][] ReadWeightMajor()
    {
        int rows = CheckedRows();
        CheckedTotal();
        var result = new float[RowSize][];
        for (int c = 0; c < RowSize; c++) result[c] = new float[rows];
        WithFloat32Source(src =>
        {
            for (int r0 = 0; r0 < rows; r0 += TileRows)
            {
                int r1 = Math.Min(rows, r0 + TileRows);
                for (int c0 = 0; c0 < RowSize; c0 += TileCols)
                {
                    int c1 = Math.Min(RowSize, c0 + TileCols);
                    for (int c = c0; c < c1; c++)
                    {
                        var dst = result[c];
                        float* s = src + (long)r0 * RowSize + c;
                        for (int r = r0; r < r1; r++, s += RowSize) dst[r] = *s;
                    }
                }
            }
        });
        return result;
    }

    /// <summary>
    /// All readable data weight-major in one flat array: element <c>[i·Iterations + r]</c> is weight
    /// <c>i</c> at row <c>r</c> (the transpose of <see cref="ReadAll"/>).
    /// </summary>
    /// <remarks>Blocked transpose, as <see cref="ReadWeightMajor"/>.</remarks>
    /// <exception cref="InvalidOperationException">More values than one .NET array can hold.</exception>
    public float[] ReadWeightMajorFlat()
    {
        int rows = CheckedRows();
        var result = new float[CheckedTotal()];
        if (result.Length == 0) return result;
        WithFloat32Source(src =>
        {
            fixed (float* dst0 = result)
            {
                for (int r0 = 0; r0 < rows; r0 += TileRows)
                {
                    int r1 = Math.Min(rows, r0 + TileRows);
                    for (int c0 = 0; c0 < RowSize; c0 += TileCols)
                    {
                        int c1 = Math.Min(RowSize, c0 + TileCols);
                        for (int c = c0; c < c1; c++)
                        {
                            float* d = dst0 + (long)c * rows;
                            float* s = src + (long)r0 * RowSize + c;
                            for (int r = r0; r < r1; r++, s += RowSize) d[r] = *s;
                        }
                    }
                }
            }
        });
        return result;
    }

    /// <summary>
    /// Reads <c>destination.Length</c> values of the readable rows, flat and iteration-major (element
    /// <c>r·RowSize + i</c> is weight <c>i</c> at row <c>r</c>, as in <see cref="ReadAll"/>), with positioned
    /// reads of the file: the memory map is not touched, so the process's peak memory is the caller's
    /// buffer, not the file (see the remarks of <see cref="NpyArray"/>). Converted as every other read.
    /// </summary>
    /// <param name="start">First flat index, 0 ≤ start ≤ Iterations·RowSize − destination.Length.</param>
    /// <param name="destination">Where to put the values.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range reaches beyond the readable rows.</exception>
    /// <exception cref="NpyFormatException">The file was truncated after the trace was opened.</exception>
    public void ReadFromFile(long start, Span<float> destination)
    {
        long total = Iterations * RowSize;
        if (start < 0 || start > total - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(start), start,
                $"expected a range [start, start + {destination.Length}) inside the {total} readable values of series \"{Name}\" ({Iterations} rows × {RowSize}), got start {start}");
        Array.ReadFromFile(start, destination);
    }

    /// <summary>
    /// Reads the weights [<paramref name="firstIndex"/>, <paramref name="firstIndex"/> + <paramref name="count"/>)
    /// (flat C-order indices within a row) over all readable rows, iteration-major, with one positioned
    /// read per row (see <see cref="ReadFromFile"/>; the memory map is not touched): element
    /// <c>[r·count + k]</c> is weight <c>firstIndex + k</c> at row <c>r</c>. For a [neurons, inputs]
    /// block, neuron n's weights are the <c>inputs</c> indices from <c>n·inputs</c>.
    /// </summary>
    /// <param name="firstIndex">First weight index, 0 ≤ firstIndex ≤ RowSize − count.</param>
    /// <param name="count">Weights to read, ≥ 0.</param>
    /// <param name="destination">At least Iterations·count long; the first Iterations·count values are written.</param>
    /// <exception cref="ArgumentOutOfRangeException">Indices outside the row.</exception>
    /// <exception cref="ArgumentException">Destination too short.</exception>
    /// <exception cref="NpyFormatException">The file was truncated after the trace was opened.</exception>
    public void ReadColumnsFromFile(int firstIndex, int count, Span<float> destination)
    {
        if (count < 0 || firstIndex < 0 || firstIndex > RowSize - count)
            throw new ArgumentOutOfRangeException(nameof(firstIndex), firstIndex,
                $"expected weight indices [firstIndex, firstIndex + {count}) inside [0, {RowSize}) for series \"{Name}\" (row shape [{string.Join(", ", RowShape)}]), got firstIndex {firstIndex}");
        if (destination.Length < Iterations * count)
            throw new ArgumentException($"expected a destination of at least {Iterations} × {count} = {Iterations * count} values, got {destination.Length}", nameof(destination));
        Array.ReadColumnsFromFile(Iterations, RowSize, firstIndex, count, destination);
    }

    /// <summary>Counts NaN, +∞ and −∞ over the readable rows by scanning the data (use when <see cref="NonFinite"/> is null, or to verify it).</summary>
    public NonFiniteCount CountNonFinite()
    {
        var total = default(NonFiniteCount);
        long n = (long)Iterations * RowSize;
        var p = Array.Float32Pointer;
        if (p != null)
        {
            for (long start = 0; start < n; start += 1 << 20)
                total += NonFiniteCount.Count(new ReadOnlySpan<float>(p + start, (int)Math.Min(1 << 20, n - start)));
        }
        else
        {
            var buf = new float[(int)Math.Min(1 << 20, Math.Max(1, n))];
            for (long start = 0; start < n; start += buf.Length)
            {
                int len = (int)Math.Min(buf.Length, n - start);
                Array.CopyTo(start, buf.AsSpan(0, len));
                total += NonFiniteCount.Count(buf.AsSpan(0, len));
            }
        }
        return total;
    }

    // Tile of the blocked transpose: 16 source rows × 256 columns = 16 KiB read, and 256 destination
    // runs of 16 floats (one cache line each) written — both fit in L1/L2 together.
    const int TileRows = 16;
    const int TileCols = 256;

    delegate void PointerAction(float* source);

    void WithFloat32Source(PointerAction action)
    {
        var p = Array.Float32Pointer;
        if (p != null) { action(p); return; }
        var all = ReadAll(); // another dtype: convert once, then transpose the converted copy
        fixed (float* q = all) action(q);
    }

    void CheckRow(long row)
    {
        if (row < 0 || row >= Iterations)
            throw new ArgumentOutOfRangeException(nameof(row), row, $"expected a row in [0, {Iterations}) for series \"{Name}\", got {row}");
    }

    int CheckedRows()
    {
        if (Iterations > System.Array.MaxLength)
            throw new InvalidOperationException($"series \"{Name}\" has {Iterations} rows, more than one .NET array holds; read it row by row");
        return (int)Iterations;
    }

    int CheckedTotal()
    {
        long n = Iterations * RowSize;
        if (n > System.Array.MaxLength)
            throw new InvalidOperationException($"series \"{Name}\" holds {n} values ({Iterations} rows × {RowSize}), more than one .NET array holds; read it row by row with ReadRow");
        return (int)n;
    }

    /// <summary>"name: kind [row shape] × iterations".</summary>
    public override string ToString() => $"{Name}: {Kind ?? "?"} [{string.Join(", ", RowShape)}] × {Iterations}";
}
