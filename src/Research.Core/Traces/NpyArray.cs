using System.Buffers;
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Research.Core.Traces;

/// <summary>
/// A <c>.npy</c> file opened memory-mapped (read-only): the header is parsed and checked, the data is
/// read on demand straight from the mapping, never loaded whole, or with positioned reads of the file
/// (<see cref="ReadFromFile"/>, <see cref="ReadColumnsFromFile"/>), which leave the mapping untouched.
/// </summary>
/// <remarks>
/// <para>Accepted dtypes: <c>'&lt;f4'</c>, <c>'&lt;f8'</c>, <c>'|u1'</c>, <c>'|i1'</c>, <c>'&lt;i4'</c>,
/// <c>'&lt;i8'</c>, and the big-endian forms <c>'&gt;f4'</c>, <c>'&gt;f8'</c>, <c>'&gt;i4'</c>,
/// <c>'&gt;i8'</c>, which are byte-swapped while reading (converted, not rejected). Values are
/// converted to float or double as the caller asks (float64 to float32 rounds; int64 beyond 2^24
/// loses precision in float32).</para>
/// <para>Rejected, with a message naming the file: bad magic (foreign file), NPY versions other than
/// 1.0/2.0/3.0, a truncated or malformed header, object/pickle dtypes (<c>'|O'</c>; nothing is ever
/// unpickled), structured/string/complex dtypes, Fortran-order arrays whose layout differs from C
/// order (they are rejected, not transposed; a Fortran-order array with at most one dimension longer
/// than 1 has the C layout and is accepted), and files with fewer data bytes than the shape needs.</para>
/// <para>Bytes after the data the shape needs are ignored (<see cref="TrailingBytes"/>), as NumPy
/// does: a file an <see cref="NpyAppendWriter"/> was writing when its process was killed may hold
/// rows written but not yet announced in the header.</para>
/// <para>Pages of the mapping that a read touches count in the process's resident set (RSS) as long
/// as the mapping lives, so reading a large file once through <see cref="CopyTo(long, Span{float})"/>
/// makes the process's peak RSS as large as the file. The positioned reads copy from the file (the
/// kernel's page cache, which is not the process's) into the caller's buffer: their peak is that buffer.</para>
/// <para>Thread-safe for reading once opened. Dispose to unmap.</para>
/// </remarks>
public sealed unsafe class NpyArray : IDisposable
{
    readonly FileStream? file;
    readonly MemoryMappedFile? map;
    readonly MemoryMappedViewAccessor? view;
    readonly byte* data;
    bool disposed;

    NpyArray(string path, NpyHeader header, long fileLength, FileStream? file, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* data)
    {
        this.file = file;
        Path = path;
        Header = header;
        FileLength = fileLength;
        this.map = map;
        this.view = view;
        this.data = data;
    }

