using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Research.Core.Traces;

/// <summary>The element types this reader understands (NumPy's kind and size).</summary>
public enum NpyElementType
{
    /// <summary>IEEE 754 single precision, descr <c>'&lt;f4'</c> (or <c>'&gt;f4'</c>).</summary>
    Float32,
    /// <summary>IEEE 754 double precision, descr <c>'&lt;f8'</c> (or <c>'&gt;f8'</c>).</summary>
    Float64,
    /// <summary>Unsigned byte, descr <c>'|u1'</c>.</summary>
    UInt8,
    /// <summary>Signed byte, descr <c>'|i1'</c>.</summary>
    Int8,
    /// <summary>32-bit signed integer, descr <c>'&lt;i4'</c> (or <c>'&gt;i4'</c>).</summary>
    Int32,
    /// <summary>64-bit signed integer, descr <c>'&lt;i8'</c> (or <c>'&gt;i8'</c>).</summary>
    Int64,
}

/// <summary>The parsed header of a <c>.npy</c> file.</summary>
/// <param name="MajorVersion">Format major version: 1, 2 or 3.</param>
/// <param name="MinorVersion">Format minor version: 0.</param>
/// <param name="Descr">The dtype descriptor exactly as written, e.g. <c>"&lt;f4"</c>.</param>
/// <param name="ElementType">The element type <see cref="Descr"/> stands for.</param>
/// <param name="BigEndian">True for a <c>'&gt;…'</c> descr; such data is byte-swapped on read.</param>
/// <param name="FortranOrder">The header's <c>fortran_order</c>; true is accepted only when the layout
/// equals C order (at most one dimension longer than 1).</param>
/// <param name="Shape">The array's shape; empty for a 0-d array.</param>
/// <param name="DataOffset">Byte offset of the first element (a multiple of 64 for files NumPy or
/// this toolkit wrote).</param>
public sealed record NpyHeader(
    int MajorVersion,
    int MinorVersion,
    string Descr,
    NpyElementType ElementType,
    bool BigEndian,
    bool FortranOrder,
    long[] Shape,
    long DataOffset)
{
    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a 0-d array).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Bytes per element (4 for float32).</summary>
    public int ElementSize => Npy.SizeOf(ElementType);

    /// <summary>Bytes of data the shape requires after <see cref="DataOffset"/>.</summary>
    public long DataBytes => checked(ElementCount * ElementSize);

    /// <summary>The shape as Python prints it, e.g. <c>(100, 10, 512)</c>, for messages.</summary>
    public string ShapeText => Npy.ShapeRepr(Shape);
}

/// <summary>
/// The NPY file format, version 1.0 for writing and 1.0/2.0/3.0 for reading
/// (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html).
/// </summary>
/// <remarks>
/// <para>Layout: the magic <c>\x93NUMPY</c>, two version bytes, the header length (little-endian u16
/// in 1.0, u32 in 2.0/3.0), then an ASCII (3.0: UTF-8) Python dict literal with exactly the keys
/// <c>'descr'</c>, <c>'fortran_order'</c> and <c>'shape'</c>, padded with spaces and ended by
/// <c>\n</c> so that the data starts at a multiple of 64 bytes.</para>
/// <para>Headers are written exactly as NumPy 1.24's <c>numpy.lib.format._write_array_header</c>
/// writes them, byte for byte: keys sorted, values in Python <c>repr</c>, then
/// <c>21 - len(repr(shape[0]))</c> spare spaces (NumPy's <c>GROWTH_AXIS_MAX_DIGITS</c>) so that the
/// first dimension can grow to 21 digits in place without moving the data, then the 64-byte
/// alignment padding (1 to 64 spaces) and <c>\n</c>.</para>
/// <para>The reader parses the dict with a small literal parser (strings, ints, booleans, tuples,
/// lists); it never evaluates or unpickles anything. Object dtypes (<c>'|O'</c>, pickled Python
/// objects) are rejected.</para>
/// </remarks>
public static class Npy
{
    /// <summary>The six magic bytes every <c>.npy</c> file starts with: <c>\x93NUMPY</c>.</summary>
    public static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Data alignment NumPy uses (<c>ARRAY_ALIGN</c>).</summary>
    public const int ArrayAlign = 64;

