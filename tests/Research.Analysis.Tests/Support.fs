/// Helpers shared by the Analysis tests: tolerant comparisons, error-message checks, FsCheck config.
module Research.Analysis.Tests.Support

open System
open System.IO
open Expecto
open FsCheck

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
