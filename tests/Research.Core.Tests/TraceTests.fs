/// Tests of Research.Core.Traces: the NPY format, the append writer, the trace writer and reader.
/// NumPy references: files written by NumPy 1.24.2 (Debian 12 python3-numpy 1:1.24.2-1+deb12u1,
/// Python 3.11) with `numpy.save(io.BytesIO(), a)` (or `numpy.lib.format.write_array(f, a,
/// version=...)` for the 2.0/3.0 cases), embedded below as base64. No python is needed to run them.
module TraceTests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json.Nodes
open Expecto
open Research.Core.Traces

// ---------------------------------------------------------------------------------------------
// Helpers

let private tempDir (tag: string) =
  let d = Path.Combine(Path.GetTempPath(), "research-trace-tests", $"{tag}-{Guid.NewGuid():N}")
  Directory.CreateDirectory d |> ignore
  d

let private withTempDir tag (f: string -> unit) =
  let d = tempDir tag
  try f d
  finally
    try Directory.Delete(d, true) with _ -> ()

let private bits (a: float32[]) = a |> Array.map BitConverter.SingleToInt32Bits

/// Float arrays equal bit for bit (so NaN payloads, -0 and infinities count).
let private expectBitsEqual (actual: float32[]) (expected: float32[]) msg =
  Expect.equal actual.Length expected.Length $"{msg}: length"
  Expect.sequenceEqual (bits actual) (bits expected) msg

let private span (a: float32[]) = ReadOnlySpan<float32>(a)

let private expectThrowsWith<'E when 'E :> exn> (f: unit -> unit) (parts: string list) msg =
  let e = Expect.throwsC f id
  match e with
  | :? 'E as e ->
    for p in parts do
      Expect.stringContains e.Message p $"{msg}: message \"{e.Message}\" should contain \"{p}\""
  | e -> failtestf "%s: expected %s, got %s: %s" msg typeof<'E>.Name (e.GetType().Name) e.Message

let private nonFiniteOf (xs: float32 seq) =
  let mutable nan, pos, neg = 0L, 0L, 0L
  for x in xs do
    if Single.IsNaN x then nan <- nan + 1L
    elif Single.IsPositiveInfinity x then pos <- pos + 1L
    elif Single.IsNegativeInfinity x then neg <- neg + 1L
  NonFiniteCount(nan, pos, neg)

// ---------------------------------------------------------------------------------------------
// NumPy 1.24.2 output (see the module comment)

/// (name, base64 of the whole .npy file as numpy.save wrote it)
let private numpy =
  dict [
    // np.arange(12, dtype='<f4').reshape(3, 4)
    "f4_3x4", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDQpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEAAAMBAAADgQAAAAEEAABBBAAAgQQAAMEE="
    // np.array([1.5, nan, inf, -inf, -0.0], dtype='<f4')
    "f4_nonfinite", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AADAfwAAgH8AAID/AAAAgA=="
    // np.array([0.1, -2.5, 1e300])  (float64, NumPy's default)
    "f8_1d", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqamZmZmZm5PwAAAAAAAATAnHUAiDzkN34="
    // np.array([[1.0, -2.0], [0.5, 3.25]], dtype='>f4')
    "f4_be_2x2", "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/gAAAwAAAAD8AAABAUAAA"
    // np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3))
    "f4_fortran_2x3", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA="
    // np.array([1, 'a', None], dtype=object), np.save(..., allow_pickle=True): a pickle follows the header
    "object", "k05VTVBZAQB2AHsnZGVzY3InOiAnfE8nLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAA2NudW1weS5jb3JlLm11bHRpYXJyYXkKX3JlY29uc3RydWN0CnEAY251bXB5Cm5kYXJyYXkKcQFLAIVxAkMBYnEDh3EEUnEFKEsBSwOFcQZjbnVtcHkKZHR5cGUKcQdYAgAAAE84cQiJiIdxCVJxCihLA1gBAAAAfHELTk5OSv////9K/////0s/dHEMYoldcQ0oSwFYAQAAAGFxDk5ldHEPYi4="
    // np.array([0, 7, 255], dtype='u1')
    "u1", "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAB/8="
    // np.array([[-1, 2], [3, -2147483648]], dtype='<i4')
    "i4_2x2", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr/////AgAAAAMAAAAAAACA"
    // np.array([-5, 2**40], dtype='<i8')
    "i8", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr7/////////wAAAAAAAQAA"
    // np.array(3.5, dtype='<f4')  (0-d)
    "f4_0d", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAGBA"
    // np.zeros((0, 10, 512), dtype='<f4')
    "f4_empty_0x10x512", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsIDEwLCA1MTIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo="
    // np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')])
    "structured", "k05VTVBZAQB2AHsnZGVzY3InOiBbKCdhJywgJzxmNCcpLCAoJ2InLCAnPGk0JyldLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAAAA"
    // np.lib.format.write_array(f, np.arange(3, dtype='<f4'), version=(2, 0))
    "f4_v2", "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEA="
    // np.lib.format.write_array(f, np.arange(3, dtype='<f4'), version=(3, 0))
    "f4_v3", "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEA="
    // np.array([1+2j], dtype='<c8')
    "c8", "k05VTVBZAQB2AHsnZGVzY3InOiAnPGM4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AAAAQA=="
  ]

let private numpyBytes name = Convert.FromBase64String numpy[name]

/// The NaN NumPy 1.24.2 wrote for np.nan as float32: bits 0x7FC00000. F#'s `nanf` is a different
/// NaN, 0xFFC00000 (sign set: x86's default NaN from 0/0), so comparing bit patterns shows that
/// sign and payload survive the round trip.
let private numpyNaN = BitConverter.Int32BitsToSingle 0x7FC00000

let private writeBytes dir name (bytes: byte[]) =
  let p = Path.Combine(dir, name)
  File.WriteAllBytes(p, bytes)
  p

// ---------------------------------------------------------------------------------------------
// The NPY 1.0 header rules, implemented a second time from the specification text
// (numpy.lib.format docs: magic, version 1.0, u16 LE HEADER_LEN, dict literal, spaces, '\n',
// total divisible by 64) plus NumPy >= 1.23's 21 spare digits for the growth axis.