    /// <summary>Opens a <c>.npy</c> file memory-mapped, checking its header and size.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The open array; dispose it to unmap.</returns>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="NpyFormatException">Any problem listed in the remarks of <see cref="NpyArray"/>.</exception>
    public static NpyArray Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such .npy file", path);
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        try
        {
            var header = Npy.ReadHeader(fs, path);
            long length = fs.Length;
            long available = length - header.DataOffset;
            long needed = header.DataBytes;
            if (available < needed)
            {
                string rows = header.Shape.Length >= 1 && header.Shape[0] > 0
                    ? $" ({Math.Max(0, available) / Math.Max(1, needed / header.Shape[0])} of {header.Shape[0]} complete rows)"
                    : "";
                throw new NpyFormatException(path,
                    $"truncated data: shape {header.ShapeText} of '{header.Descr}' needs {needed} bytes after the {header.DataOffset}-byte header, but the file holds only {Math.Max(0, available)}{rows}");
            }
            if (needed == 0)
            {
                fs.Dispose();
                return new NpyArray(path, header, length, null, null, null, null);
            }
            // the stream stays open (leaveOpen) for the positioned reads; Dispose closes it after the map
            var map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            MemoryMappedViewAccessor? view = null;
            try
            {
                view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* p = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                p += view.PointerOffset;
                return new NpyArray(path, header, length, fs, map, view, p + header.DataOffset);
            }
            catch
            {
                view?.Dispose();
                map.Dispose();
                throw;
            }
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The parsed header.</summary>
    public NpyHeader Header { get; }

    /// <summary>The array's shape (empty for 0-d).</summary>
    public IReadOnlyList<long> Shape => Header.Shape;

    /// <summary>Number of elements (product of the shape).</summary>
    public long Length => Header.ElementCount;

    /// <summary>Size of the file when it was opened.</summary>
    public long FileLength { get; }

    /// <summary>Bytes after the data the shape needs (ignored; see remarks on <see cref="NpyArray"/>).</summary>
    public long TrailingBytes => FileLength - Header.DataOffset - Header.DataBytes;

    /// <summary>True when the data is little-endian float32 and can be read without conversion.</summary>
    public bool IsFloat32 => Header.ElementType == NpyElementType.Float32 && !Header.BigEndian;

    /// <summary>Pointer to element 0 when <see cref="IsFloat32"/>; otherwise null. Valid until disposal.</summary>
    internal float* Float32Pointer => IsFloat32 ? (float*)data : null;

    /// <summary>Copies <c>destination.Length</c> elements starting at flat (C-order) index <paramref name="start"/>, converted to float32.</summary>
    /// <param name="start">First flat index, ≥ 0.</param>
    /// <param name="destination">Where to put the values.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range reaches beyond <see cref="Length"/>.</exception>
    public void CopyTo(long start, Span<float> destination)
    {
        CheckRange(start, destination.Length);
        if (destination.Length == 0) return;
        Convert(data + start * Header.ElementSize, destination);
    }

    /// <summary>
    /// Reads <c>destination.Length</c> elements starting at flat (C-order) index <paramref name="start"/>
    /// with positioned reads of the file (<see cref="RandomAccess.Read(Microsoft.Win32.SafeHandles.SafeFileHandle, Span{byte}, long)"/>),
    /// converted to float32 exactly as <see cref="CopyTo(long, Span{float})"/> converts them; the mapping is not touched.
    /// </summary>
    /// <param name="start">First flat index, ≥ 0.</param>
    /// <param name="destination">Where to put the values (little-endian float32 files are read straight into it;
    /// other dtypes go through a pooled buffer of the file's bytes).</param>
    /// <exception cref="ArgumentOutOfRangeException">The range reaches beyond <see cref="Length"/>.</exception>
    /// <exception cref="NpyFormatException">The file became shorter than its header says after it was opened.</exception>
    public void ReadFromFile(long start, Span<float> destination)
    {
        CheckRange(start, destination.Length);
        if (destination.Length == 0) return;
        long offset = Header.DataOffset + start * Header.ElementSize;
        if (IsFloat32)
        {
            ReadExactly(offset, MemoryMarshal.AsBytes(destination));
            return;
        }
        int bytes = checked(destination.Length * Header.ElementSize);
        var rented = ArrayPool<byte>.Shared.Rent(bytes);
        try
        {
            ReadExactly(offset, rented.AsSpan(0, bytes));
            fixed (byte* src = rented) Convert(src, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Reads columns [<paramref name="firstColumn"/>, <paramref name="firstColumn"/> + <paramref name="columnCount"/>)
    /// of the first <paramref name="rows"/> rows of the data viewed as a C-order matrix
    /// [rows, <paramref name="rowLength"/>], with one positioned read per row (see <see cref="ReadFromFile"/>);
    /// the mapping is not touched.
    /// </summary>
    /// <param name="rows">Rows to read, ≥ 0; rows · rowLength must not exceed <see cref="Length"/>.</param>
    /// <param name="rowLength">Elements per row, ≥ 1 (for a trace file, the product of the row shape).</param>
    /// <param name="firstColumn">First column, 0 ≤ firstColumn ≤ rowLength − columnCount.</param>
    /// <param name="columnCount">Columns to read, ≥ 0.</param>
    /// <param name="destination">Row-major [rows, columnCount] (the file's own order): element (r, c) goes to
    /// <c>destination[r · columnCount + c]</c>; at least rows · columnCount long.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count or column outside the ranges above.</exception>
    /// <exception cref="ArgumentException">Destination too short.</exception>
    public void ReadColumnsFromFile(long rows, long rowLength, long firstColumn, int columnCount, Span<float> destination)
    {
        if (rowLength < 1)
            throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, $"expected at least 1 element per row of {Path}, got {rowLength}");
        if (rows < 0 || rows > Length / rowLength)
            throw new ArgumentOutOfRangeException(nameof(rows), rows,
                $"expected 0 ≤ rows ≤ {Length / rowLength} (the {Length} elements of {Path} in rows of {rowLength}), got {rows}");
        if (columnCount < 0 || firstColumn < 0 || firstColumn > rowLength - columnCount)
            throw new ArgumentOutOfRangeException(nameof(firstColumn), firstColumn,
                $"expected columns [firstColumn, firstColumn + {columnCount}) inside rows of {rowLength} elements of {Path}, got firstColumn {firstColumn}");
        if (destination.Length < rows * columnCount)
            throw new ArgumentException($"expected a destination of at least {rows} × {columnCount} = {rows * columnCount} values, got {destination.Length}", nameof(destination));
        if (columnCount == rowLength)
        {
            ReadFromFile(0, destination[..checked((int)(rows * rowLength))]);
            return;
        }
        for (long r = 0; r < rows; r++)
            ReadFromFile(r * rowLength + firstColumn, destination.Slice(checked((int)(r * columnCount)), columnCount));
    }

    void ReadExactly(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var handle = file!.SafeFileHandle;
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(handle, buffer, offset);
            if (n == 0)
                throw new NpyFormatException(Path,
                    $"the file ended at byte {offset} while reading data its header promised (shape {Header.ShapeText}); it was truncated after it was opened");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Converts <c>destination.Length</c> elements of the file's dtype at <paramref name="src"/> to float32.</summary>
    void Convert(byte* src, Span<float> destination)
    {
        int n = destination.Length;
        switch (Header.ElementType)
        {
            case NpyElementType.Float32 when !Header.BigEndian:
                new ReadOnlySpan<float>(src, n).CopyTo(destination);
                break;
            case NpyElementType.Float32:
                { var s = new ReadOnlySpan<int>(src, n); for (int i = 0; i < n; i++) destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(s[i])); }
                break;
            case NpyElementType.Float64:
                { var s = new ReadOnlySpan<long>(src, n); for (int i = 0; i < n; i++) destination[i] = (float)ReadF8(s[i]); }
                break;
            case NpyElementType.UInt8:
                { var s = new ReadOnlySpan<byte>(src, n); for (int i = 0; i < n; i++) destination[i] = s[i]; }
                break;
            case NpyElementType.Int8:
                { var s = new ReadOnlySpan<sbyte>(src, n); for (int i = 0; i < n; i++) destination[i] = s[i]; }
                break;
            case NpyElementType.Int32:
                { var s = new ReadOnlySpan<int>(src, n); for (int i = 0; i < n; i++) destination[i] = ReadI4(s[i]); }
                break;
            case NpyElementType.Int64:
                { var s = new ReadOnlySpan<long>(src, n); for (int i = 0; i < n; i++) destination[i] = ReadI8(s[i]); }
                break;
        }
    }

    /// <summary>Copies <c>destination.Length</c> elements starting at flat (C-order) index <paramref name="start"/>, converted to float64 (exactly).</summary>
    /// <param name="start">First flat index, ≥ 0.</param>
    /// <param name="destination">Where to put the values.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range reaches beyond <see cref="Length"/>.</exception>
    public void CopyTo(long start, Span<double> destination)
    {
        CheckRange(start, destination.Length);
        if (destination.Length == 0) return;
        byte* src = data + start * Header.ElementSize;
        int n = destination.Length;
        switch (Header.ElementType)
        {
            case NpyElementType.Float32:
                { var s = new ReadOnlySpan<int>(src, n); for (int i = 0; i < n; i++) destination[i] = BitConverter.Int32BitsToSingle(ReadI4(s[i])); }
                break;
            case NpyElementType.Float64 when !Header.BigEndian:
                new ReadOnlySpan<double>(src, n).CopyTo(destination);
                break;
            case NpyElementType.Float64:
                { var s = new ReadOnlySpan<long>(src, n); for (int i = 0; i < n; i++) destination[i] = ReadF8(s[i]); }
                break;
            case NpyElementType.UInt8:
                { var s = new ReadOnlySpan<byte>(src, n); for (int i = 0; i < n; i++) destination[i] = s[i]; }
                break;
            case NpyElementType.Int8:
                { var s = new ReadOnlySpan<sbyte>(src, n); for (int i = 0; i < n; i++) destination[i] = s[i]; }
                break;
            case NpyElementType.Int32:
                { var s = new ReadOnlySpan<int>(src, n); for (int i = 0; i < n; i++) destination[i] = ReadI4(s[i]); }
                break;
            case NpyElementType.Int64:
                { var s = new ReadOnlySpan<long>(src, n); for (int i = 0; i < n; i++) destination[i] = ReadI8(s[i]); }
                break;
        }
    }

    /// <summary>All elements in C order as float32 (a copy).</summary>
    /// <exception cref="InvalidOperationException">More elements than a .NET array can hold.</exception>
    public float[] ToFloatArray()
    {
        var a = new float[CheckedArrayLength()];
        CopyTo(0, a);
        return a;
    }

    /// <summary>All elements in C order as float64 (a copy).</summary>
    /// <exception cref="InvalidOperationException">More elements than a .NET array can hold.</exception>
    public double[] ToDoubleArray()
    {
        var a = new double[CheckedArrayLength()];
        CopyTo(0, a);
        return a;
    }

    int CheckedArrayLength()
    {
        if (Length > Array.MaxLength)
            throw new InvalidOperationException($"{Path}: {Length} elements do not fit in one .NET array; read it in parts with CopyTo");
        return (int)Length;
    }

    int ReadI4(int raw) => Header.BigEndian ? BinaryPrimitives.ReverseEndianness(raw) : raw;
    long ReadI8(long raw) => Header.BigEndian ? BinaryPrimitives.ReverseEndianness(raw) : raw;
    double ReadF8(long raw) => BitConverter.Int64BitsToDouble(ReadI8(raw));

    void CheckRange(long start, int count)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (start < 0 || start > Length - count)
            throw new ArgumentOutOfRangeException(nameof(start), start,
                $"expected a range [start, start + {count}) inside the {Length} elements of {Path}, got start {start}");
    }

    /// <summary>Unmaps the file. Safe to call twice.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (view is not null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }
        map?.Dispose();
        file?.Dispose();
    }
}
