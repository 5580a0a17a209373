/// Locating and reading the reference vectors in ../shared/reference (produced by scipy,
/// statsmodels, scikit-learn, R and PyTorch; see that folder's README for provenance).
module Research.Tests.Reference

open System
open System.IO
open System.Text.Json

/// The reference folder: $RESEARCH_REFERENCE_DIR, else the first `shared/reference` found beside
/// the checkout or one of its parents (a clone has shared/ next to it); Error with the reason when
/// there is none. Never raises, so a test module can consult it while the tests are discovered.
let tryDir : Result<string, string> =
    let env = Environment.GetEnvironmentVariable "RESEARCH_REFERENCE_DIR"
    if not (String.IsNullOrEmpty env) then Ok env
    else
        let rec up (d: DirectoryInfo) =
            if isNull d then
                Error $"reference vectors not found: no shared/reference beside {AppContext.BaseDirectory} or its parents; set RESEARCH_REFERENCE_DIR"
            else
                let c = Path.Combine(d.FullName, "shared", "reference")
                if Directory.Exists c then Ok c else up d.Parent
        up (DirectoryInfo AppContext.BaseDirectory)

/// The reference folder; raises with the reason (failing the test that asks) when there is none.
let dir () : string =
    match tryDir with
    | Ok d -> d
    | Error why -> failwith why

/// Parses one reference file (e.g. "psi.json").
let load (file: string) : JsonElement =
    let path = Path.Combine(dir (), file)
    use doc = JsonDocument.Parse(File.ReadAllText path)
    doc.RootElement.Clone()

/// A JSON number or null (NaN, ±inf are written as null in the reference files) as a float.
let num (e: JsonElement) : float =
    if e.ValueKind = JsonValueKind.Null then nan else e.GetDouble()

/// A JSON array of numbers (nulls become NaN).
let floats (e: JsonElement) : float[] = [| for x in e.EnumerateArray() -> num x |]

/// A JSON array of arrays of numbers.
let floats2 (e: JsonElement) : float[][] = [| for x in e.EnumerateArray() -> floats x |]

/// A JSON array of booleans.
let bools (e: JsonElement) : bool[] = [| for x in e.EnumerateArray() -> x.GetBoolean() |]

/// Property lookup with a clear failure naming the property.
let prop (name: string) (e: JsonElement) : JsonElement =
    match e.TryGetProperty name with
    | true, v -> v
    | _ -> failwithf "reference: property '%s' missing" name

/// Optional property.
let tryProp (name: string) (e: JsonElement) : JsonElement option =
    match e.TryGetProperty name with
    | true, v when v.ValueKind <> JsonValueKind.Null -> Some v
    | _ -> None