let private specHeader (descr: string) (fortran: bool) (shape: int64 list) =
  let shapeText =
    match shape with
    | [] -> "()"
    | [ d ] -> $"({d},)"
    | ds -> "(" + String.Join(", ", ds) + ")"
  let fortranText = if fortran then "True" else "False"
  let dictText = $"{{'descr': '{descr}', 'fortran_order': {fortranText}, 'shape': {shapeText}, }}"
  let growth =
    match shape with
    | [] -> ""
    | _ -> String(' ', 21 - (string (if fortran then List.last shape else List.head shape)).Length)
  let body = dictText + growth
  let unpadded = 10 + body.Length + 1
  let pad = 64 - unpadded % 64 // NumPy pads 1..64 spaces
  let text = body + String(' ', pad) + "\n"
  Array.concat [ [| 0x93uy |]; Encoding.ASCII.GetBytes "NUMPY"; [| 1uy; 0uy |]
                 BitConverter.GetBytes(uint16 text.Length); Encoding.ASCII.GetBytes text ]

// ---------------------------------------------------------------------------------------------

let private headerTests =
  testList "Npy header" [
    // (case, descr, fortran, shape, NumPy file whose header it must equal)
    let numpyCases = [
      "2-D float32", "<f4", false, [ 3L; 4L ], "f4_3x4"
      "1-D float32", "<f4", false, [ 5L ], "f4_nonfinite"
      "1-D float64", "<f8", false, [ 3L ], "f8_1d"
      "big-endian", ">f4", false, [ 2L; 2L ], "f4_be_2x2"
      "Fortran order (growth axis last)", "<f4", true, [ 2L; 3L ], "f4_fortran_2x3"
      "0-d", "<f4", false, [], "f4_0d"
      "empty 0×10×512", "<f4", false, [ 0L; 10L; 512L ], "f4_empty_0x10x512"
      "uint8", "|u1", false, [ 3L ], "u1" ]
    for (name, descr, fortran, shape, file) in numpyCases do
      test $"EncodeHeader equals NumPy 1.24.2's header byte for byte: {name}" {
        let ours = Npy.EncodeHeader(descr, fortran, ReadOnlySpan(List.toArray shape))
        let theirs = numpyBytes file
        Expect.sequenceEqual ours theirs[.. ours.Length - 1] "header bytes"
        Expect.equal (10 + int (BitConverter.ToUInt16(theirs, 8))) ours.Length "NumPy's data starts where our header ends"
      }

    // (case, shape) checked against the rules as written in the specification
    let specCases = [
      "scalar series, 0 rows", [ 0L ]
      "scalar series, 100 rows", [ 100L ]
      "10×512 block, 0 rows", [ 0L; 10L; 512L ]
      "10×512 block, 100 rows", [ 100L; 10L; 512L ]
      "10×512 block, 10^12 rows", [ 1_000_000_000_000L; 10L; 512L ]
      "784×512 layer, 7 rows", [ 7L; 784L; 512L ]
      "5-D", [ 1L; 2L; 3L; 4L; 5L ]
      "0-d", [] ]
    for (name, shape) in specCases do
      test $"EncodeHeader follows the NPY 1.0 rules byte for byte: {name}" {
        let ours = Npy.EncodeHeader("<f4", false, ReadOnlySpan(List.toArray shape))
        let spec = specHeader "<f4" false shape
        Expect.sequenceEqual ours spec "bytes"
        Expect.equal (ours.Length % 64) 0 "data starts at a multiple of 64"
        Expect.equal ours[ours.Length - 1] (byte '\n') "header ends with a newline"
        Expect.equal (int (BitConverter.ToUInt16(ours, 8))) (ours.Length - 10) "HEADER_LEN (u16 LE) counts the rest"
      }

    test "the header keeps its length as the row count grows from 0 to 10^12 (in-place rewrite)" {
      let len rows = Npy.EncodeHeader("<f4", false, ReadOnlySpan [| rows; 10L; 512L |]).Length
      let lengths = [ 0L; 9L; 10L; 99_999L; 1_000_000_000_000L; 999_999_999_999_999L ] |> List.map len
      Expect.allEqual lengths (len 0L) "same header length for every row count"
    }

    test "EncodeHeader rejects a negative dimension naming the parameter" {
      let e = Expect.throwsC (fun () -> Npy.EncodeHeader("<f4", false, ReadOnlySpan [| 3L; -1L |]) |> ignore) id
      match e with
      | :? ArgumentException as a -> Expect.equal a.ParamName "shape" "param name"; Expect.stringContains a.Message "-1" "value"
      | e -> failtestf "expected ArgumentException, got %O" e
    }
  ]

// ---------------------------------------------------------------------------------------------

