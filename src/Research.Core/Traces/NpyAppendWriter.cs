using System.Runtime.InteropServices;

namespace Research.Core.Traces;

/// <summary>
/// Writes a little-endian float32 <c>.npy</c> file of shape <c>[rows, …rowShape]</c> one row at a
/// time, so that the file on disk is always a valid array holding the rows flushed so far.
/// </summary>
/// <remarks>
/// <para>The file is created at once with shape <c>(0, …rowShape)</c>. <see cref="Append(ReadOnlySpan{float})"/>
/// copies the row into a buffer (no allocation); <see cref="Flush"/> writes the buffered rows after
/// the existing data, forces them to disk (<c>fsync</c> through <c>FileStream.Flush(true)</c>) and only
/// then rewrites the row count in the header in place (and forces that too). So whatever kills the
/// process — SIGKILL, a crash, a power cut — the header never claims more rows than are on disk;
/// at worst the file holds a few unannounced bytes after the announced rows, which NumPy and
/// <see cref="NpyArray"/> ignore.</para>
/// <para>The header is written exactly as NumPy writes it, including NumPy's 21 spare digits for
/// the first dimension, so its length never changes: the row count can grow to 10^21 − 1 without
/// moving the data, and <c>numpy.load(path, mmap_mode="r")</c> reads the file at any moment.</para>
/// <para>Not thread-safe: one writer per file, used from one thread at a time.</para>
/// </remarks>
public sealed class NpyAppendWriter : IDisposable
{
    readonly FileStream stream;
    readonly byte[] buffer;
    readonly long[] shape;
    readonly int headerLength;
    readonly bool syncToDisk;
    int buffered;
    long rowsAppended;
    bool disposed;

    /// <summary>Creates the file with shape <c>(0, …rowShape)</c>.</summary>
    /// <param name="path">The file to create.</param>
    /// <param name="rowShape">Shape of one row; empty for a scalar per row (a 1-D file of shape
    /// <c>(rows,)</c>). Every entry ≥ 0.</param>
    /// <param name="overwrite">Replace an existing file (default false: an existing file is an error).</param>
    /// <param name="syncToDisk">Force data and header to stable storage on every flush (default true).
    /// False still keeps the file consistent after a process kill (the kernel keeps written pages) but
    /// not after a power cut; it makes flushes much cheaper on slow disks.</param>
    /// <param name="bufferBytes">Size of the row buffer (default 1 MiB, raised to one row if smaller);
    /// rows beyond it are written out early but announced only at the next flush.</param>
    /// <exception cref="ArgumentException">A negative dimension or a non-positive buffer size.</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false.</exception>
    public NpyAppendWriter(string path, ReadOnlySpan<int> rowShape, bool overwrite = false, bool syncToDisk = true, int bufferBytes = 1 << 20)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("writing little-endian .npy files needs a little-endian machine");
        if (bufferBytes <= 0)
            throw new ArgumentException($"expected a positive buffer size in bytes, got {bufferBytes}; leave it out for the default 1 MiB", nameof(bufferBytes));
        long rowSize = 1;
        for (int i = 0; i < rowShape.Length; i++)
        {
            if (rowShape[i] < 0)
                throw new ArgumentException($"expected every row dimension >= 0, got {rowShape[i]} at position {i}; pass e.g. [10, 512] for a 10×512 block or [] for a scalar", nameof(rowShape));
            rowSize = checked(rowSize * rowShape[i]);
        }
        if (rowSize * 4 > Array.MaxLength)
            throw new ArgumentException($"expected a row of at most {Array.MaxLength / 4} elements, got {rowSize}", nameof(rowShape));
        Path = path;
        RowShape = rowShape.ToArray();
        RowSize = (int)rowSize;
        this.syncToDisk = syncToDisk;
        shape = new long[rowShape.Length + 1];
        for (int i = 0; i < rowShape.Length; i++) shape[i + 1] = rowShape[i];
        buffer = new byte[Math.Max(bufferBytes, Math.Max(4, RowSize * 4))];
        stream = new FileStream(path, overwrite ? FileMode.Create : FileMode.CreateNew, FileAccess.ReadWrite,
            FileShare.Read | FileShare.Delete, bufferSize: 0);
        var header = Npy.EncodeHeader(Npy.Float32Descr, false, shape);
        headerLength = header.Length;
        stream.Write(header);
        if (syncToDisk) stream.Flush(true);
    }

    /// <summary>The file being written.</summary>
    public string Path { get; }

    /// <summary>Shape of one row (empty for scalars).</summary>
    public int[] RowShape { get; }

    /// <summary>Elements per row (1 for scalars).</summary>
    public int RowSize { get; }

    /// <summary>Rows passed to <see cref="Append(ReadOnlySpan{float})"/> so far.</summary>
    public long RowsAppended => rowsAppended;

    /// <summary>Rows the header announces: those on disk at the last <see cref="Flush"/>.</summary>
    public long RowsOnDisk { get; private set; }

    /// <summary>Appends one row (buffered until the next <see cref="Flush"/>).</summary>
    /// <param name="row">The row in C order; length <see cref="RowSize"/>.</param>
    /// <exception cref="ArgumentException">The row has the wrong length.</exception>
    /// <exception cref="ObjectDisposedException">The writer was disposed.</exception>
    public void Append(ReadOnlySpan<float> row)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (row.Length != RowSize)
            throw new ArgumentException($"expected a row of {RowSize} values (shape {Npy.ShapeRepr(Array.ConvertAll(RowShape, x => (long)x))}) for {Path}, got {row.Length}", nameof(row));
        var bytes = MemoryMarshal.AsBytes(row);
        if (buffered + bytes.Length > buffer.Length) WriteBuffer();
        bytes.CopyTo(buffer.AsSpan(buffered));
        buffered += bytes.Length;
        rowsAppended++;
    }

    /// <summary>Appends one value as a row of a scalar series (row shape <c>[]</c> or any shape of one element).</summary>
    /// <param name="value">The value.</param>
    public void Append(float value) => Append(new ReadOnlySpan<float>(in value));

    /// <summary>
    /// Writes the buffered rows, forces them to disk, then announces them in the header (rewritten in
    /// place) and forces the header to disk.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The writer was disposed.</exception>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        WriteBuffer();
        if (RowsOnDisk == rowsAppended) return;
        if (syncToDisk) stream.Flush(true);
        shape[0] = rowsAppended;
        var header = Npy.EncodeHeader(Npy.Float32Descr, false, shape);
        if (header.Length != headerLength)
            throw new InvalidOperationException($"{Path}: the header would change length from {headerLength} to {header.Length} bytes at {rowsAppended} rows; this cannot happen below 10^21 rows");
        long end = stream.Position;
        stream.Position = 0;
        stream.Write(header);
        stream.Position = end;
        if (syncToDisk) stream.Flush(true);
        RowsOnDisk = rowsAppended;
    }

    void WriteBuffer()
    {
        if (buffered == 0) return;
        stream.Write(buffer, 0, buffered);
        buffered = 0;
    }

    /// <summary>Flushes (see <see cref="Flush"/>) and closes the file. Safe to call twice.</summary>
    public void Dispose()
    {
        if (disposed) return;
        try { Flush(); }
        finally
        {
            disposed = true;
            stream.Dispose();
        }
    }
}
