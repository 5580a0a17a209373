/// The mixture benchmark on recorded traces: for every neuron of every trace, the Adam-vs-RAdam
/// study's 5-component fit (GradientAnalysis.mixtureOptions, on GradientAnalysis.pooledGradients)
/// next to scikit-learn's GaussianMixture(5, random_state=0) on the same data: BIC (lower is
/// better) both on the raw data (sklearn's absolute floor 1e-6) and on the same standardised data
/// (the same objective as ours), KS distance, and the speed ratio at equal restarts (sklearn's n_init = the study's
/// restarts), our and sklearn's timings interleaved dataset by dataset.
module Research.Benchmarks.MixtureTraces

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Research.Analysis
open Research.Analysis.Studies.AdamVsRAdam
open Research.Benchmarks.PythonWorker

/// Median wall time (ms) of `repeats` calls after one warm-up call, and the last result.
let private timed (repeats: int) (f: unit -> 'a) : float * 'a =
    let mutable last = f ()
    let times =
        Array.init repeats (fun _ ->
            let sw = Stopwatch.StartNew()
            last <- f ()
            sw.Elapsed.TotalMilliseconds)
    Array.sortInPlace times
    times.[repeats / 2], last

/// Runs the comparison; `python` is an interpreter with numpy, scipy and scikit-learn (None: ours only).
/// `timedNeurons`: per trace, the first neurons on which sklearn also runs with n_init = the study's
/// restarts for the speed ratio (it takes n_init times sklearn's default; BIC and KS cover every neuron).
let run (python: string option) (script: string option) (traces: string list) (options: AnalysisOptions) (repeats: int) (neuronsPerTrace: int)
        (timedNeurons: int) =
    let k = options.MixtureComponents
    let restarts = options.MixtureRestarts
    printfn ""
    let refinement = match options.MixtureRefinement with Some r -> $"refined to {r.Tolerance} by SQUAREM" | None -> "no refinement"
    printfn "Mixture on recorded traces: the study's %d-component fit (%d restarts of ≤ %d EM steps, %s, standardised; GradientAnalysis.mixtureOptions) vs scikit-learn GaussianMixture(%d, random_state=0)"
        k restarts options.MixtureRestartIterations refinement k
    let sklearn =
        match python, script with
        | Some exe, Some s -> Some(new PythonWorker(exe, s))
        | _ -> None
    match sklearn with
    | None -> printfn "  scikit-learn: skipped (no python3 with numpy, scipy and scikit-learn, or bench/python/mixture_bench.py not found)"
    | Some s ->
        let v = s.Ask "versions"
        printfn "  scikit-learn %s, numpy %s (python %s)" (v.GetProperty("sklearn").GetString()) (v.GetProperty("numpy").GetString()) (v.GetProperty("python").GetString())
    let dir = Path.Combine(Path.GetTempPath(), $"research-mixture-bench-{Environment.ProcessId}")
    Directory.CreateDirectory dir |> ignore
    let rows = ResizeArray<string * int * float * float * float * float>()
    let sameObjective = ResizeArray<float>()
    let mutable oursEqual, theirsEqual, oursDefault, theirsDefault = 0.0, 0.0, 0.0, 0.0
    try
        printfn ""
        printfn "  %-14s %6s %8s %14s %14s %9s %14s %9s %8s %8s %9s %9s" "trace" "neuron" "points" "BIC (ours)" "BIC (sklearn)" "Δ BIC" "sklearn std." "Δ BIC" "KS ours" "KS skl" "ours ms" "skl ms"
        // warm-up: the study's fit on the first neuron until the JIT has reached its optimised tier
        // (as Program.timeMs: at least 50 calls and 0.5 s), so that the first neurons are not timed in tier-0 code
        match traces with
        | first :: _ ->
            let trace = GradientTrace.load None first
            let x, _ = GradientAnalysis.pooledGradients trace 0
            let study = GradientAnalysis.mixtureOptions options 0L k
            let warm = Stopwatch.StartNew()
            let mutable calls = 0
            while (calls < 50 || warm.ElapsedMilliseconds < 500L) && warm.ElapsedMilliseconds < 20000L do
                GaussianMixture.fit study x |> ignore
                calls <- calls + 1
        | [] -> ()
        for d in traces do
            let trace = GradientTrace.load None d
            for n in 0 .. min trace.Neurons neuronsPerTrace - 1 do
                let x, _ = GradientAnalysis.pooledGradients trace n
                let seed = RandomStreams.forStudy AdamVsRAdamStudy.Name 0L $"{trace.Label}/mixture/neuron {n}"
                let study = GradientAnalysis.mixtureOptions options seed k
                // sklearn's defaults (1 restart, no refinement), on the same standardised data: the per-restart speed
                let single = { study with Restarts = 1; MaxIterations = 100; Refine = None }
                let ms, fit = timed repeats (fun () -> GaussianMixture.fit study x)
                let msSingle, _ = timed repeats (fun () -> GaussianMixture.fit single x)
                let ks = GaussianMixture.ksDistanceSorted fit.Parameters (Array.sort x)
                match sklearn with
                | None ->
                    printfn "  %-14s %6d %8d %14.1f %14s %9s %14s %9s %8.4f %8s %9.1f %9s" trace.Label n x.Length fit.Bic "-" "-" "-" "-" ks "-" ms "-"
                    oursEqual <- oursEqual + ms
                | Some s ->
                    let file = Path.Combine(dir, $"x-{rows.Count}.f64")
                    let bytes = Array.zeroCreate<byte> (8 * x.Length)
                    Buffer.BlockCopy(x, 0, bytes, 0, bytes.Length)
                    File.WriteAllBytes(file, bytes)
                    let def = s.Ask $"fit {file} {k} 1 {repeats}"
                    // the same objective as ours: sklearn's default on the standardised data (floor 1e-6·Var(x))
                    let defZ = s.Ask $"fitz {file} {k} 1 1"
                    let timed = n < timedNeurons
                    let equal = if restarts = 1 || not timed then def else s.Ask $"fit {file} {k} {restarts} {repeats}"
                    let theirBic = def.GetProperty("bic").GetDouble()
                    let theirBicZ = defZ.GetProperty("bic").GetDouble()
                    let theirMs = equal.GetProperty("ms").GetDouble()
                    printfn "  %-14s %6d %8d %14.1f %14.1f %9.1f %14.1f %9.1f %8.4f %8.4f %9.1f %9s" trace.Label n x.Length fit.Bic theirBic (fit.Bic - theirBic)
                        theirBicZ (fit.Bic - theirBicZ) ks (def.GetProperty("ks").GetDouble()) ms (if timed then theirMs.ToString("F1") else "-")
                    sameObjective.Add(fit.Bic - theirBicZ)
                    rows.Add((trace.Label, n, fit.Bic, theirBic, ks, def.GetProperty("ks").GetDouble()))
                    if timed then
                        oursEqual <- oursEqual + ms
                        theirsEqual <- theirsEqual + theirMs
                    oursDefault <- oursDefault + msSingle
                    theirsDefault <- theirsDefault + def.GetProperty("ms").GetDouble()
        printfn ""
        if rows.Count > 0 then
            let deltas = [| for _, _, ours, theirs, _, _ in rows -> ours - theirs |]
            let worse = deltas |> Array.filter (fun d -> d > 0.0) |> Array.length
            printfn "  BIC vs sklearn's default: ours lower (better) on %d of %d neurons, higher on %d; Δ BIC median %.1f, range [%.1f, %.1f]"
                (rows.Count - worse) rows.Count worse (Quantile.median deltas) (Array.min deltas) (Array.max deltas)
            let z = sameObjective.ToArray()
            printfn "  BIC vs sklearn's default on the same standardised data (the same objective, floor 1e-6·Var): ours lower on %d of %d, higher on %d; Δ BIC median %.1f, range [%.1f, %.1f]"
                (z |> Array.filter (fun d -> d <= 0.0) |> Array.length) z.Length (z |> Array.filter (fun d -> d > 0.0) |> Array.length)
                (Quantile.median z) (Array.min z) (Array.max z)
            printfn "  KS distance: ours median %.4f (max %.4f), sklearn's median %.4f (max %.4f)"
                (Quantile.median [| for _, _, _, _, a, _ in rows -> a |]) (rows |> Seq.map (fun (_, _, _, _, a, _) -> a) |> Seq.max)
                (Quantile.median [| for _, _, _, _, _, b in rows -> b |]) (rows |> Seq.map (fun (_, _, _, _, _, b) -> b) |> Seq.max)
            printfn "  speed at equal restarts (%d; ours with its refinement; the first %d neurons of each trace): ours %.0f ms, sklearn n_init=%d %.0f ms in all: %.1f× faster (target ≥ 5×: %s)"
                restarts timedNeurons oursEqual restarts theirsEqual (theirsEqual / oursEqual) (if theirsEqual / oursEqual >= 5.0 then "met" else "NOT met")
            printfn "  speed at sklearn's defaults (1 restart, no refinement): ours %.0f ms, sklearn %.0f ms: %.1f× faster" oursDefault theirsDefault (theirsDefault / oursDefault)
    finally
        sklearn |> Option.iter (fun s -> (s :> IDisposable).Dispose())
        try Directory.Delete(dir, true) with _ -> ()