let private readNumpyTests =
  testList "Npy reading NumPy files" [
    // (NumPy file, expected shape, expected values as float32 (bit-exact), expected element type, note)
    let cases = [
      "f4_3x4", [| 3L; 4L |], Array.init 12 float32, NpyElementType.Float32
      "f4_nonfinite", [| 5L |], [| 1.5f; numpyNaN; infinityf; -infinityf; -0.0f |], NpyElementType.Float32
      "f8_1d", [| 3L |], [| float32 0.1; -2.5f; float32 1e300 (* +inf in float32 *) |], NpyElementType.Float64
      "f4_be_2x2", [| 2L; 2L |], [| 1.0f; -2.0f; 0.5f; 3.25f |], NpyElementType.Float32
      "u1", [| 3L |], [| 0.0f; 7.0f; 255.0f |], NpyElementType.UInt8
      "i4_2x2", [| 2L; 2L |], [| -1.0f; 2.0f; 3.0f; -2147483648.0f |], NpyElementType.Int32
      "i8", [| 2L |], [| -5.0f; 1099511627776.0f |], NpyElementType.Int64
      "f4_0d", [||], [| 3.5f |], NpyElementType.Float32
      "f4_empty_0x10x512", [| 0L; 10L; 512L |], [||], NpyElementType.Float32
      "f4_v2", [| 3L |], [| 0.0f; 1.0f; 2.0f |], NpyElementType.Float32
      "f4_v3", [| 3L |], [| 0.0f; 1.0f; 2.0f |], NpyElementType.Float32 ]
    for (file, shape, expected, etype) in cases do
      test $"NpyArray.Open reads NumPy's {file}" {
        withTempDir "npy-read" (fun dir ->
          let path = writeBytes dir (file + ".npy") (numpyBytes file)
          use a = NpyArray.Open path
          Expect.sequenceEqual a.Shape shape "shape"
          Expect.equal a.Header.ElementType etype "element type"
          expectBitsEqual (a.ToFloatArray()) expected "values"
          // the positioned reads convert exactly as the mapped ones
          let fromFile = Array.zeroCreate<float32> expected.Length
          a.ReadFromFile(0L, Span fromFile)
          expectBitsEqual fromFile expected "ReadFromFile, all"
          if expected.Length >= 2 then
            let tail = Array.zeroCreate<float32> (expected.Length - 1)
            a.ReadFromFile(1L, Span tail)
            expectBitsEqual tail expected[1..] "ReadFromFile from element 1"
          if shape.Length = 2 then
            let cols = Array.zeroCreate<float32> (int shape[0])
            a.ReadColumnsFromFile(shape[0], shape[1], shape[1] - 1L, 1, Span cols)
            expectBitsEqual cols (Array.init (int shape[0]) (fun r -> expected[r * int shape[1] + int shape[1] - 1])) "ReadColumnsFromFile, last column")
      }

    test "float64 data converts to double exactly" {
      withTempDir "npy-read" (fun dir ->
        use a = NpyArray.Open(writeBytes dir "f8.npy" (numpyBytes "f8_1d"))
        Expect.sequenceEqual (a.ToDoubleArray()) [| 0.1; -2.5; 1e300 |] "doubles")
    }

    test "big-endian '>f4' is byte-swapped on read (converted, not rejected)" {
      withTempDir "npy-read" (fun dir ->
        use a = NpyArray.Open(writeBytes dir "be.npy" (numpyBytes "f4_be_2x2"))
        Expect.isTrue a.Header.BigEndian "flagged big-endian"
        Expect.isFalse a.IsFloat32 "not the zero-copy little-endian path"
        Expect.sequenceEqual (a.ToDoubleArray()) [| 1.0; -2.0; 0.5; 3.25 |] "values as doubles")
    }

    test "a file written here equals NumPy's np.save output byte for byte (Npy.Write and NpyAppendWriter)" {
      withTempDir "npy-write" (fun dir ->
        let p1 = Path.Combine(dir, "write.npy")
        Npy.Write(p1, ReadOnlySpan(Array.init 12 float32), ReadOnlySpan [| 3L; 4L |])
        Expect.sequenceEqual (File.ReadAllBytes p1) (numpyBytes "f4_3x4") "Npy.Write"
        let p2 = Path.Combine(dir, "append.npy")
        do
          use w = new NpyAppendWriter(p2, ReadOnlySpan [| 4 |])
          for r in 0 .. 2 do w.Append(span (Array.init 4 (fun i -> float32 (4 * r + i))))
        Expect.sequenceEqual (File.ReadAllBytes p2) (numpyBytes "f4_3x4") "NpyAppendWriter rows of [4]"
        let p3 = Path.Combine(dir, "scalar.npy")
        do
          use w = new NpyAppendWriter(p3, ReadOnlySpan<int>([||]))
          for x in [ 1.5f; numpyNaN; infinityf; -infinityf; -0.0f ] do w.Append(x)
        Expect.sequenceEqual (File.ReadAllBytes p3) (numpyBytes "f4_nonfinite") "NpyAppendWriter scalars, NaN/±inf/-0 kept")
    }
  ]

// ---------------------------------------------------------------------------------------------

let private rejectionTests =
  let f4 = numpyBytes "f4_3x4"
  let patch (bytes: byte[]) (find: string) (replace: string) =
    // same-length text substitution inside the header
    if find.Length <> replace.Length then failwith "test bug: patch must keep the length"
    let s = Encoding.Latin1.GetString bytes
    let i = s.IndexOf(find, StringComparison.Ordinal)
    if i < 0 then failwithf "test bug: '%s' not in header" find
    let b = Array.copy bytes
    Encoding.Latin1.GetBytes(replace).CopyTo(b, i)
    b
  testList "Npy rejections name the file and the problem" [
    // (case, file bytes, words the message must contain besides the path)
    let cases = [
      "foreign file (zip/.npz)", Array.append "PK\003\004"B (Array.zeroCreate 200), [ "not a NumPy .npy file"; "504B0304"; "npz" ]
      "foreign file (JSON text)", Encoding.ASCII.GetBytes """{"format": "x"}""", [ "not a NumPy .npy file"; "JSON" ]
      "foreign file (pickle)", Array.append [| 0x80uy; 3uy |] (Array.zeroCreate 20), [ "not a NumPy .npy file"; "pickle" ]
      "empty file", [||], [ "truncated header"; "empty" ]
      "cut inside the magic", f4[.. 3], [ "truncated header"; "magic" ]
      "cut inside the preamble", f4[.. 8], [ "truncated header"; "preamble" ]
      "unsupported version 4.0", Array.concat [ f4[.. 5]; [| 4uy; 0uy |]; f4[8..] ], [ "unsupported NPY format version 4.0" ]
      "truncated header", f4[.. 60], [ "truncated header"; "118-byte header" ]
      "object dtype (pickle inside)", numpyBytes "object", [ "'|O'"; "object"; "never unpickles" ]
      "structured dtype", numpyBytes "structured", [ "structured"; "unsupported dtype" ]
      "complex dtype", numpyBytes "c8", [ "'<c8'"; "complex" ]
      "float16 dtype", patch f4 "'<f4'" "'<f2'", [ "'<f2'"; "unsupported dtype" ]
      "Fortran order 2×3", numpyBytes "f4_fortran_2x3", [ "Fortran-order"; "(2, 3)"; "ascontiguousarray" ]
      "data shorter than the shape (truncated)", f4[.. f4.Length - 5], [ "truncated data"; "(3, 4)"; "48 bytes"; "holds only 44"; "2 of 3 complete rows" ]
      "header claims more rows than written", patch f4 "(3, 4)" "(9, 4)", [ "truncated data"; "(9, 4)" ]
      "malformed dict: misspelt key", patch f4 "'shape'" "'shope'", [ "malformed header"; "missing 'shape'"; "unexpected 'shope'" ]
      "malformed dict: not a dict", patch f4 "{'descr'" "['descr'", [ "malformed header"; "dict" ]
      "malformed dict: unterminated string", patch f4 "'<f4'," "'<f4  ", [ "malformed header" ]
      "malformed dict: shape not a tuple of ints", patch f4 "(3, 4)" "(3, x)", [ "malformed header" ]
      "malformed dict: shape is an int, (3) is not a tuple", patch f4 "(3, 4)" "(3)   ", [ "malformed header"; "shape must be a tuple" ]
      "malformed dict: negative dimension", patch f4 "(3, 4)" "(-3,4)", [ "malformed header"; "negative" ]
      "malformed dict: fortran_order not a bool", patch f4 "False" "0    ", [ "malformed header"; "fortran_order" ]
      "malformed dict: Python call (never evaluated)", patch f4 "False" "eval(", [ "malformed header" ] ]
    for (name, bytes, words) in cases do
      test name {
        withTempDir "npy-bad" (fun dir ->
          let path = writeBytes dir "bad.npy" bytes
          expectThrowsWith<NpyFormatException> (fun () -> (NpyArray.Open path).Dispose()) (path :: words) name)
      }
    test "a missing file is FileNotFoundException naming it" {
      withTempDir "npy-bad" (fun dir ->
        let path = Path.Combine(dir, "nothing.npy")
        expectThrowsWith<FileNotFoundException> (fun () -> (NpyArray.Open path).Dispose()) [ path ] "missing")
    }
    test "bytes after the announced data are ignored (rows written but not yet announced)" {
      withTempDir "npy-trailing" (fun dir ->
        let path = writeBytes dir "t.npy" (Array.append (patch f4 "(3, 4)" "(2, 4)") [||])
        use a = NpyArray.Open path
        Expect.sequenceEqual a.Shape [ 2L; 4L ] "shape from the header"
        Expect.equal a.TrailingBytes 16L "one unannounced row of 4 floats"
        expectBitsEqual (a.ToFloatArray()) (Array.init 8 float32) "announced rows")
    }
  ]

