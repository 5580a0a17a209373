/// Helpers shared by the Analysis tests: tolerant comparisons, error-message checks, FsCheck config.
module Research.Analysis.Tests.Support

open System
open System.IO
open Expecto
open FsCheck

/// Skips the calling test when no Chromium is installed, and fails it on CI, where .ci/run installs one.
let requireBrowser () =
    if (Research.Analysis.BrowserCheck.tryFindBrowser ()).IsNone then
        if Environment.GetEnvironmentVariable "CI" = "true" then failtest "CI: .ci/run should have installed chromium"
        skiptest "Chromium not installed (.ci/run installs Debian's chromium)"

/// |actual − expected| ≤ tol, with both values in the failure message.
let close (tol: float) (what: string) (expected: float) (actual: float) =
    let d = abs (actual - expected)
    if not (d <= tol) then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g > %.3g)" what expected actual d tol

/// |actual − expected| ≤ tol·|expected| (relative).
let closeRel (tol: float) (what: string) (expected: float) (actual: float) =
    let d = abs (actual - expected)
    if not (d <= tol * abs expected) then
        failtestf "%s: expected %.17g, got %.17g (relative diff %.3g > %.3g)" what expected actual (d / abs expected) tol

/// Element-wise `close` over two arrays of the same length.
let allClose (tol: float) (what: string) (expected: float[]) (actual: float[]) =
    Expect.equal actual.Length expected.Length $"{what}: length"
    for i in 0 .. expected.Length - 1 do
        close tol $"{what}[{i}]" expected.[i] actual.[i]

/// Asserts that `f` raises an ArgumentException whose ParamName is `param` and whose message
/// contains every fragment (case-insensitive).
let throwsArg (param: string) (fragments: string list) (f: unit -> 'a) =
    let ex =
        try
            f () |> ignore
            None
        with :? ArgumentException as e -> Some e
    match ex with
    | None -> failtestf "expected an ArgumentException for '%s', none was raised" param
    | Some e ->
        Expect.equal e.ParamName param $"ParamName (message: {e.Message})"
        for frag in fragments do
            Expect.stringContains (e.Message.ToLowerInvariant()) (frag.ToLowerInvariant()) $"message names the problem: {e.Message}"

/// FsCheck configuration with a fixed replay seed: the same cases on every run.
let propertyConfig (maxTest: int) =
    Config.QuickThrowOnFailure
        .WithReplay(Some { Rnd = FsCheck.Rnd(20240611UL, 0x9E3779B97F4A7C15UL); Size = None })
        .WithMaxTest(maxTest)
        .WithQuietOnSuccess(true)

/// Runs an FsCheck property with the fixed replay seed; fails the Expecto test on a counterexample.
let checkProperty (name: string) (maxTest: int) (property: Property) =
    Check.One(name, propertyConfig maxTest, property)

/// A file under tests/Research.Analysis.Tests/reference (copied next to the test assembly).
let localReference (file: string) =
    Path.Combine(AppContext.BaseDirectory, "reference", file)

/// A new empty folder under the system's temporary folder, named prefix-<guid>.
let tempDirectory (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

/// One case of a reference file as the tests read it: Ok with the parsed case, or Error with where
/// it is in the file and why it cannot be run (which becomes one failing test, never an exception
/// while the test list is built).
type ReferenceCase<'T> = Result<'T, string * string>

/// Every case of the array <paramref name="arrayName"/> of a parsed reference file, each parsed on
/// its own by <paramref name="parse"/> (index, element). A case that cannot be parsed is an Error
/// naming it (by its "name" or "id" if it has one, else its index) and the reason; a file that
/// cannot be read, or has no such array, is one Error.
let referenceCases (file: string) (load: unit -> Text.Json.JsonElement) (arrayName: string)
                   (parse: int -> Text.Json.JsonElement -> 'T) : ReferenceCase<'T> list =
    let label (i: int) (e: Text.Json.JsonElement) =
        let field (k: string) =
            match e.ValueKind, (if e.ValueKind = Text.Json.JsonValueKind.Object then e.TryGetProperty k else (false, e)) with
            | Text.Json.JsonValueKind.Object, (true, v) when v.ValueKind = Text.Json.JsonValueKind.String -> Some(v.GetString())
            | Text.Json.JsonValueKind.Object, (true, v) when v.ValueKind = Text.Json.JsonValueKind.Number -> Some(v.GetRawText())
            | _ -> None
        match field "name" |> Option.orElse (field "id") with
        | Some n -> $"{file} {arrayName}[{i}] ({n})"
        | None -> $"{file} {arrayName}[{i}]"
    try
        let root = load ()
        match root.TryGetProperty arrayName with
        | true, a when a.ValueKind = Text.Json.JsonValueKind.Array ->
            [ for i, e in Seq.indexed (a.EnumerateArray()) ->
                try Ok(parse i e) with ex -> Error(label i e, ex.Message) ]
        | _ -> [ Error(file, $"has no array '{arrayName}'") ]
    with ex -> [ Error(file, $"cannot be read: {ex.Message}") ]

/// The tests of every case: <paramref name="tests"/> for each case that parsed, one failing test
/// saying why for each that did not.
let testCases (cases: ReferenceCase<'T> list) (tests: 'T -> Test list) : Test list =
    [ for c in cases do
        match c with
        | Ok case -> yield! tests case
        | Error(where, why) -> yield testCase $"{where}: cannot be run" <| fun () -> failtestf "%s: %s" where why ]

/// The cases that parsed (for tests that use all of them at once).
let parsedCases (cases: ReferenceCase<'T> list) : 'T list =
    cases |> List.choose (function Ok c -> Some c | Error _ -> None)

/// An optional property of a reference case, required by one test: its value, or a failure naming
/// the case and the property (inside that test only).
let requireProp (case: string) (name: string) (e: Text.Json.JsonElement) : Text.Json.JsonElement =
    match Research.Tests.Reference.tryProp name e with
    | Some v -> v
    | None -> failtestf "%s has no '%s', so this test cannot run on it" case name

/// Runs a test list with Expecto's own evaluator and returns (name, result) per test.
let evaluateTests (tests: Test) =
    Impl.evalTests { Tests.defaultConfig with printer = Impl.TestPrinters.silent; runInParallel = false } tests
    |> Async.RunSynchronously
    |> List.map (fun (t, summary) -> String.Join("/", t.name), summary.result)

/// A parsed copy of a shared reference file, edited by <paramref name="change"/> (for the schema tests).
let editedReference (file: string) (change: Text.Json.Nodes.JsonObject -> unit) : unit -> Text.Json.JsonElement =
    fun () ->
        let root = Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Research.Tests.Reference.dir (), file))).AsObject()
        change root
        use doc = Text.Json.JsonDocument.Parse(root.ToJsonString())
        doc.RootElement.Clone()
