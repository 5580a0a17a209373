using System.Buffers.Binary;
using System.IO.Compression;

namespace Research.Core.Data;

/// <summary>An IDX file's content: its dimensions and its unsigned-byte payload.</summary>
/// <param name="Path">The file it was read from.</param>
/// <param name="Dimensions">Sizes, outermost first (e.g. [60000, 28, 28] for MNIST images).</param>
/// <param name="Data">The payload, row-major, one byte per element.</param>
public sealed record IdxArray(string Path, int[] Dimensions, byte[] Data)
{
    /// <summary>MD5 of the file's uncompressed content (lower-case hex; the distribution's MNIST sums are of that), or null.</summary>
    public string? Md5 { get; init; }

    /// <summary>Number of items (the first dimension).</summary>
    public int Count => Dimensions[0];

    /// <summary>Elements per item (product of the remaining dimensions; 1 for labels).</summary>
    public int ItemSize => Dimensions.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>The error raised for an IDX file that is missing, truncated or not what was expected.</summary>
public sealed class IdxFormatException : IOException
{
    /// <summary>The file concerned.</summary>
    public string FilePath { get; }

    /// <summary>Creates the exception; the message always names the file.</summary>
    public IdxFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner) => FilePath = filePath;
}

/// <summary>
/// Reader for the IDX format of LeCun et al.'s MNIST distribution (http://yann.lecun.com/exdb/mnist/):
/// a big-endian header (two zero bytes, a type code, the number of dimensions, then each dimension as
/// a 32-bit integer) followed by the data. Only unsigned bytes (type 0x08) are accepted, as MNIST
/// uses. Raw files (<c>*-ubyte</c>) and gzip files (<c>*-ubyte.gz</c>) are both accepted: gzip is
/// recognised by its magic bytes, not by the name.
/// </summary>
public static class Idx
{
    /// <summary>Reads and validates an IDX file of unsigned bytes.</summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedDimensions">How many dimensions it must have (3 for images, 1 for labels).</param>
    /// <param name="fixHint">Appended to every error message: how the user gets a good file.</param>
    /// <exception cref="IdxFormatException">Missing file, wrong magic, wrong type or dimension count,
    /// or a size that does not match the header (truncated or padded); the message names the file.</exception>
    public static IdxArray Read(string path, int expectedDimensions, string fixHint = "")
    {
        string Fix(string s) => string.IsNullOrEmpty(fixHint) ? s : $"{s} {fixHint}";
        if (!File.Exists(path))
            throw new IdxFormatException(path, Fix("file not found."));
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
            if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                bytes = ms.ToArray();
            }
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(path, Fix($"gzip stream is corrupt or truncated ({e.Message})."), e);
        }
        if (bytes.Length < 4)
            throw new IdxFormatException(path, Fix($"truncated: {bytes.Length} bytes, too short for an IDX header."));
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new IdxFormatException(path, Fix($"not an IDX file (magic starts 0x{bytes[0]:x2}{bytes[1]:x2}, expected 0x0000)."));
        if (bytes[2] != 0x08)
            throw new IdxFormatException(path, Fix($"IDX element type 0x{bytes[2]:x2} is not unsigned byte (0x08)."));
        int nd = bytes[3];
        if (nd != expectedDimensions)
            throw new IdxFormatException(path, Fix($"expected {expectedDimensions} dimensions, the header says {nd} (magic 0x{0x800 + nd:x8})."));
        int headerLength = 4 + 4 * nd;
        if (bytes.Length < headerLength)
            throw new IdxFormatException(path, Fix($"truncated header: {bytes.Length} bytes, need {headerLength}."));
        var dims = new int[nd];
        long expected = headerLength;
        long items = 1;
        for (int i = 0; i < nd; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (d == 0 || d > int.MaxValue)
                throw new IdxFormatException(path, Fix($"dimension {i} is {d}."));
            dims[i] = (int)d;
            items *= d;
        }
        expected += items;
        if (bytes.Length != expected)
            throw new IdxFormatException(path, Fix(bytes.Length < expected
                ? $"truncated: {bytes.Length} bytes, the header [{string.Join("x", dims)}] needs {expected}."
                : $"{bytes.Length} bytes, {bytes.Length - expected} more than the header [{string.Join("x", dims)}] allows."));
        return new IdxArray(path, dims, bytes[headerLength..])
        {
            Md5 = Convert.ToHexString(System.Security.Cryptography.MD5.HashData(bytes)).ToLowerInvariant(),
        };
    }

    /// <summary>Writes an IDX file of unsigned bytes (used by tests and for small derived data sets).</summary>
    public static void Write(string path, int[] dimensions, ReadOnlySpan<byte> data, bool gzip = false)
    {
        long n = dimensions.Aggregate(1L, (a, b) => a * b);
        if (n != data.Length)
            throw new ArgumentException($"dimensions [{string.Join("x", dimensions)}] need {n} bytes, got {data.Length}.", nameof(data));
        using var file = File.Create(path);
        using Stream s = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        Span<byte> word = stackalloc byte[4];
        s.Write([0, 0, 0x08, (byte)dimensions.Length]);
        foreach (var d in dimensions)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            s.Write(word);
        }
        s.Write(data);
    }
}