// ---------------------------------------------------------------------------------------------
// Trace round trip

/// Deterministic values with NaN, ±inf and -0 sprinkled in (no randomness needed to find them).
let private valueAt (t: int) (i: int) =
  match (t * 7919 + i * 104729) % 997 with
  | 0 -> nanf
  | 1 -> infinityf
  | 2 -> -infinityf
  | 3 -> -0.0f
  | k -> float32 (sin (float t * 0.37 + float i * 0.011)) * float32 k * 1e-3f

let private roundTripTests =
  testList "Trace round trip" [
    test "written and read back equal, NaN/±inf bit-exact and counted in the manifest" {
      withTempDir "trace-rt" (fun dir ->
        let run = JsonObject()
        run["model"] <- JsonValue.Create "MLP 784-512-512-10 ReLU"
        run["optimizer"] <- JsonObject(dict [ "name", (JsonValue.Create "Adam" :> JsonNode); "lr", JsonValue.Create 1e-3 ])
        let iterations = 23
        let block = Array.init iterations (fun t -> Array.init 5120 (valueAt t))
        let loss = Array.init iterations (fun t -> if t = 4 then nanf elif t = 9 then infinityf else float32 t * 0.25f)
        let every5 = [| for t in 3 .. 5 .. iterations - 1 -> Array.init 6 (fun i -> float32 (t * 10 + i)) |]
        do
          use w = TraceWriter.Create(dir, run, flushEvery = 4)
          let g = w.AddSeries("fc3.weight.grad", "gradient", [| 10; 512 |], source = "fc3.weight", slice = "[0:10, 0:512]",
                              description = "gradient block")
          let l = w.AddScalar("loss")
          let p = w.AddSeries("fc2.bias", "parameter", [| 2; 3 |], firstIteration = 3L, every = 5)
          for t in 0 .. iterations - 1 do
            w.Append(g, int64 t, span block[t])
            w.Append(l, int64 t, loss[t])
            if t >= 3 && (t - 3) % 5 = 0 then w.Append(p, int64 t, span every5[(t - 3) / 5])
          w.Complete()
        use r = TraceReader.Open dir
        Expect.equal r.Status "complete" "status"
        Expect.equal (r.Run["model"].GetValue<string>()) "MLP 784-512-512-10 ReLU" "run object kept"
        Expect.equal (r.Run["optimizer"].["lr"].GetValue<float>()) 1e-3 "nested run object kept"
        Expect.equal r.IterationsOnDisk (Nullable 23L) "iterations on disk"
        Expect.sequenceEqual (r.Series |> Seq.map _.Name) [ "fc3.weight.grad"; "loss"; "fc2.bias" ] "series in order"
        let g = r["fc3.weight.grad"]
        Expect.equal (g.Kind, g.Source, g.Slice, g.Dtype) ("gradient", "fc3.weight", "[0:10, 0:512]", "<f4") "metadata"
        Expect.sequenceEqual g.RowShape [ 10; 512 ] "row shape"
        Expect.equal g.Iterations 23L "rows"
        expectBitsEqual (g.ReadAll()) (Array.concat block) "ReadAll"
        for t in [ 0; 7; 22 ] do expectBitsEqual (g.ReadIteration(int64 t)) block[t] $"ReadIteration {t}"
        for i in [ 0; 511; 512; 5119 ] do
          expectBitsEqual (g.ReadWeightSeries i) (Array.init iterations (fun t -> block[t][i])) $"ReadWeightSeries {i}"
        let wm = g.ReadWeightMajor()
        Expect.equal wm.Length 5120 "one series per weight"
        for i in 0 .. 5119 do expectBitsEqual wm[i] (Array.init iterations (fun t -> block[t][i])) $"ReadWeightMajor {i}"
        expectBitsEqual (g.ReadWeightMajorFlat()) (Array.concat wm) "ReadWeightMajorFlat is the flat transpose"
        // positioned reads of the file: a range of values, and blocks of weights over all rows (iteration-major)
        let part = Array.zeroCreate<float32> 7000
        g.ReadFromFile(5000L, Span part)
        expectBitsEqual part (Array.concat block).[5000 .. 11999] "ReadFromFile 5000..11999"
        for first, count in [ 0, 5120; 0, 1; 509, 7; 5113, 7; 1000, 0 ] do
          let cols = Array.zeroCreate<float32> (iterations * count)
          g.ReadColumnsFromFile(first, count, Span cols)
          expectBitsEqual cols (Array.init (iterations * count) (fun k -> block[k / count][first + k % count])) $"ReadColumnsFromFile {first}+{count}"
        let e = Expect.throwsC (fun () -> g.ReadColumnsFromFile(5115, 6, Span(Array.zeroCreate<float32> (6 * iterations)))) id
        Expect.isTrue (e :? ArgumentOutOfRangeException) "columns past the row"
        Expect.stringContains e.Message "inside [0, 5120)" "message names the row's range"
        let e = Expect.throwsC (fun () -> g.ReadColumnsFromFile(0, 6, Span(Array.zeroCreate<float32> 5))) id
        Expect.isTrue (e :? ArgumentException) "destination too short"
        let e = Expect.throwsC (fun () -> g.ReadFromFile(int64 (iterations * 5120 - 3), Span(Array.zeroCreate<float32> 4))) id
        Expect.isTrue (e :? ArgumentOutOfRangeException) "a range past the readable rows"
        let expectedNf = nonFiniteOf (Seq.concat block)
        Expect.isGreaterThan expectedNf.NaN 0L "the data has NaNs"
        Expect.isGreaterThan expectedNf.PositiveInfinity 0L "the data has +inf"
        Expect.isGreaterThan expectedNf.NegativeInfinity 0L "the data has -inf"
        Expect.equal g.NonFinite (Nullable expectedNf) "manifest counts"
        Expect.equal (g.CountNonFinite()) expectedNf "scan counts"
        let l = r["loss"]
        Expect.sequenceEqual l.RowShape [] "scalar row shape"
        expectBitsEqual (l.ReadAll()) loss "loss"
        Expect.equal l.NonFinite (Nullable(NonFiniteCount(1L, 1L, 0L))) "loss non-finite counts"
        let p = r["fc2.bias"]
        Expect.equal (p.FirstIteration, p.Every, p.Iterations) (3L, 5, 4L) "stride"
        Expect.sequenceEqual (p.IterationNumbers()) [ 3L; 8L; 13L; 18L ] "iteration numbers"
        expectBitsEqual (p.ReadIteration 13L) every5[2] "ReadIteration on a strided series"
        let e = Expect.throwsC (fun () -> p.ReadIteration 14L |> ignore) id
        Expect.isTrue (e :? ArgumentOutOfRangeException) "an unrecorded iteration is out of range"
        // the .npy files are what numpy.load would see
        use a = NpyArray.Open(Path.Combine(dir, "fc3.weight.grad.npy"))
        Expect.sequenceEqual a.Shape [ 23L; 10L; 512L ] "npy shape")
    }

    test "round trip over seeded random shapes and values (bit patterns, including NaN payloads)" {
      let rng = Random(20240611)
      for case in 1 .. 25 do
        withTempDir "trace-prop" (fun dir ->
          let rank = rng.Next(0, 4)
          let rowShape = Array.init rank (fun _ -> rng.Next(1, 7))
          let rowSize = Array.fold (*) 1 rowShape
          let rows = rng.Next(0, 30)
          let data = Array.init rows (fun _ -> Array.init rowSize (fun _ -> BitConverter.Int32BitsToSingle(rng.Next(Int32.MinValue, Int32.MaxValue))))
          let flushEvery = rng.Next(1, 6)
          do
            use w = TraceWriter.Create(dir, flushEvery = flushEvery)
            let s = w.AddSeries("s", "parameter", rowShape)
            for t in 0 .. rows - 1 do w.Append(s, int64 t, span data[t])
            if case % 2 = 0 then w.Complete() // odd cases are only disposed: "incomplete", all rows flushed
          use r = TraceReader.Open dir
          Expect.equal r.IsComplete (case % 2 = 0) $"case {case}: status"
          let s = r["s"]
          Expect.sequenceEqual s.RowShape rowShape $"case {case}: row shape"
          expectBitsEqual (s.ReadAll()) (Array.concat data) $"case {case}: ReadAll"
          let expectedMajor = Array.init rowSize (fun i -> Array.init rows (fun t -> data[t][i]))
          let major = s.ReadWeightMajor()
          for i in 0 .. rowSize - 1 do expectBitsEqual major[i] expectedMajor[i] $"case {case}: weight {i}"
          let first = rng.Next(0, rowSize)
          let count = rng.Next(0, rowSize - first + 1)
          let cols = Array.zeroCreate<float32> (rows * count)
          s.ReadColumnsFromFile(first, count, Span cols)
          expectBitsEqual cols (Array.init (rows * count) (fun k -> data[k / count][first + k % count])) $"case {case}: columns {first}+{count}"
          Expect.equal s.NonFinite (Nullable(nonFiniteOf (Seq.concat data))) $"case {case}: counts")
    }

    test "rows flushed after the manifest of an incomplete run: the manifest's count is used" {
      withTempDir "trace-extra" (fun dir ->
        do
          use w = TraceWriter.Create(dir, flushEvery = 100)
          let s = w.AddScalar("x")
          for t in 0 .. 9 do w.Append(s, int64 t, float32 t)
        // simulate "npy flushed, killed before the manifest": announce 10 rows in the manifest's place of 6
        let mpath = Path.Combine(dir, "manifest.json")
        let m = JsonNode.Parse(File.ReadAllText mpath).AsObject()
        m["series"].[0].["iterations"] <- JsonValue.Create 6
        File.WriteAllText(mpath, m.ToJsonString())
        use r = TraceReader.Open dir
        Expect.equal r.Status "incomplete" "status"
        Expect.equal r["x"].Iterations 6L "manifest count wins"
        expectBitsEqual (r["x"].ReadAll()) (Array.init 6 float32) "first 6 rows"
        let six = Array.zeroCreate<float32> 6
        r["x"].ReadColumnsFromFile(0, 1, Span six)
        expectBitsEqual six (Array.init 6 float32) "positioned reads stop at the manifest's count too"
        let e = Expect.throwsC (fun () -> r["x"].ReadFromFile(0L, Span(Array.zeroCreate<float32> 7))) id
        Expect.isTrue (e :? ArgumentOutOfRangeException) "the 7th row is not readable")
    }
  ]

