// The Adam-vs-RAdam gradient study, end to end: trains the 784-512-512-10 MLP on MNIST with Adam,
// RAdam and AdamW with linear warmup, records the 10x512 gradient block of the output layer for
// the first 100 iterations, analyses each optimizer's own traces (Shapiro–Wilk, Holm/BH, Gaussian
// mixtures, bootstrap variance of the adaptive learning rate), checks the notebook's conclusions
// as claims, and writes one self-contained HTML report (plus CSV tables).
//
//   dotnet fsi scripts/adam-vs-radam.fsx [--seed N] [--steps N] [--record N] [--out DIR]
//   dotnet fsi scripts/adam-vs-radam.fsx --traces DIR [DIR ...] [--out DIR]   (analyse existing traces,
//                                          e.g. .npy files written by NumPy with a minimal manifest)
//
// Every hyperparameter is in AdamVsRAdamConfig (Research.Core) and AnalysisOptions (Research.Analysis).
#r "../src/Research.Core/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Research.Core/bin/Release/net10.0/Research.Core.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Plotly.NET.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/DynamicObj.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Newtonsoft.Json.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Giraffe.ViewEngine.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Expecto.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Research.Analysis.dll"

open System
open System.IO
open System.Diagnostics
open Research.Core.Data
open Research.Core.Studies.AdamVsRAdam
open Research.Analysis

let clock = Stopwatch.StartNew()
let args = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray
let rec option name (xs: string list) =
    match xs with
    | n :: v :: _ when n = name -> Some v
    | _ :: rest -> option name rest
    | [] -> None
let traceDirs =
    match args |> List.skipWhile (fun a -> a <> "--traces") with
    | _ :: rest -> rest |> List.takeWhile (fun a -> not (a.StartsWith "--"))
    | [] -> []
let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))
let outRoot = option "--out" args |> Option.defaultValue (Path.Combine(root, "reports"))
let seed = option "--seed" args |> Option.map int64 |> Option.defaultValue 0L
let options = { AnalysisOptions.Default with Seed = seed }

let checkInBrowser (report: string) =
    match BrowserCheck.tryFindBrowser () with
    | None -> printfn "browser check skipped: no Chromium (apt-get install chromium)"
    | Some _ ->
        let shot = Path.Combine(Path.GetDirectoryName report, "report.png")
        let r = BrowserCheck.checkSized (1280, 9000) shot report
        printfn "browser check (%s): %d/%d charts drawn, %d console errors, screenshot %s — %s"
            r.Browser r.ChartsDrawn r.Charts r.ConsoleErrors.Length (defaultArg r.Screenshot "none") (if r.Passed then "passed" else "FAILED")
        for e in r.ConsoleErrors do printfn "  console: %s" e
        if not r.Passed then exit 1

let study () =
    if not traceDirs.IsEmpty then
        let dir = Path.Combine(outRoot, "adam-vs-radam", "external-" + (String.Join("-", traceDirs |> List.map (fun d -> Path.GetFileName(Path.GetFullPath(d).TrimEnd('/'))))))
        printfn "analysing %d trace folder(s) → %s" traceDirs.Length dir
        let analyses = AdamVsRAdam.analyseTraces options (printfn "%s") traceDirs
        Directory.CreateDirectory dir |> ignore
        let claims = AdamVsRAdam.evaluateClaims options [ ("traces", String.Join(", ", traceDirs)) ] Map.empty analyses
        let methods = ("data", "traces recorded elsewhere (see Runs and traces)") :: AdamVsRAdam.analysisFacts options
        let html, csvs = AdamVsRAdam.writeReport dir "Gradient distributions and adaptive-learning-rate variance (external traces)" options methods analyses claims
        { Directory = dir; Report = html; Tables = csvs; Analyses = analyses; Claims = claims }
    else
        let config =
            AdamVsRAdamConfig(
                Seed = seed,
                TrainSteps = (option "--steps" args |> Option.map int |> Option.defaultValue 469),
                RecordIterations = (option "--record" args |> Option.map int |> Option.defaultValue 100))
        let dataDir = Mnist.DefaultDirectory()
        let train = Mnist.LoadTrain dataDir
        let test = Mnist.LoadTest dataDir
        AdamVsRAdam.run config options outRoot train test Map.empty Console.Out

let result =
    try study ()
    with e ->
        // Bad input (missing or foreign trace, diverged gradients, missing MNIST …): say what and where.
        let rec innermost (x: exn) = if isNull x.InnerException then x else innermost x.InnerException
        eprintfn "error: %s" (innermost e).Message
        exit 1

printfn ""
printfn "claims:"
for c in result.Claims do
    printfn "  %-28s %-12s %s" c.Id (string c.Verdict) (Claims.describe c.Effect)
checkInBrowser result.Report
printfn ""
printfn "report: %s" result.Report
printfn "tables: %s" (String.Join(", ", result.Tables |> List.map Path.GetFileName))
printfn "wall time: %.1f s" clock.Elapsed.TotalSeconds