    /// <summary>Digits reserved for the growth axis (<c>GROWTH_AXIS_MAX_DIGITS</c> in NumPy ≥ 1.23).</summary>
    public const int GrowthAxisMaxDigits = 21;

    /// <summary>Largest header this reader accepts, in bytes (NumPy's own limit is 10,000 characters).</summary>
    public const int MaxHeaderBytes = 100_000;

    /// <summary>The NPY descr for little-endian float32, the trace format's only stored dtype.</summary>
    public const string Float32Descr = "<f4";

    /// <summary>Bytes per element of <paramref name="type"/>.</summary>
    /// <param name="type">An element type.</param>
    public static int SizeOf(NpyElementType type) => type switch
    {
        NpyElementType.Float32 => 4,
        NpyElementType.Float64 => 8,
        NpyElementType.UInt8 => 1,
        NpyElementType.Int8 => 1,
        NpyElementType.Int32 => 4,
        NpyElementType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "expected a defined NpyElementType"),
    };

    /// <summary>
    /// Encodes a version 1.0 header (magic through the final <c>\n</c>), byte for byte as NumPy writes it.
    /// </summary>
    /// <param name="descr">The dtype descriptor, e.g. <c>"&lt;f4"</c>; written as a Python string literal.</param>
    /// <param name="fortranOrder">The <c>fortran_order</c> flag (the growth axis is then the last one).</param>
    /// <param name="shape">The shape; every entry ≥ 0.</param>
    /// <returns>The header bytes; their length is a multiple of 64.</returns>
    /// <exception cref="ArgumentException">A negative dimension, a descr with quotes or non-ASCII
    /// characters, or a header longer than 65535 bytes (version 1.0's limit).</exception>
    public static byte[] EncodeHeader(string descr, bool fortranOrder, ReadOnlySpan<long> shape)
    {
        ArgumentNullException.ThrowIfNull(descr);
        foreach (var c in descr)
            if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\')
                throw new ArgumentException($"expected a plain ASCII dtype descriptor such as '<f4', got \"{descr}\"", nameof(descr));
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] < 0)
                throw new ArgumentException($"expected every dimension >= 0, got {shape[i]} at position {i} of {ShapeRepr(shape)}", nameof(shape));

        var sb = new StringBuilder(128);
        sb.Append("{'descr': '").Append(descr).Append("', 'fortran_order': ")
          .Append(fortranOrder ? "True" : "False").Append(", 'shape': ").Append(ShapeRepr(shape)).Append(", }");
        if (shape.Length > 0)
        {
            long growth = shape[fortranOrder ? shape.Length - 1 : 0];
            int digits = growth.ToString(CultureInfo.InvariantCulture).Length;
            sb.Append(' ', Math.Max(0, GrowthAxisMaxDigits - digits));
        }
        const int preamble = 10; // magic (6) + version (2) + u16 length (2)
        int hlen = sb.Length + 1; // + '\n'
        int padlen = ArrayAlign - (preamble + hlen) % ArrayAlign; // 1..64, as NumPy
        int total = preamble + hlen + padlen;
        if (hlen + padlen > ushort.MaxValue)
            throw new ArgumentException($"expected a header that fits version 1.0 (65535 bytes), got {hlen + padlen} bytes for shape {ShapeRepr(shape)}", nameof(shape));
        var bytes = new byte[total];
        Magic.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)(hlen + padlen));
        int n = Encoding.ASCII.GetBytes(sb.ToString(), bytes.AsSpan(preamble));
        bytes.AsSpan(preamble + n, padlen).Fill((byte)' ');
        bytes[total - 1] = (byte)'\n';
        return bytes;
    }

    /// <summary>Writes a whole float32 array as a version 1.0 <c>.npy</c> file (C order, little-endian).</summary>
    /// <param name="path">Destination; an existing file is replaced.</param>
    /// <param name="data">The elements in C (row-major) order.</param>
    /// <param name="shape">The shape; its product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape's product differs from the data length.</exception>
    public static void Write(string path, ReadOnlySpan<float> data, ReadOnlySpan<long> shape) =>
        WriteBytes(path, MemoryMarshal.AsBytes(data), data.Length, "<f4", shape);

    /// <summary>Writes a whole float64 array as a version 1.0 <c>.npy</c> file (C order, little-endian).</summary>
    /// <param name="path">Destination; an existing file is replaced.</param>
    /// <param name="data">The elements in C (row-major) order.</param>
    /// <param name="shape">The shape; its product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape's product differs from the data length.</exception>
    public static void Write(string path, ReadOnlySpan<double> data, ReadOnlySpan<long> shape) =>
        WriteBytes(path, MemoryMarshal.AsBytes(data), data.Length, "<f8", shape);

    static void WriteBytes(string path, ReadOnlySpan<byte> bytes, int length, string descr, ReadOnlySpan<long> shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("writing .npy files needs a little-endian machine");
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        if (n != length)
            throw new ArgumentException($"expected a shape whose product equals the data length {length}, got {ShapeRepr(shape)} (product {n})", nameof(shape));
        var header = EncodeHeader(descr, false, shape);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        fs.Write(header);
        fs.Write(bytes);
    }

    /// <summary>Reads and parses the header at the start of <paramref name="stream"/>.</summary>
    /// <param name="stream">A readable stream positioned at the start of the file.</param>
    /// <param name="path">The file's path, for messages.</param>
    /// <returns>The header; the stream is left after it.</returns>
    /// <exception cref="NpyFormatException">Foreign bytes (bad magic), an unsupported version, a
    /// truncated or malformed header, or an unsupported dtype (object/pickle, structured, string,
    /// complex…), or a Fortran-order array whose layout differs from C order.</exception>
    public static NpyHeader ReadHeader(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> pre = stackalloc byte[12];
        int got = ReadAtMost(stream, pre[..10]);
        if (got < 6 || !pre[..6].SequenceEqual(Magic))
            throw ForeignFile(path, pre[..got], got);
        if (got < 10)
            throw new NpyFormatException(path, $"truncated header: the file ends after {got} bytes, inside the 10-byte NPY preamble");
        int major = pre[6], minor = pre[7];
        if (!((major == 1 || major == 2 || major == 3) && minor == 0))
            throw new NpyFormatException(path, $"unsupported NPY format version {major}.{minor}; this reader understands 1.0, 2.0 and 3.0");
        long headerLength;
        int preamble;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(pre[8..10]);
            preamble = 10;
        }
        else
        {
            int more = ReadAtMost(stream, pre[10..12]);
            if (more < 2)
                throw new NpyFormatException(path, $"truncated header: the file ends after {10 + more} bytes, inside the 12-byte NPY {major}.0 preamble");
            headerLength = BinaryPrimitives.ReadUInt32LittleEndian(pre[8..12]);
            preamble = 12;
        }
        if (headerLength > MaxHeaderBytes)
            throw new NpyFormatException(path, $"malformed header: it claims {headerLength} bytes, more than the {MaxHeaderBytes} this reader accepts (NumPy writes about 128)");
        var header = new byte[headerLength];
        int h = ReadAtMost(stream, header);
        if (h < headerLength)
            throw new NpyFormatException(path, $"truncated header: the preamble announces a {headerLength}-byte header but the file ends after {h} of them");
        return ParseHeaderText(header, major, minor, preamble + headerLength, path);
    }

    /// <summary>Parses the header at the start of <paramref name="bytes"/> (the whole file or at least its header).</summary>
    /// <param name="bytes">The file's first bytes.</param>
    /// <param name="path">A name for messages.</param>
    /// <returns>The header.</returns>
    /// <exception cref="NpyFormatException">As <see cref="ReadHeader(Stream, string)"/>.</exception>
    public static NpyHeader ParseHeader(ReadOnlySpan<byte> bytes, string path)
    {
        using var ms = new MemoryStream(bytes.ToArray(), writable: false);
        return ReadHeader(ms, path);
    }

    static int ReadAtMost(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    static NpyFormatException ForeignFile(string path, ReadOnlySpan<byte> first, int got)
    {
        if (got == 0)
            return new NpyFormatException(path, "truncated header: the file is empty (0 bytes), not a NumPy .npy file");
        var hex = Convert.ToHexString(first[..Math.Min(got, 6)]);
        string hint = first.StartsWith("PK"u8)
            ? " (this is a zip archive: an .npz holds one .npy per array — extract it or open the .npy files inside)"
            : first[0] == 0x80 ? " (this looks like a Python pickle; pickles are never loaded)"
            : first.StartsWith("{"u8) || first.StartsWith("["u8) ? " (this looks like JSON text)"
            : "";
        string what = got < 6 && Magic.StartsWith(first[..got])
            ? $"truncated header: the file ends after {got} bytes, inside the magic string"
            : $"not a NumPy .npy file: it starts with bytes {hex}, expected the magic 934E554D5059 (\\x93NUMPY){hint}";
        return new NpyFormatException(path, what);
    }

    static NpyHeader ParseHeaderText(byte[] header, int major, int minor, long dataOffset, string path)
    {
        string text;
        try
        {
            text = major == 3
                ? new UTF8Encoding(false, true).GetString(header)
                : Encoding.Latin1.GetString(header);
        }
        catch (DecoderFallbackException)
        {
            throw new NpyFormatException(path, "malformed header: version 3.0 header is not valid UTF-8");
        }
        Dictionary<string, object?> dict;
        try
        {
            var p = new PyLiteralParser(text);
            dict = p.ParseHeaderDict();
        }
        catch (FormatException e)
        {
            throw new NpyFormatException(path, $"malformed header: {e.Message}; header text: {Abbreviate(text)}");
        }
        var expected = new[] { "descr", "fortran_order", "shape" };
        var missing = expected.Where(k => !dict.ContainsKey(k)).ToArray();
        var extra = dict.Keys.Where(k => !expected.Contains(k)).ToArray();
        if (missing.Length > 0 || extra.Length > 0)
            throw new NpyFormatException(path,
                $"malformed header: expected exactly the keys 'descr', 'fortran_order', 'shape'" +
                (missing.Length > 0 ? $"; missing {string.Join(", ", missing.Select(k => $"'{k}'"))}" : "") +
                (extra.Length > 0 ? $"; unexpected {string.Join(", ", extra.Select(k => $"'{k}'"))}" : ""));

        if (dict["fortran_order"] is not bool fortran)
            throw new NpyFormatException(path, $"malformed header: fortran_order must be True or False, got {Repr(dict["fortran_order"])}");
        if (dict["shape"] is not List<object?> shapeItems || shapeItems.Any(x => x is not long))
            throw new NpyFormatException(path, $"malformed header: shape must be a tuple of integers, got {Repr(dict["shape"])}");
        var shape = shapeItems.Select(x => (long)x!).ToArray();
        if (shape.Any(d => d < 0))
            throw new NpyFormatException(path, $"malformed header: shape {ShapeRepr(shape)} has a negative dimension");

        var descrValue = dict["descr"];
        if (descrValue is PyList)
            throw new NpyFormatException(path, $"unsupported dtype: a structured (record) dtype {Abbreviate(Repr(descrValue))}; only plain numeric arrays are read (float32, float64, uint8, int8, int32, int64)");
        if (descrValue is not string descr)
            throw new NpyFormatException(path, $"malformed header: descr must be a string such as '<f4', got {Repr(descrValue)}");
        var (type, bigEndian) = ParseDescr(descr, path);

        long count = 1;
        try { foreach (var d in shape) count = checked(count * d); _ = checked(count * SizeOf(type)); }
        catch (OverflowException) { throw new NpyFormatException(path, $"malformed header: shape {ShapeRepr(shape)} has more elements than fit in 64 bits"); }

        if (fortran && shape.Count(d => d > 1) > 1)
            throw new NpyFormatException(path,
                $"Fortran-order (column-major) array of shape {ShapeRepr(shape)} is not supported: this reader reads C order only and does not transpose; save it with numpy.save(path, numpy.ascontiguousarray(a))");
        return new NpyHeader(major, minor, descr, type, bigEndian, fortran, shape, dataOffset);
    }

    static (NpyElementType, bool) ParseDescr(string descr, string path)
    {
        const string supported = "supported: '<f4', '<f8', '|u1', '|i1', '<i4', '<i8' and their big-endian '>' forms (byte-swapped on read)";
        if (descr.Length >= 2 && (descr[1] == 'O' || descr == "O"))
            throw new NpyFormatException(path, $"unsupported dtype '{descr}': an object array holds pickled Python objects, and this reader never unpickles anything; save a numeric array instead ({supported})");
        if (descr == "O")
            throw new NpyFormatException(path, $"unsupported dtype 'O' (pickled Python objects are never loaded); {supported}");
        if (descr.Length < 2)
            throw new NpyFormatException(path, $"unsupported dtype '{descr}'; {supported}");
        char order = descr[0];
        string code = descr[1..];
        bool little = BitConverter.IsLittleEndian;
        bool big = order switch
        {
            '<' => false,
            '>' => true,
            '|' => false,
            '=' => !little,
            _ => throw new NpyFormatException(path, $"unsupported dtype '{descr}': expected a byte-order character '<', '>', '|' or '=' first; {supported}"),
        };
        NpyElementType type = code switch
        {
            "f4" => NpyElementType.Float32,
            "f8" => NpyElementType.Float64,
            "u1" => NpyElementType.UInt8,
            "i1" => NpyElementType.Int8,
            "i4" => NpyElementType.Int32,
            "i8" => NpyElementType.Int64,
            _ => throw new NpyFormatException(path, $"unsupported dtype '{descr}'{DescribeCode(code)}; {supported}"),
        };
        if (SizeOf(type) == 1) big = false;
        return (type, big);
    }

    static string DescribeCode(string code) => code.Length == 0 ? "" : code[0] switch
    {
        'f' => " (a float of another width)",
        'c' => " (complex)",
        'S' or 'a' => " (byte strings)",
        'U' => " (unicode strings)",
        'V' => " (raw void/record bytes)",
        'M' or 'm' => " (datetime/timedelta)",
        'b' => " (boolean)",
        'u' or 'i' => " (an integer of another width)",
        _ => "",
    };

    static string Abbreviate(string s) => s.Length <= 160 ? s.TrimEnd() : s[..160] + "…";

    /// <summary>The Python <c>repr</c> of a shape tuple: <c>()</c>, <c>(5,)</c>, <c>(5, 3)</c>.</summary>
    /// <param name="shape">The dimensions.</param>
    public static string ShapeRepr(ReadOnlySpan<long> shape)
    {
        if (shape.Length == 0) return "()";
        if (shape.Length == 1) return $"({shape[0].ToString(CultureInfo.InvariantCulture)},)";
        var sb = new StringBuilder("(");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }
        return sb.Append(')').ToString();
    }

    static string Repr(object? v) => v switch
    {
        null => "None",
        string s => $"'{s}'",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        PyList pl => "[" + string.Join(", ", pl.Select(Repr)) + "]",
        List<object?> t => t.Count == 1 ? $"({Repr(t[0])},)" : "(" + string.Join(", ", t.Select(Repr)) + ")",
        _ => v.ToString() ?? "",
    };

    /// <summary>A Python list (as opposed to a tuple, which parses to a plain List).</summary>
    sealed class PyList : List<object?>;

    /// <summary>
    /// Parses the literal subset NPY headers use: a dict with string keys whose values are strings,
    /// integers (an old Python 2 'L' suffix is accepted), True/False/None, tuples and lists. Nothing
    /// is evaluated.
    /// </summary>
    sealed class PyLiteralParser(string text)
    {
        int pos;

        public Dictionary<string, object?> ParseHeaderDict()
        {
            SkipWs();
            if (Peek() != '{') throw Fail("expected a Python dict literal starting with '{'");
            var d = ParseDict();
            SkipWs();
            if (pos != text.Length) throw Fail("unexpected text after the closing '}'");
            return d;
        }

        Dictionary<string, object?> ParseDict()
        {
            Expect('{');
            var d = new Dictionary<string, object?>();
            SkipWs();
            while (Peek() != '}')
            {
                SkipWs();
                if (Peek() is not ('\'' or '"')) throw Fail("expected a quoted key");
                var key = ParseString();
                SkipWs();
                Expect(':');
                var value = ParseValue(0);
                if (!d.TryAdd(key, value)) throw Fail($"key '{key}' appears twice");
                SkipWs();
                if (Peek() == ',') { pos++; SkipWs(); continue; }
                if (Peek() != '}') throw Fail("expected ',' or '}'");
            }
            Expect('}');
            return d;
        }

        object? ParseValue(int depth)
        {
            if (depth > 32) throw Fail("nesting deeper than 32 levels");
            SkipWs();
            char c = Peek();
            if (c is '\'' or '"') return ParseString();
            if (c == '(') return ParseSequence('(', ')', new List<object?>(), depth);
            if (c == '[') return ParseSequence('[', ']', new PyList(), depth);
            if (c == '{') throw Fail("nested dicts are not part of an NPY header");
            if (c == '-' || c == '+' || char.IsAsciiDigit(c)) return ParseInt();
            if (Word("True")) return true;
            if (Word("False")) return false;
            if (Word("None")) return null;
            throw Fail(c == '\0' ? "unexpected end of header" : $"unexpected character '{c}'");
        }

        object? ParseSequence(char open, char close, List<object?> items, int depth)
        {
            Expect(open);
            SkipWs();
            bool sawComma = false;
            while (Peek() != close)
            {
                items.Add(ParseValue(depth + 1));
                SkipWs();
                if (Peek() == ',') { pos++; sawComma = true; SkipWs(); continue; }
                if (Peek() != close) throw Fail($"expected ',' or '{close}'");
            }
            Expect(close);
            if (open == '(' && items.Count == 1 && !sawComma)
                return items[0]; // (x) is just x in Python, not a tuple
            return items;
        }

        long ParseInt()
        {
            int start = pos;
            if (Peek() is '-' or '+') pos++;
            if (!char.IsAsciiDigit(Peek())) throw Fail("expected digits");
            while (char.IsAsciiDigit(Peek()) || Peek() == '_') pos++;
            var digits = text[start..pos].Replace("_", "");
            if (Peek() is 'L' or 'l') pos++; // Python 2 long literal
            if (Peek() is '.' or 'e' or 'E' or 'j') throw Fail("expected an integer, got a float or complex literal");
            if (!long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
                throw Fail($"integer {digits} does not fit in 64 bits");
            return v;
        }

        string ParseString()
        {
            char q = text[pos++];
            var sb = new StringBuilder();
            while (true)
            {
                if (pos >= text.Length) throw Fail("unterminated string");
                char c = text[pos++];
                if (c == q) break;
                if (c == '\\')
                {
                    if (pos >= text.Length) throw Fail("unterminated string");
                    char e = text[pos++];
                    sb.Append(e switch { 'n' => '\n', 't' => '\t', '\\' => '\\', '\'' => '\'', '"' => '"', _ => throw Fail($"unsupported escape '\\{e}'") });
                }
                else if (c == '\n') throw Fail("line break inside a string");
                else sb.Append(c);
            }
            return sb.ToString();
        }

        bool Word(string w)
        {
            if (string.CompareOrdinal(text, pos, w, 0, w.Length) != 0) return false;
            int end = pos + w.Length;
            if (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) return false;
            pos = end;
            return true;
        }

        void Expect(char c)
        {
            if (Peek() != c) throw Fail(Peek() == '\0' ? $"unexpected end of header, expected '{c}'" : $"expected '{c}', got '{Peek()}'");
            pos++;
        }

        char Peek() => pos < text.Length ? text[pos] : '\0';

        void SkipWs()
        {
            while (pos < text.Length && text[pos] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v') pos++;
        }

        FormatException Fail(string what) => new($"{what} at character {pos}");
    }
}