// ---------------------------------------------------------------------------------------------

let private writerErrorTests =
  let expectArg (f: unit -> unit) param (parts: string list) msg =
    let e = Expect.throwsC f id
    match e with
    | :? ArgumentException as a ->
      Expect.equal a.ParamName param $"{msg}: parameter name"
      for p in parts do Expect.stringContains a.Message p $"{msg}: message \"{a.Message}\" should contain \"{p}\""
    | e -> failtestf "%s: expected ArgumentException, got %s: %s" msg (e.GetType().Name) e.Message
  testList "Trace writer caller errors" [
    test "wrong row length names 'row', the expected and the received length" {
      withTempDir "trace-err" (fun dir ->
        use w = TraceWriter.Create dir
        let s = w.AddSeries("g", "gradient", [| 10; 512 |])
        expectArg (fun () -> w.Append(s, 0L, span (Array.zeroCreate 5119))) "row" [ "5120"; "5119"; "\"g\"" ] "row length")
    }
    test "an iteration gap or a repeated iteration names 'iteration', the expected and the received" {
      withTempDir "trace-err" (fun dir ->
        use w = TraceWriter.Create dir
        let s = w.AddScalar("loss", firstIteration = 0L)
        w.Append(s, 0L, 1.0f)
        w.Append(s, 1L, 1.0f)
        expectArg (fun () -> w.Append(s, 1L, 1.0f)) "iteration" [ "expected iteration 2"; "got 1"; "increase" ] "repeat"
        expectArg (fun () -> w.Append(s, 5L, 1.0f)) "iteration" [ "expected iteration 2"; "got 5"; "gaps" ] "gap")
    }
    test "duplicate series name, bad kind, bad stride, bad flushEvery" {
      withTempDir "trace-err" (fun dir ->
        expectArg (fun () -> (TraceWriter.Create(Path.Combine(dir, "x"), flushEvery = 0)).Dispose()) "flushEvery" [ "got 0" ] "flushEvery"
        use w = TraceWriter.Create(Path.Combine(dir, "y"))
        w.AddScalar("loss") |> ignore
        expectArg (fun () -> w.AddScalar("loss") |> ignore) "name" [ "\"loss\""; "already" ] "duplicate"
        expectArg (fun () -> w.AddSeries("a", "", [| 1 |]) |> ignore) "kind" [ "gradient" ] "kind"
        expectArg (fun () -> w.AddSeries("b", "gradient", [| 1 |], every = 0) |> ignore) "every" [ "got 0" ] "every"
        expectArg (fun () -> w.AddSeries("c", "gradient", [| 2; -1 |]) |> ignore) "rowShape" [ "-1" ] "row shape")
    }
    test "series names with path characters get safe, distinct file names" {
      withTempDir "trace-names" (fun dir ->
        do
          use w = TraceWriter.Create dir
          let a = w.AddScalar("../evil/name")
          let b = w.AddScalar("_evil/name")
          Expect.equal a.File "_evil_name.npy" "sanitised, leading dots dropped"
          Expect.equal b.File "_evil_name-2.npy" "made distinct"
          w.Complete()
        Expect.sequenceEqual (Directory.GetFiles dir |> Array.map Path.GetFileName |> Array.sort)
          [ "_evil_name-2.npy"; "_evil_name.npy"; "manifest.json" ] "nothing outside the run directory")
    }
    test "an existing non-empty run is refused unless overwrite; overwrite never deletes a non-trace directory" {
      withTempDir "trace-over" (fun dir ->
        do
          use w = TraceWriter.Create dir
          w.AddScalar("a") |> ignore
          w.Complete()
        expectArg (fun () -> (TraceWriter.Create dir).Dispose()) "directory" [ dir; "overwrite" ] "refused"
        do
          use w = TraceWriter.Create(dir, overwrite = true)
          w.AddScalar("b") |> ignore
          w.Complete()
        use r = TraceReader.Open dir
        Expect.sequenceEqual (r.Series |> Seq.map _.Name) [ "b" ] "replaced"
        let other = Path.Combine(dir, "other")
        Directory.CreateDirectory other |> ignore
        File.WriteAllText(Path.Combine(other, "notes.txt"), "keep me")
        expectArg (fun () -> (TraceWriter.Create(other, overwrite = true)).Dispose()) "directory" [ "no manifest"; "refusing" ] "not a trace"
        Expect.isTrue (File.Exists(Path.Combine(other, "notes.txt"))) "untouched")
    }
    test "appending after Complete is an InvalidOperationException" {
      withTempDir "trace-err" (fun dir ->
        use w = TraceWriter.Create dir
        let s = w.AddScalar("loss")
        w.Complete()
        expectThrowsWith<InvalidOperationException> (fun () -> w.Append(s, 0L, 1.0f)) [ "complete" ] "after complete")
    }
  ]

