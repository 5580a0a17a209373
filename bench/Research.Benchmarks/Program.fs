/// Benchmarks of Research.Analysis against the Python tools the notebook used (scipy, statsmodels,
/// scikit-learn, NumPy), on the same inputs, in one run. Not a test: timings depend on the machine.
///
///   dotnet run --project bench/Research.Benchmarks -c Release [-- --repeats N] [--python PATH]
///   dotnet run --project bench/Research.Benchmarks -c Release -- --scale [--scale-sizes 5120x100,51200x100]
///     (the Adam-vs-RAdam analysis by trace size, each size in a child process: ScaleRun.fs)
///
/// The Python side (bench/python/stats_bench.py) runs as a subprocess when an interpreter with
/// numpy, scipy, statsmodels and scikit-learn is found ($RESEARCH_PYTHON, --python, python3 on the
/// PATH, /usr/bin/python3); otherwise our times are printed and the Python side is reported skipped.
module Research.Benchmarks.Program

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Research.Analysis

let private seriesCount = 5120
let private seriesLength = 100
let private gmmPoints = 51200
let private psiT = 100
let private psiB = 1000

/// Minimum wall time of each workload, by name (printed next to the medians).
let private minima = Collections.Generic.Dictionary<string, float>()

/// Median wall time in milliseconds over `repeats` runs, with the last result (the minimum goes to
/// `minima`). Warm-up first: at least 50 calls and 0.5 s, so that the JIT has promoted the code to
/// its optimised tier (the state of a long analysis run), capped at 10 s.
let private timeMs (name: string) (repeats: int) (f: unit -> 'a) : float * 'a =
    let warm = Stopwatch.StartNew()
    let mutable calls = 0
    while (calls < 50 || warm.ElapsedMilliseconds < 500L) && warm.ElapsedMilliseconds < 10000L do
        f () |> ignore
        calls <- calls + 1
    let times = Array.zeroCreate<float> repeats
    let mutable last = Unchecked.defaultof<'a>
    for i in 0 .. repeats - 1 do
        let sw = Stopwatch.StartNew()
        last <- f ()
        times.[i] <- sw.Elapsed.TotalMilliseconds
    Array.sortInPlace times
    minima.[name] <- times.[0]
    times.[repeats / 2], last

/// The inputs, generated from fixed seeds (the same on every run).
let private makeInputs () =
    let rng = Xoshiro256StarStar(2024L, 0L)
    // 5120 gradient-like series: mostly normal, every 8th heavy-tailed (t-like), scale 1e-3
    let sw =
        Array.init (seriesLength * seriesCount) (fun idx ->
            let c = idx % seriesCount
            let z = rng.NextNormal()
            let v = if c % 8 = 0 then z / sqrt (max 1e-3 (-log (1.0 - rng.NextDouble()))) else z
            float32 (1e-3 * v))
    // p-values: 90 % uniform nulls, 10 % small
    let p = Array.init seriesCount (fun i -> if i % 10 = 0 then Math.Pow(rng.NextDouble(), 6.0) else rng.NextDouble())
    // 5-component mixture, 51,200 points
    let means = [| -3.0; -1.0; 0.0; 1.5; 4.0 |]
    let sds = [| 0.5; 0.3; 1.0; 0.4; 0.8 |]
    let gmm = Array.init gmmPoints (fun i -> let j = i % 5 in means.[j] + sds.[j] * rng.NextNormal())
    // one weight's gradient series for the ψ bootstrap
    let g = Array.init psiT (fun t -> 0.01 * rng.NextNormal() + 0.002 * sin (float t / 7.0))
    sw, p, gmm, g

let private writeInputs (dir: string) (sw: float32[]) (p: float[]) (gmm: float[]) (g: float[]) =
    // raw little-endian (this runs on x86-64/ARM64, both little-endian)
    let write (name: string) (src: Array) (bytes: int) =
        let buffer = Array.zeroCreate<byte> bytes
        Buffer.BlockCopy(src, 0, buffer, 0, bytes)
        File.WriteAllBytes(Path.Combine(dir, name), buffer)
    write "sw.f32" sw (4 * sw.Length)
    write "p.f64" p (8 * p.Length)
    write "gmm.f64" gmm (8 * gmm.Length)
    write "g.f64" g (8 * g.Length)

/// bench/python/<name>, found by walking up from the executable.
let private findScriptNamed (name: string) =
    let rec up (d: DirectoryInfo) =
        if isNull d then None
        else
            let c = Path.Combine(d.FullName, "bench", "python", name)
            if File.Exists c then Some c else up d.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

let private findScript () = findScriptNamed "stats_bench.py"

/// Runs a process to completion; returns (exit code, stdout, stderr).
let private run (exe: string) (args: string list) (timeoutMs: int) =
    try
        let psi = ProcessStartInfo(exe, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        for a in args do psi.ArgumentList.Add a
        use proc = Process.Start psi
        let out = proc.StandardOutput.ReadToEndAsync()
        let err = proc.StandardError.ReadToEndAsync()
        if proc.WaitForExit timeoutMs then Some (proc.ExitCode, out.Result, err.Result)
        else
            proc.Kill true
            None
    with _ -> None

/// The first interpreter that imports numpy, scipy, statsmodels and sklearn.
let private findPython (explicitPath: string option) =
    let candidates =
        [ yield! Option.toList explicitPath
          match Environment.GetEnvironmentVariable "RESEARCH_PYTHON" with
          | null | "" -> ()
          | p -> yield p
          yield "python3"
          yield "/usr/bin/python3" ]
    candidates
    |> List.tryFind (fun exe ->
        match run exe [ "-c"; "import numpy, scipy, statsmodels, sklearn" ] 60000 with
        | Some (0, _, _) -> true
        | _ -> false)

[<EntryPoint>]
let main argv =
    let args = List.ofArray argv
    let rec opt name = function
        | n :: v :: _ when n = name -> Some v
        | _ :: rest -> opt name rest
        | [] -> None
    let repeats = opt "--repeats" args |> Option.map int |> Option.defaultValue 20
    // --traces DIR ...: the mixture comparison on recorded traces only (every argument after it up to the next option)
    let traces = args |> List.skipWhile ((<>) "--traces") |> function
                 | _ :: rest -> Some (rest |> List.takeWhile (fun a -> not (a.StartsWith "--")))
                 | [] -> None
    match opt "--scale-child" args with
    | Some dir -> exit (ScaleRun.child dir)
    | None -> ()
    if List.contains "--scale" args then
        ScaleRun.run (opt "--scale-sizes" args |> Option.map (fun s -> s.Split(',', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray))
        exit 0
    if List.contains "--shapiro-sizes" args then
        printfn "Research.Analysis Shapiro–Wilk benchmark by sample size (%d cores); load average %s"
            Environment.ProcessorCount (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
        ShapiroSizes.run (findPython (opt "--python" args)) (findScriptNamed "shapiro_bench.py")
            (opt "--repeats" args |> Option.map int |> Option.defaultValue 5) (opt "--rounds" args |> Option.map int |> Option.defaultValue 3)
        printfn "load average at the end: %s" (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
        exit 0
    match traces with
    | Some dirs ->
        let analysis = Research.Analysis.Studies.AdamVsRAdam.AnalysisOptions.Default
        let analysis =
            match opt "--restarts" args with
            | Some r -> { analysis with MixtureRestarts = int r }
            | None -> analysis
        let analysis =
            match opt "--restart-iterations" args with
            | Some r -> { analysis with MixtureRestartIterations = int r }
            | None -> analysis
        let analysis =
            match opt "--refine" args with
            | Some "none" -> { analysis with MixtureRefinement = None }
            | Some r ->
                let parts = r.Split ':'
                { analysis with MixtureRefinement = Some { Tolerance = float parts.[0]; MaxIterations = int parts.[1] } }
            | None -> analysis
        let neurons = opt "--neurons" args |> Option.map int |> Option.defaultValue Int32.MaxValue
        printfn "Research.Analysis mixture benchmark on traces (%d cores); load average %s"
            Environment.ProcessorCount (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
        MixtureTraces.run (findPython (opt "--python" args)) (findScriptNamed "mixture_bench.py") dirs analysis
            (opt "--repeats" args |> Option.map int |> Option.defaultValue 1) neurons
            (opt "--timed-neurons" args |> Option.map int |> Option.defaultValue 2)
        printfn "load average at the end: %s" (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
        exit 0
    | None -> ()
    let loadAverage () =
        try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a"
    printfn "Research.Analysis benchmarks (%d cores, %s, .NET %s); median of %d runs after warm-up; load average %s"
        Environment.ProcessorCount (Runtime.InteropServices.RuntimeInformation.OSDescription) (Environment.Version.ToString()) repeats (loadAverage ())
    let sw, p, gmm, g = makeInputs ()

    // ---- ours ----
    let swMs, swRes = timeMs "shapiro" repeats (fun () -> ShapiroWilk.testColumns32 seriesCount sw)
    let holmMs, holmRes = timeMs "holm" (repeats * 20) (fun () -> MultipleTesting.holm 0.05 p)
    let bhMs, bhRes = timeMs "bh" (repeats * 20) (fun () -> MultipleTesting.benjaminiHochberg 0.05 p)
    let gmmMs, gmmRes = timeMs "gmm" (max 3 (repeats / 2)) (fun () -> GaussianMixture.fit (MixtureOptions.Create 5) gmm)
    let psiMs, psiRes = timeMs "psi" (repeats * 5) (fun () -> Bootstrap.psiCurve 0.999 0L psiB g)

    // ---- Python ----
    let python =
        match findScript (), findPython (opt "--python" args) with
        | None, _ -> Error "bench/python/stats_bench.py not found above the executable"
        | _, None -> Error "no python3 with numpy, scipy, statsmodels and scikit-learn (set RESEARCH_PYTHON or --python; on Debian: apt-get install python3-scipy python3-statsmodels python3-sklearn python3-numpy)"
        | Some script, Some exe ->
            let dir = Path.Combine(Path.GetTempPath(), $"research-bench-{Environment.ProcessId}")
            Directory.CreateDirectory dir |> ignore
            try
                writeInputs dir sw p gmm g
                match run exe [ script; dir; string repeats ] (30 * 60 * 1000) with
                | Some (0, out, _) -> Ok (exe, JsonDocument.Parse(out).RootElement.Clone())
                | Some (code, _, err) -> Error $"{exe} {script} exited with {code}: {err.Trim()}"
                | None -> Error $"{exe} {script} did not finish in 30 minutes"
            finally
                try Directory.Delete(dir, true) with _ -> ()

    let pyMs (name: string) =
        match python with
        | Ok (_, j) -> Some ((j.GetProperty name).GetProperty("ms").GetDouble())
        | Error _ -> None

    let line (workload: string) (ours: float) (theirs: (string * float) option) (target: string) (verdict: string) =
        let theirsText, ratio =
            match theirs with
            | Some (tool, ms) -> sprintf "%10.3f ms  %-28s" ms tool, sprintf "%8.1f×" (ms / ours)
            | None -> sprintf "%10s     %-28s" "-" (if python.IsOk then "-" else "skipped"), sprintf "%8s" "-"
        printfn "%-44s %10.3f ms  %s %s  %-32s %s" workload ours theirsText ratio target verdict

    printfn ""
    printfn "%-44s %13s  %-41s %9s  %-32s %s" "workload" "ours" "Python tool" "speed-up" "target" "met?"
    let ratioVerdict (need: float) (name: string) (ours: float) =
        match pyMs name with
        | Some t -> if t / ours >= need then "yes" else "NO"
        | None -> "(python skipped)"
    line "Shapiro–Wilk, 5,120 series × 100 (float32)" swMs (pyMs "shapiro" |> Option.map (fun t -> "scipy.stats.shapiro loop", t)) "≥ 20× faster than scipy loop" (ratioVerdict 20.0 "shapiro" swMs)
    line "Holm, 5,120 p-values" holmMs (pyMs "holm" |> Option.map (fun t -> "statsmodels multipletests", t)) "≤ 1 ms" (if holmMs <= 1.0 then "yes" else "NO")
    line "Benjamini–Hochberg, 5,120 p-values" bhMs (pyMs "bh" |> Option.map (fun t -> "statsmodels multipletests", t)) "≤ 1 ms" (if bhMs <= 1.0 then "yes" else "NO")
    line "GMM k = 5 on 51,200 points (n_init 1)" gmmMs (pyMs "gmm" |> Option.map (fun t -> "sklearn GaussianMixture.fit", t)) "≥ 5× faster than sklearn" (ratioVerdict 5.0 "gmm" gmmMs)
    let psiBest =
        match pyMs "psi_loop", pyMs "psi_matmul" with
        | Some a, Some b -> Some (if a <= b then "NumPy (loop over t)", a else "NumPy (matmul prefix sums)", b)
        | _ -> None
    let psiVerdict =
        match psiBest with
        | Some (_, t) -> if t / psiMs >= 10.0 then "yes" else "NO"
        | None -> "(python skipped)"
    line "bootstrap ψ-variance curve, T = 100, B = 1000" psiMs psiBest "≥ 10× faster than NumPy" psiVerdict

    printfn ""
    let pyMin (name: string) =
        match python with
        | Ok (_, j) ->
            match (j.GetProperty name).TryGetProperty "min_ms" with
            | true, v -> sprintf "%.3f ms" (v.GetDouble())
            | _ -> "-"
        | Error _ -> "-"
    printfn "minimum times (ours / Python): Shapiro–Wilk %.3f ms / %s; Holm %.3f ms / %s; BH %.3f ms / %s; GMM %.3f ms / %s; ψ %.3f ms / %s (loop), %s (matmul)"
        minima.["shapiro"] (pyMin "shapiro") minima.["holm"] (pyMin "holm") minima.["bh"] (pyMin "bh")
        minima.["gmm"] (pyMin "gmm") minima.["psi"] (pyMin "psi_loop") (pyMin "psi_matmul")
    printfn "load average at the end: %s (timings on a shared machine move with it)" (loadAverage ())
    match python with
    | Error why -> printfn "Python side skipped: %s" why
    | Ok (exe, j) ->
        let v = j.GetProperty "versions"
        printfn "Python side: %s (python %s, numpy %s, scipy %s, statsmodels %s, scikit-learn %s)" exe
            (v.GetProperty("python").GetString()) (v.GetProperty("numpy").GetString()) (v.GetProperty("scipy").GetString())
            (v.GetProperty("statsmodels").GetString()) (v.GetProperty("sklearn").GetString())
        printfn "  NumPy ψ bootstrap variants: loop over t %.3f ms, matmul %.3f ms" (pyMs "psi_loop").Value (pyMs "psi_matmul").Value
        // agreement on the same inputs (scipy runs Shapiro–Wilk in single precision)
        let sp = j.GetProperty "shapiro"
        let ws = [| for e in sp.GetProperty("W").EnumerateArray() -> e.GetDouble() |]
        let ps = [| for e in sp.GetProperty("p").EnumerateArray() -> e.GetDouble() |]
        let maxW = Array.map2 (fun (r: ShapiroWilkResult) w -> abs (r.W - w)) swRes ws |> Array.max
        let maxP = Array.map2 (fun (r: ShapiroWilkResult) q -> abs (r.PValue - q)) swRes ps |> Array.max
        printfn "  agreement: Shapiro–Wilk max |ΔW| = %.2g, max |Δp| = %.2g (scipy float32)" maxW maxP
        printfn "  agreement: Holm rejections %d (ours) vs %d (statsmodels); BH %d vs %d" holmRes.RejectedCount
            ((j.GetProperty "holm").GetProperty("n_reject").GetInt32()) bhRes.RejectedCount ((j.GetProperty "bh").GetProperty("n_reject").GetInt32())
        let gj = j.GetProperty "gmm"
        printfn "  agreement: GMM mean log-likelihood %.8f (ours, %d its) vs %.8f (sklearn, %d its)" gmmRes.MeanLogLikelihood gmmRes.Iterations
            (gj.GetProperty("mean_loglik").GetDouble()) (gj.GetProperty("n_iter").GetInt32())
        printfn "  ψ bootstrap Var[ψ_100]: %.5g (ours) vs %.5g (NumPy, another generator; Monte Carlo error ≈ 4.5%%)" psiRes.Variance.[psiT - 1]
            ((j.GetProperty "psi_loop").GetProperty("var_last").GetDouble())
    0
