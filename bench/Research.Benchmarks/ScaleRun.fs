/// The Adam-vs-RAdam analysis at growing trace sizes (performance issue 5): synthetic gradient blocks
/// written in the study's trace format, each analysed in a child process of its own so that each
/// size has its own peak memory (VmHWM), with time per million values.
module Research.Benchmarks.ScaleRun

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Research.Core.Traces
open Research.Analysis
open Research.Analysis.Studies.AdamVsRAdam

/// One synthetic trace: a [neurons × inputs] block over some iterations.
type ScaleSize =
    { Neurons: int
      Inputs: int
      Iterations: int }

    member s.Weights = s.Neurons * s.Inputs
    /// "5120x100": weights × iterations (what --scale-sizes takes).
    member s.Name = $"{s.Weights}x{s.Iterations}"

/// The issue's four sizes: 10×512, 100×512 and 512×512 blocks over 100 iterations, and 10×512 over 1,000.
let sizes =
    [ { Neurons = 10; Inputs = 512; Iterations = 100 }
      { Neurons = 100; Inputs = 512; Iterations = 100 }
      { Neurons = 512; Inputs = 512; Iterations = 100 }
      { Neurons = 10; Inputs = 512; Iterations = 1000 } ]

/// Writes a synthetic trace of `size` into `dir` (fixed seed): iteration-major float32 rows written one
/// at a time (NpyAppendWriter), with a manifest naming an Adam run, so GradientTrace.load reads it as the
/// study reads its own traces. Per weight: every 8th input heavy-tailed (a normal over the square root of
/// an exponential), the others normal, every 64th input a dead one (all zeros: a constant series), scale
/// 1e-3 with a slowly drifting mean.
let writeTrace (size: ScaleSize) (dir: string) =
    Directory.CreateDirectory dir |> ignore
    let rng = Xoshiro256StarStar(20260501L, int64 size.Weights)
    let row = Array.zeroCreate<float32> size.Weights
    do
        use w = new NpyAppendWriter(Path.Combine(dir, "grad.npy"), ReadOnlySpan [| size.Neurons; size.Inputs |], overwrite = true, syncToDisk = false)
        for t in 0 .. size.Iterations - 1 do
            let drift = 2e-4 * sin (float t / 17.0)
            for k in 0 .. size.Weights - 1 do
                let input = k % size.Inputs
                row.[k] <-
                    if input % 64 = 63 then 0.0f
                    else
                        let z = rng.NextNormal()
                        let v = if input % 8 = 0 then z / sqrt (max 1e-3 (-log (1.0 - rng.NextDouble()))) else z
                        float32 (1e-3 * v + drift)
            w.Append(ReadOnlySpan row)
    do
        use loss = new NpyAppendWriter(Path.Combine(dir, "loss.npy"), ReadOnlySpan<int>([||]), overwrite = true, syncToDisk = false)
        for t in 0 .. size.Iterations - 1 do loss.Append(float32 (2.3 / sqrt (float t + 1.0)))
    File.WriteAllText(Path.Combine(dir, "manifest.json"),
        """{"format": "research-trace", "version": 1,
  "run": {"label": "scale SIZE", "optimizer": {"name": "Adam", "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999]}}},
  "series": [{"name": "grad/fc3.weight", "kind": "gradient", "file": "grad.npy"}, {"name": "loss", "kind": "scalar", "file": "loss.npy"}]}""".Replace("SIZE", size.Name))

/// A value of /proc/self/status in kB ("VmHWM", "VmRSS"), 0 where there is no /proc.
let private statusKb (field: string) =
    try
        File.ReadAllLines "/proc/self/status"
        |> Array.tryFind (fun l -> l.StartsWith(field + ":"))
        |> Option.map (fun l -> int64 (l.Substring(field.Length + 1).Trim().Split(' ').[0]))
        |> Option.defaultValue 0L
    with _ -> 0L