// ---------------------------------------------------------------------------------------------

/// Writes a small valid complete trace: series "g" (rows [2, 3], 4 iterations) and scalar "loss".
let private writeSmallTrace dir =
  use w = TraceWriter.Create dir
  let g = w.AddSeries("g", "gradient", [| 2; 3 |])
  let l = w.AddScalar("loss")
  for t in 0 .. 3 do
    w.Append(g, int64 t, span (Array.init 6 (fun i -> float32 (t * 10 + i))))
    w.Append(l, int64 t, float32 t)
  w.Complete()

let private editManifest dir (edit: JsonObject -> unit) =
  let p = Path.Combine(dir, "manifest.json")
  let m = JsonNode.Parse(File.ReadAllText p).AsObject()
  edit m
  File.WriteAllText(p, m.ToJsonString())

let private readerRejectionTests =
  let manifestOf dir = Path.Combine(dir, "manifest.json")
  let npyOf dir name = Path.Combine(dir, name)
  testList "Trace reader rejections name the file and the problem" [
    // (case, how to break a valid trace, which file the message must name, words it must contain)
    let cases : (string * (string -> unit) * (string -> string) * string list) list = [
      "missing manifest", (fun d -> File.Delete(manifestOf d)), manifestOf, [ "missing"; "not a research trace" ]
      "manifest not JSON", (fun d -> File.WriteAllText(manifestOf d, "format: research-trace")), manifestOf, [ "not valid JSON" ]
      "foreign JSON (array)", (fun d -> File.WriteAllText(manifestOf d, "[1, 2]")), manifestOf, [ "expected a JSON object"; "array" ]
      "foreign JSON (no format)", (fun d -> File.WriteAllText(manifestOf d, """{"name": "package.json"}""")), manifestOf, [ "no \"format\""; "research-trace" ]
      "wrong format name", (fun d -> editManifest d (fun m -> m["format"] <- JsonValue.Create "other-trace")), manifestOf, [ "\"other-trace\""; "another tool" ]
      "wrong version", (fun d -> editManifest d (fun m -> m["version"] <- JsonValue.Create 2)), manifestOf, [ "unsupported trace version 2"; "version 1" ]
      "missing version", (fun d -> editManifest d (fun m -> m.Remove "version" |> ignore)), manifestOf, [ "no \"version\"" ]
      "bad status", (fun d -> editManifest d (fun m -> m["status"] <- JsonValue.Create "done")), manifestOf, [ "\"done\""; "incomplete" ]
      "no series list", (fun d -> editManifest d (fun m -> m.Remove "series" |> ignore)), manifestOf, [ "no \"series\"" ]
      "series without file", (fun d -> editManifest d (fun m -> m["series"].[0].AsObject().Remove "file" |> ignore)), manifestOf, [ "series \"g\""; "\"file\"" ]
      "series file outside the directory", (fun d -> editManifest d (fun m -> m["series"].[0].["file"] <- JsonValue.Create "../g.npy")), manifestOf, [ "'..'" ]
      "duplicate series name", (fun d -> editManifest d (fun m -> m["series"].[1].["name"] <- JsonValue.Create "g")), manifestOf, [ "\"g\" appears twice" ]
      "series file missing", (fun d -> File.Delete(npyOf d "loss.npy")), (fun d -> npyOf d "loss.npy"), [ "missing"; "series \"loss\"" ]
      "dtype differs", (fun d -> editManifest d (fun m -> m["series"].[0].["dtype"] <- JsonValue.Create "<f8")), (fun d -> npyOf d "g.npy"), [ "'<f8'"; "'<f4'" ]
      "row shape differs", (fun d -> editManifest d (fun m -> m["series"].[0].["row_shape"] <- JsonArray(JsonValue.Create 3, JsonValue.Create 2))), (fun d -> npyOf d "g.npy"), [ "row shape [3, 2]"; "(4, 2, 3)" ]
      "complete run, manifest count differs", (fun d -> editManifest d (fun m -> m["series"].[1].["iterations"] <- JsonValue.Create 3)), (fun d -> npyOf d "loss.npy"), [ "complete run"; "3 iterations"; "holds 4" ]
      "incomplete run, manifest claims more than the file", (fun d -> editManifest d (fun m -> m["status"] <- JsonValue.Create "incomplete"; m["series"].[1].["iterations"] <- JsonValue.Create 5)), (fun d -> npyOf d "loss.npy"), [ "5 iterations"; "only 4" ]
      "series file truncated", (fun d -> let p = npyOf d "g.npy" in File.WriteAllBytes(p, (File.ReadAllBytes p)[.. 150])), (fun d -> npyOf d "g.npy"), [ "truncated data" ]
      "series file foreign", (fun d -> File.WriteAllText(npyOf d "g.npy", "hello")), (fun d -> npyOf d "g.npy"), [ "not a NumPy .npy file" ]
      "series file 0-d", (fun d -> Npy.Write(npyOf d "g.npy", ReadOnlySpan [| 1.0f |], ReadOnlySpan<int64>([||]))), (fun d -> npyOf d "g.npy"), [ "0-d" ]
      "bad non_finite entry", (fun d -> editManifest d (fun m -> m["series"].[0].["non_finite"] <- JsonValue.Create 3)), manifestOf, [ "non_finite" ] ]
    for (name, breakIt, file, words) in cases do
      test name {
        withTempDir "trace-bad" (fun dir ->
          writeSmallTrace dir
          breakIt dir
          let e = Expect.throwsC (fun () -> (TraceReader.Open dir).Dispose()) id
          match e with
          | :? TraceFormatException | :? NpyFormatException ->
            for p in file dir :: words do
              Expect.stringContains e.Message p $"{name}: message \"{e.Message}\" should contain \"{p}\""
          | e -> failtestf "%s: expected TraceFormatException or NpyFormatException, got %s: %s" name (e.GetType().Name) e.Message)
      }
    test "a missing directory is DirectoryNotFoundException naming it" {
      let d = Path.Combine(Path.GetTempPath(), "research-trace-tests", "does-not-exist-" + Guid.NewGuid().ToString "N")
      expectThrowsWith<DirectoryNotFoundException> (fun () -> (TraceReader.Open d).Dispose()) [ d ] "missing dir"
    }
    test "an unknown series name lists the names there are" {
      withTempDir "trace-bad" (fun dir ->
        writeSmallTrace dir
        use r = TraceReader.Open dir
        expectThrowsWith<ArgumentException> (fun () -> r["nope"] |> ignore) [ "\"nope\""; "\"g\""; "\"loss\"" ] "unknown name")
    }
  ]

