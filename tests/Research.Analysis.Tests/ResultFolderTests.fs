/// Result folders that cannot be mixed or lost, stopping that stops, and replication across seeds,
/// on the compiled command line (src/Research.Cli) with a tiny Adam-vs-RAdam configuration.
module Research.Tests.ResultFolderTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open Expecto
open Research.Core.Data
open Research.Analysis

/// A tiny configuration of the study: 30 steps per optimizer, 20 recorded iterations, B = 50.
let private tiny = [ "adam-vs-radam"; "--steps"; "30"; "--record"; "20"; "--resamples"; "50"; "--weights-per-group"; "10" ]

let private tempRoot (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

let private host () =
    if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"

/// Starts the command line as a separate process (output discarded).
let private start (args: string list) =
    let psi = ProcessStartInfo(host (), Replication.commandLineAssembly () :: args)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    let p = Process.Start psi
    p.OutputDataReceived.Add ignore
    p.ErrorDataReceived.Add ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p

/// Runs the command line in this process; returns (exit code, output, errors).
let private cli (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = CommandLine.run (Array.ofList args) out err
    code, out.ToString(), err.ToString()

let private waitFor (what: string) (timeout: TimeSpan) (condition: unit -> bool) =
    let clock = Stopwatch.StartNew()
    while not (condition ()) do
        if clock.Elapsed > timeout then failtest $"timed out after {timeout.TotalSeconds} s waiting for {what}"
        Threading.Thread.Sleep 50

/// Every file under a folder with its size and last write time.
let private snapshot (root: string) =
    [ for f in Directory.GetFiles(root, "*", SearchOption.AllDirectories) |> Array.sort ->
        let i = FileInfo f
        f, i.Length, i.LastWriteTimeUtc ]

let private stagedTraces (root: string) () =
    let staging = Path.Combine(root, "adam-vs-radam", ".staging")
    Directory.Exists staging
    && Directory.GetFiles(staging, "*.npy", SearchOption.AllDirectories).Length > 0

let private needMnist () =
    if not (Mnist.IsPresent()) then failtest "needs real MNIST in data/mnist: run `./run.sh fetch-data` (./test.sh does)"

let private onlyResult (root: string) =
    match Directory.GetDirectories(Path.Combine(root, "adam-vs-radam"), "seed-*") with
    | [| d |] -> d
    | ds -> failtest $"expected one result folder, found {ds.Length}"

[<Tests>]
let timeLine =
    testList "Runner.timeLine" [
        testCase "the study's steps are summed apart from the report and its browser check" <| fun () ->
            let line = Runner.timeLine [ "train", 40.26; "analyse", 17.0; "report", 2.1; "browser check", 6.0 ]
            Expect.equal line "time: 57.3 s of study steps (train 40.3 s, analyse 17.0 s); report 2.1 s, browser check 6.0 s" "line"
    ]

[<Tests>]
let tests =
    testSequenced <| testList "Runner.ResultFolders" [
        testCase "a rerun killed half-way leaves the complete folder intact (hashes match) and nothing writes after the kill" <| fun () ->
            needMnist ()
            let root = tempRoot "folders-kill"
            let code, _, err = cli (tiny @ [ "--out"; root; "--no-browser-check" ])
            Expect.equal code 0 $"the first run completes ({err})"
            let folder = onlyResult root
            let before = File.ReadAllBytes(Runner.resultFile folder)
            use rerun = start (tiny @ [ "--out"; root; "--no-browser-check" ])
            waitFor "the rerun to write traces into its staging folder" (TimeSpan.FromMinutes 3.0) (stagedTraces root)
            rerun.Kill() // SIGKILL
            rerun.WaitForExit()
            Threading.Thread.Sleep 500
            let afterKill = snapshot root
            Threading.Thread.Sleep 3000
            Expect.equal (snapshot root) afterKill "nothing writes to the folder after the kill"
            Expect.isEmpty (Runner.verify folder) "the previous complete folder is intact: every hash matches"
            Expect.equal (File.ReadAllBytes(Runner.resultFile folder)) before "its result is the one written before"

        testCase "a second run of the same folder fails at once naming the folder and the process that holds it" <| fun () ->
            needMnist ()
            let root = tempRoot "folders-lock"
            use first = start (tiny @ [ "--out"; root; "--no-browser-check" ])
            let locks = Path.Combine(root, "adam-vs-radam", ".locks")
            waitFor "the first run to take its lock" (TimeSpan.FromMinutes 2.0) (fun () ->
                Directory.Exists locks && Directory.GetFiles(locks, "*.owner").Length > 0)
            let clock = Stopwatch.StartNew()
            let code, _, err = cli (tiny @ [ "--out"; root; "--no-browser-check" ])
            Expect.equal code 1 "the second run fails"
            Expect.isLessThan clock.Elapsed.TotalSeconds 30.0 "at once, not after the work"
            let owner = Directory.GetFiles(locks, "*.owner").[0]
            let folder = Path.Combine(root, "adam-vs-radam", Path.GetFileNameWithoutExtension owner)
            Expect.stringContains err folder "names the folder"
            Expect.stringContains err $"process {first.Id}" "names the process that holds it"
            first.Kill()
            first.WaitForExit()
            let code, _, err = cli (tiny @ [ "--out"; root; "--no-browser-check" ])
            Expect.equal code 0 $"after the holder died, the lock is free and the run completes ({err})"
            Expect.isEmpty (Runner.verify folder) "complete and intact"
            Expect.isFalse (Directory.Exists(Path.Combine(root, "adam-vs-radam", ".staging"))) "the killed run's staging folder was cleaned up"

        testCase "replication over 3 seeds: seed folders, a replication report with every claim's verdicts and label; complete seeds are reused" <| fun () ->
            needMnist ()
            let root = tempRoot "replication"
            let code, out, err = cli (tiny @ [ "--seeds"; "0..2"; "--out"; root; "--no-browser-check" ])
            Expect.equal code 0 $"exit code ({err})"
            let study = Path.Combine(root, "adam-vs-radam")
            Expect.equal (Directory.GetDirectories(study, "seed-*").Length) 3 "three seed folders"
            let rep = Directory.GetDirectories(study, "replication-seeds-0-2-*") |> Array.exactlyOne
            let summary = JsonNode.Parse(File.ReadAllText(Path.Combine(rep, "replication.json")))
            let claims = summary.["claims"].AsArray()
            Expect.equal claims.Count 10 "ten claims"
            for c in claims do
                let id = c.["id"].GetValue<string>()
                Expect.equal (c.["verdicts"].AsArray().Count) 3 $"{id}: three verdicts"
                let label = c.["label"].GetValue<string>()
                Expect.isTrue (List.exists (fun (l: string) -> label.StartsWith l) [ "robust"; "fragile"; "refuted"; "inconclusive" ]) $"a label: {label}"
            let html = File.ReadAllText(Path.Combine(rep, "report.html"))
            for needle in [ "Claims across seeds"; "forest"; "pooled"; "seed 0"; "seed 2"; "bh-at-least-holm" ] do
                Expect.stringContains html needle $"report mentions {needle}"
            Expect.stringContains (File.ReadAllText(Path.Combine(root, "index.html"))) "replication-seeds-0-2" "the index links the replication"
            if (BrowserCheck.tryFindBrowser ()).IsSome then
                let check = BrowserCheck.check (Path.Combine(root, "replication.png")) (Path.Combine(rep, "report.html"))
                Expect.isTrue check.Passed $"the replication report passes the browser check ({check.ChartsDrawn}/{check.Charts}, {check.ConsoleErrors})"
            let code, out2, _ = cli (tiny @ [ "--seeds"; "0..2"; "--out"; root; "--no-browser-check" ])
            Expect.equal code 0 "second replication"
            Expect.stringContains out2 "3 complete and reused, 0 to run" $"complete seeds are reused ({out})"

        testCase "killing a replication's process stops every seed process: nothing writes afterwards" <| fun () ->
            needMnist ()
            let root = tempRoot "replication-kill"
            use parent = start (tiny @ [ "--seeds"; "5..6"; "--out"; root; "--no-browser-check" ])
            waitFor "both seeds to write traces" (TimeSpan.FromMinutes 3.0) (fun () ->
                let staging = Path.Combine(root, "adam-vs-radam", ".staging")
                Directory.Exists staging
                && (Directory.GetDirectories staging |> Array.filter (fun d -> Directory.GetFiles(d, "*.npy", SearchOption.AllDirectories).Length > 0)).Length >= 2)
            parent.Kill() // SIGKILL of the process the user started
            parent.WaitForExit()
            Threading.Thread.Sleep 1500 // the seed processes notice within 200 ms
            let afterKill = snapshot root
            Threading.Thread.Sleep 3000
            Expect.equal (snapshot root) afterKill "no seed process writes after the parent was killed"
    ]
