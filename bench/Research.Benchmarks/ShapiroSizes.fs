/// Shapiro–Wilk by sample size: the column path (`ShapiroWilk.testColumns32`, the trace layout, SIMD
/// sorting network for 8 series at once) and the batched path (`ShapiroWilk.testMany32`, one series
/// after another with an O(n) bucket sort) against scipy's per-series loop on the same float32
/// matrix, at n = 100, 1,000 and 5,000. Our two paths and scipy alternate round by round.
module Research.Benchmarks.ShapiroSizes

open System
open System.Diagnostics
open System.IO
open Research.Analysis
open Research.Benchmarks.PythonWorker

/// Median wall time (ms) of `repeats` calls after a warm-up of at least 3 calls and 0.3 s.
let private timed (repeats: int) (f: unit -> 'a) : float =
    let warm = Stopwatch.StartNew()
    let mutable calls = 0
    while calls < 3 || warm.ElapsedMilliseconds < 300L do
        f () |> ignore
        calls <- calls + 1
    let times =
        Array.init repeats (fun _ ->
            let sw = Stopwatch.StartNew()
            f () |> ignore
            sw.Elapsed.TotalMilliseconds)
    Array.sortInPlace times
    times.[repeats / 2]

/// `series` gradient-like float32 series of length `n` in trace layout [n, series] from a fixed seed:
/// mostly normal, every 8th heavy-tailed, scale 1e-3, and every 16th rounded to a grid of 1e-4 (ties
/// and exact zeros).
let private inputs (n: int) (series: int) =
    let rng = Xoshiro256StarStar(int64 (7919 * n), 0L)
    Array.init (n * series) (fun idx ->
        let c = idx % series
        let z = rng.NextNormal()
        let v = if c % 8 = 0 then z / sqrt (max 1e-3 (-log (1.0 - rng.NextDouble()))) else z
        let v = 1e-3 * v
        float32 (if c % 16 = 1 then Math.Round(v / 1e-4) * 1e-4 else v))

let private median (a: float[]) = Quantile.median a

/// Runs the comparison; `python` is an interpreter with numpy and scipy (None: ours only).
let run (python: string option) (script: string option) (repeats: int) (rounds: int) =
    printfn ""
    printfn "Shapiro–Wilk by sample size: our column path (testColumns32) and batched path (testMany32) vs scipy.stats.shapiro in a Python loop; medians over %d interleaved rounds" rounds
    let scipy =
        match python, script with
        | Some exe, Some s -> Some(new PythonWorker(exe, s))
        | _ -> None
    match scipy with
    | None -> printfn "  scipy: skipped (no python3 with numpy and scipy, or bench/python/shapiro_bench.py not found)"
    | Some s ->
        let v = s.Ask "versions"
        printfn "  scipy %s, numpy %s (python %s)" (v.GetProperty("scipy").GetString()) (v.GetProperty("numpy").GetString()) (v.GetProperty("python").GetString())
    let dir = Path.Combine(Path.GetTempPath(), $"research-shapiro-bench-{Environment.ProcessId}")
    Directory.CreateDirectory dir |> ignore
    try
        printfn ""
        printfn "  %6s %7s %14s %14s %14s %12s %14s %s" "n" "series" "column ms" "batched ms" "scipy ms" "scipy/column" "batched/column" "W, p: column = batched"
        for n, series in [ 100, 5120; 1000, 5120; 5000, 1024 ] do
            let data = inputs n series
            let columns = Array.init series (fun c -> Array.init n (fun r -> data.[r * series + c]))
            let file = Path.Combine(dir, $"sw-{n}.f32")
            let bytes = Array.zeroCreate<byte> (4 * data.Length)
            Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length)
            File.WriteAllBytes(file, bytes)
            let a = ShapiroWilk.tryTestColumns32 series data
            let b = ShapiroWilk.tryTestMany32 columns
            let bits (r: Result<ShapiroWilkResult, ShapiroWilkError>) =
                match r with
                | Ok v -> BitConverter.DoubleToInt64Bits v.W, BitConverter.DoubleToInt64Bits v.PValue
                | Error _ -> 0L, 0L
            let identical = Array.forall2 (fun x y -> bits x = bits y) a b
            let col, bat, py = ResizeArray<float>(), ResizeArray<float>(), ResizeArray<float>()
            for _ in 1 .. rounds do
                col.Add(timed repeats (fun () -> ShapiroWilk.tryTestColumns32 series data))
                bat.Add(timed repeats (fun () -> ShapiroWilk.tryTestMany32 columns))
                match scipy with
                | Some s -> py.Add((s.Ask $"shapiro {file} {n} {series} 1").GetProperty("ms").GetDouble())
                | None -> ()
            let c, bt = median (col.ToArray()), median (bat.ToArray())
            let pyText, ratio =
                if py.Count = 0 then "-", "-"
                else
                    let p = median (py.ToArray())
                    p.ToString("F1"), (p / c).ToString("F1") + "×"
            printfn "  %6d %7d %14.2f %14.2f %14s %12s %13.2f× %s" n series c bt pyText ratio (bt / c) (if identical then "identical" else "DIFFERENT")
    finally
        scipy |> Option.iter (fun s -> (s :> IDisposable).Dispose())
        try Directory.Delete(dir, true) with _ -> ()