// ---------------------------------------------------------------------------------------------

let private minimalManifestTests =
  testList "Minimal manifest (a trace written with NumPy)" [
    test "format + version + series name/file opens; everything else comes from the .npy headers" {
      withTempDir "trace-min" (fun dir ->
        writeBytes dir "w.npy" (numpyBytes "f4_3x4") |> ignore
        writeBytes dir "lr.npy" (numpyBytes "f8_1d") |> ignore
        File.WriteAllText(Path.Combine(dir, "manifest.json"),
          """{ "format": "research-trace", "version": 1,
               "series": [ { "name": "w", "file": "w.npy" }, { "name": "lr", "file": "lr.npy" } ] }""")
        use r = TraceReader.Open dir
        Expect.equal r.Status "complete" "status defaults to complete"
        Expect.equal r.Run.Count 0 "no run object: empty"
        let w = r["w"]
        Expect.equal (w.Kind, w.Source, w.Slice, w.Dtype) (null, null, null, "<f4") "metadata inferred/absent"
        Expect.sequenceEqual w.RowShape [ 4 ] "row shape from the header"
        Expect.equal (w.Iterations, w.FirstIteration, w.Every) (3L, 0L, 1) "iterations, first, every"
        Expect.isFalse w.NonFinite.HasValue "no counts in the manifest"
        expectBitsEqual (w.ReadIteration 2L) [| 8.0f; 9.0f; 10.0f; 11.0f |] "row 2"
        expectBitsEqual (w.ReadWeightSeries 1) [| 1.0f; 5.0f; 9.0f |] "weight 1"
        let lr = r["lr"]
        Expect.equal lr.Dtype "<f8" "float64 accepted"
        Expect.sequenceEqual lr.RowShape [] "scalar series"
        expectBitsEqual (lr.ReadAll()) [| float32 0.1; -2.5f; infinityf |] "converted to float32 (1e300 overflows to +inf)"
        Expect.equal (lr.CountNonFinite()) (NonFiniteCount(0L, 1L, 0L)) "scan counts the overflow")
    }
  ]