/// The child's side: loads the trace in `dir`, runs the study's analysis with its default options and
/// prints one line "scale-result {json}" with the seconds, the peak RSS (VmHWM) and the managed peak
/// (GC.GetTotalMemory sampled every 10 ms, an approximation from below).
let child (dir: string) =
    let mutable managedPeak = 0L
    use sampler =
        new Threading.Timer((fun _ -> managedPeak <- max managedPeak (GC.GetTotalMemory false)), null, 0, 10)
    let clock = Stopwatch.StartNew()
    let trace = GradientTrace.load None dir
    let loadSeconds = clock.Elapsed.TotalSeconds
    let a = GradientAnalysis.analyse AnalysisOptions.Default (RandomStreams.forStudy "adam-vs-radam" 0L) ignore trace
    let total = clock.Elapsed.TotalSeconds
    managedPeak <- max managedPeak (GC.GetTotalMemory false)
    let result =
        {| LoadSeconds = loadSeconds; AnalyseSeconds = a.Seconds; Seconds = total; VmHwmKb = statusKb "VmHWM"
           ManagedPeakBytes = managedPeak; Tested = a.Tested; Constant = a.Constant; Holm = a.Holm.RejectedCount
           Bh = a.BenjaminiHochberg.RejectedCount; Fitted = a.Mixtures |> Array.filter (fun m -> m.Fit.IsSome) |> Array.length |}
    printfn "scale-result %s" (JsonSerializer.Serialize result)
    0

/// How to start this executable again (the apphost, or `dotnet <dll>` when run through dotnet).
let private self () =
    let exe = Environment.ProcessPath
    if Path.GetFileNameWithoutExtension exe = "dotnet" then exe, [ Reflection.Assembly.GetEntryAssembly().Location ]
    else exe, []

/// The parent's side: for each size (all four, or those named in `only`), writes its trace into a
/// temporary folder, analyses it in a child process, and prints one row per size.
let run (only: string list option) =
    let chosen =
        match only with
        | None -> sizes
        | Some names ->
            for n in names do
                if not (sizes |> List.exists (fun s -> s.Name = n)) then
                    let valid = String.Join(", ", sizes |> List.map (fun s -> s.Name))
                    eprintfn "--scale-sizes: unknown size %s; expected a comma-separated subset of %s" n valid
                    exit 2
            sizes |> List.filter (fun s -> List.contains s.Name names)
    printfn "Adam-vs-RAdam analysis by trace size (GradientAnalysis.analyse, AnalysisOptions.Default), one child process per size"
    printfn "%d cores; load average %s" Environment.ProcessorCount (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
    printfn "%-12s %8s %6s %9s %9s %9s %11s %10s %12s" "size" "weights" "T" "load s" "analyse s" "total s" "s/M values" "peak MB" "managed MB"
    for size in chosen do
        let dir = Path.Combine(Path.GetTempPath(), $"research-scale-{size.Name}-{Guid.NewGuid():N}")
        try
            writeTrace size dir
            let exe, prefix = self ()
            let psi = ProcessStartInfo(exe, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
            for a in prefix @ [ "--scale-child"; dir ] do psi.ArgumentList.Add a
            use p = Process.Start psi
            let err = p.StandardError.ReadToEndAsync()
            let out = p.StandardOutput.ReadToEnd()
            p.WaitForExit()
            match out.Split('\n') |> Array.tryFind (fun l -> l.StartsWith "scale-result ") with
            | Some line when p.ExitCode = 0 ->
                let r = JsonDocument.Parse(line.Substring "scale-result ".Length).RootElement
                let num (name: string) = r.GetProperty(name).GetDouble()
                let values = float size.Weights * float size.Iterations
                printfn "%-12s %8d %6d %9.2f %9.2f %9.2f %11.2f %10.0f %12.0f   (tested %g, constant %g, Holm %g, BH %g, mixtures %g)"
                    size.Name size.Weights size.Iterations (num "LoadSeconds") (num "AnalyseSeconds") (num "Seconds")
                    (num "Seconds" / (values / 1e6)) (num "VmHwmKb" / 1024.0) (num "ManagedPeakBytes" / 1048576.0)
                    (num "Tested") (num "Constant") (num "Holm") (num "Bh") (num "Fitted")
            | _ -> printfn "%-12s %8d %6d failed (exit code %d): %s" size.Name size.Weights size.Iterations p.ExitCode (err.Result.Trim())
        finally
            if Directory.Exists dir then Directory.Delete(dir, true)
    printfn "load average at the end: %s" (try (File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "n/a")