// ---------------------------------------------------------------------------------------------
// SIGKILL: a child process (tests/TraceCrashChild) appends to a trace with a flush every 2
// iterations until it is killed; the trace must open as "incomplete" with the flushed rows.

let private childDll () =
  match Environment.GetEnvironmentVariable "TRACE_CRASH_CHILD_DLL" with
  | p when not (String.IsNullOrEmpty p) -> p
  | _ ->
    // <repo>/tests/Research.Core.Tests/bin/<Configuration>/<tfm>/ → <repo>/tests/TraceCrashChild/bin/<Configuration>/<tfm>/
    let tfm = DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))
    let config = tfm.Parent
    let testsDir = config.Parent.Parent.Parent
    Path.Combine(testsDir.FullName, "TraceCrashChild", "bin", config.Name, tfm.Name, "TraceCrashChild.dll")

let private dotnetHost () =
  let p = Environment.ProcessPath
  if not (isNull p) && Path.GetFileNameWithoutExtension p = "dotnet" then p else "dotnet"

let private childValue (t: int64) (i: int) = float32 (t * 1000L + int64 i)
let private childLoss (t: int64) =
  if t % 7L = 3L then nanf elif t % 11L = 5L then infinityf elif t % 13L = 6L then -infinityf else float32 t * 0.5f

let private sigkillTests =
  testList "SIGKILL" [
    test "a child killed with SIGKILL while capturing leaves a readable incomplete trace with the flushed iterations" {
      let dll = childDll ()
      if not (File.Exists dll) then
        failtestf "the helper %s is not built; build tests/TraceCrashChild (it is a build dependency of this test project)" dll
      withTempDir "trace-kill" (fun parent ->
        let dir = Path.Combine(parent, "run")
        let psi = ProcessStartInfo(dotnetHost (), [ dll; dir; "2"; "100000" ])
        psi.UseShellExecute <- false
        psi.RedirectStandardError <- true
        psi.RedirectStandardOutput <- true
        use child = Process.Start psi
        let err = StringBuilder()
        child.ErrorDataReceived.Add(fun a -> if not (isNull a.Data) then lock err (fun () -> err.AppendLine a.Data |> ignore))
        child.OutputDataReceived.Add ignore
        child.BeginErrorReadLine()
        child.BeginOutputReadLine()
        let wanted = 50L
        use _killOnExit = { new IDisposable with member _.Dispose() = if not child.HasExited then child.Kill() }
        let onDisk () =
          try
            let m = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))
            m["iterations_on_disk"].GetValue<int64>()
          with
          | :? FileNotFoundException | :? DirectoryNotFoundException | :? System.Text.Json.JsonException -> 0L
        // wait for progress, not for a time: the deadline only guards against a hung child
        let deadline = Stopwatch.StartNew()
        while onDisk () < wanted && not child.HasExited && deadline.Elapsed < TimeSpan.FromMinutes 2.0 do
          Threading.Thread.Sleep 10
        if child.HasExited then
          failtestf "the child exited (code %d) before being killed: %s" child.ExitCode (lock err (fun () -> err.ToString()))
        child.Kill() // SIGKILL on Linux
        child.WaitForExit()
        if onDisk () < wanted then failtestf "the child made no progress in 2 minutes: %s" (lock err (fun () -> err.ToString()))

        use r = TraceReader.Open dir
        Expect.equal r.Status "incomplete" "status"
        let n = r.IterationsOnDisk.Value
        Expect.isGreaterThanOrEqual n wanted "iterations on disk"
        let block = r["block"]
        let loss = r["loss"]
        Expect.equal block.Iterations n "block rows = iterations on disk"
        Expect.equal loss.Iterations n "loss rows = iterations on disk (flushes cut at iteration boundaries)"
        let all = block.ReadAll()
        let expected = Array.init (int n * 64) (fun k -> childValue (int64 (k / 64)) (k % 64))
        expectBitsEqual all expected "every flushed block row equals what the child wrote"
        let losses = Array.init (int n) (fun t -> childLoss (int64 t))
        expectBitsEqual (loss.ReadAll()) losses "every flushed loss equals what the child wrote"
        Expect.equal loss.NonFinite (Nullable(nonFiniteOf losses)) "non-finite counts over the flushed rows"
        Expect.equal (loss.CountNonFinite()) (nonFiniteOf losses) "scan agrees"
        use raw = NpyArray.Open(Path.Combine(dir, "block.npy"))
        Expect.isGreaterThanOrEqual raw.Shape[0] n "the .npy header announces at least the manifest's rows")
    }
  ]

[<Tests>]
let traceTests =
  testList "Traces" [
    headerTests
    readNumpyTests
    rejectionTests
    roundTripTests
    writerErrorTests
    readerRejectionTests
    minimalManifestTests
    sigkillTests
  ]
