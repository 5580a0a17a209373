// Benchmark (not a test): the cost of recording during training, as a share of a training step of the
// 784-512-512-10 ReLU MLP at batch 128 on MNIST with Adam. Per intra-op thread count (1 and 2, through
// TorchThreads.Use) and round, it trains once per variant, interleaved (round r: 1 thread: A B C, then
// 2 threads: A B C; the next round starts again), in the same process:
//   - no recording;
//   - the global gradient norm alone (an observer that reads StepContext.GradientNorm every step);
//   - the study's recording (AdamVsRAdamCapture.CreateRecorder: the 10x512 block of fc3.weight's
//     gradient and exp_avg_sq, loss, lr, flushed every 10 iterations), with the record window
//     covering every timed step (the study's worst case: inside its first 100 iterations);
//   - the same with the global gradient norm (gradientNorm = true: what the study recorded before).
// The order rotates from round to round (below). Each run does `warmup` untimed steps and then times `steps` whole steps (from one step's
// after-backward to the after-backward `steps` steps later). Per round, the overhead is the variant's
// mean step time over the no-recording run's in the same round and thread count; the table gives the
// medians over rounds of the step times and of these paired ratios.
//   dotnet build Research.sln -c Release && dotnet fsi bench/capture.fsx [steps] [rounds] [all]
// "all" adds the study's recording without a flush in the timed steps (what the flushes cost) and the
// older variants (whole output layer; the 512x512 fc2.weight gradient).
#r "../src/Research.Core/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Research.Core/bin/Release/net10.0/Research.Core.dll"

open System
open System.IO
open System.Diagnostics
open System.Text.Json.Nodes
open Research.Core.Runtime
open Research.Core.Data
open Research.Core.Models
open Research.Core.Training
open Research.Core.Capture
open Research.Core.Studies.AdamVsRAdam

let args = fsi.CommandLineArgs |> Array.skip 1
let steps = if args.Length > 0 then int args[0] else 150
let rounds = if args.Length > 1 then int args[1] else 7
let all = args.Length > 2 && args[2] = "all"
let warmup = 20
let threadCounts = [ 1; 2 ]

let runtime = TorchRuntime.Initialize(0L, "cpu")
printfn "capture benchmark: %s, MNIST batch 128, %d warm-up + %d timed steps x %d rounds, threads %A" (string runtime) warmup steps rounds threadCounts
let train = TensorDataset.FromMnist(Mnist.LoadTrain(), name = "MNIST train")
let traceRoot = Path.Combine(Path.GetTempPath(), "research-capture-bench-" + Guid.NewGuid().ToString("N"))

type Recording =
    | Nothing
    | GradNormOnly
    | Study
    | StudyWithNorm
    | Recorder of ParameterRecording list
    | StudyUnflushed

type Variant = { Name: string; Recording: Recording }
let variants =
    [ { Name = "no recording"; Recording = Nothing }
      { Name = "grad-norm alone"; Recording = GradNormOnly }
      { Name = "study's recording (block grad + exp_avg_sq, loss, lr)"; Recording = Study }
      { Name = "the same + grad norm (the study's recording before)"; Recording = StudyWithNorm } ]
    @ (if not all then []
       else
           [ { Name = "study's recording, no flush in the timed steps"; Recording = StudyUnflushed }
             { Name = "whole output layer (fc3 weight+bias: grad, value, exp_avg_sq)"
               Recording = Recorder [ ParameterRecording("fc3.weight", Value = true, SecondMoment = true)
                                      ParameterRecording("fc3.bias", Value = true, SecondMoment = true) ] }
             { Name = "fc2.weight 512x512 (gradient)"; Recording = Recorder [ ParameterRecording("fc2.weight") ] } ])

/// Delegates to an observer and adds up the time spent in its step callbacks, from the timed steps on.
type TimedObserver(inner: TrainingObserver, from: int64) =
    inherit TrainingObserver()
    let watch = Stopwatch()
    member _.Elapsed = watch.Elapsed
    override _.OnStart(ctx: StepContext) = inner.OnStart ctx
    override _.OnAfterBackward(step) =
        if step.Iteration >= from then watch.Start()
        inner.OnAfterBackward step
        watch.Stop()
    override _.OnAfterStep(step) =
        if step.Iteration >= from then watch.Start()
        inner.OnAfterStep step
        watch.Stop()
    override _.OnEnd(history) = inner.OnEnd history

let config = AdamVsRAdamConfig(RecordIterations = warmup + steps + 1)
let mutable sink = 0.0

let median (xs: seq<float>) =
    let a = Seq.sort xs |> Array.ofSeq
    if a.Length % 2 = 1 then a[a.Length / 2] else 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2])

/// Steps per block: the recorder's flush interval, so that every block holds one flush.
let block = 10

/// One run: mean seconds per timed step, the median over its blocks of `block` steps of the seconds per
/// step, the share of the time spent inside the recording observer, gen-0 collections and bytes allocated
/// per step (all threads) during the timed steps.
type RunTime = { Mean: float; BlockMedian: float; Inside: float; Gcs: int; AllocatedPerStep: float }

let timeOne (v: Variant) (threads: int) (round: int) =
    use _ = TorchThreads.Use threads
    TorchRuntime.Seed 0L
    use model = Architectures.Mlp MlpOptions.AdamVsRAdam
    use adam = new Research.Core.Optim.Adam(model.parameters(), 1e-3)
    let first = int64 warmup + 1L
    let last = first + int64 steps
    // a timestamp at each after-backward from first to last: steps + 1 stamps, steps step times
    let stamps = Array.zeroCreate<int64> (steps + 1)
    let mutable gcBefore = 0
    let mutable allocBefore = 0L
    let mutable gcs = 0
    let mutable allocated = 0L
    let timer =
        { new TrainingObserver() with
            override _.OnAfterBackward(step) =
                let i = step.Iteration - first
                if i >= 0L && i <= int64 steps then stamps[int i] <- Stopwatch.GetTimestamp()
                if i = 0L then
                    gcBefore <- GC.CollectionCount 0
                    allocBefore <- GC.GetTotalAllocatedBytes false
                elif i = int64 steps then
                    gcs <- GC.CollectionCount 0 - gcBefore
                    allocated <- GC.GetTotalAllocatedBytes false - allocBefore }
    let dir = Path.Combine(traceRoot, $"r{round}-t{threads}-{abs (v.Name.GetHashCode())}")
    let recorder =
        match v.Recording with
        | Nothing | GradNormOnly -> None
        | Study -> Some(AdamVsRAdamCapture.CreateRecorder(config, dir, model, JsonObject()))
        | StudyWithNorm -> Some(AdamVsRAdamCapture.CreateRecorder(config, dir, model, JsonObject(), gradientNorm = true))
        | Recorder specs -> Some(new TraceRecorder(dir, model, JsonObject(), specs, overwrite = true))
        | StudyUnflushed ->
            // the study's series with a flush interval longer than the run: no header rewrite and no
            // manifest during the timed steps (rows still go to disk when a series' write buffer fills)
            Some(new TraceRecorder(dir, model, JsonObject(),
                                   [ ParameterRecording("fc3.weight", IndexRange(0, 10), IndexRange(0, 512), 1L, Nullable(), 1, false, true) ],
                                   flushEvery = 100000, overwrite = true, gradientNorm = false))
    let recording: TrainingObserver option =
        match v.Recording, recorder with
        | GradNormOnly, _ -> Some { new TrainingObserver() with override _.OnAfterBackward(step) = sink <- sink + step.GradientNorm }
        | _, Some r -> Some r
        | _ -> None
    // The timed steps run from first's after-backward up to last's: the callbacks of first .. last - 1.
    let timed = recording |> Option.map (fun o -> TimedObserver(o, first))
    let observers: TrainingObserver list = timer :: (timed |> Option.map (fun t -> t :> TrainingObserver) |> Option.toList)
    try
        Trainer.Fit(model, adam, train, TrainOptions(BatchSize = 128, Epochs = 10, MaxSteps = Nullable last, Seed = 0L, EvaluateEachEpoch = false),
                    observers = observers) |> ignore
    finally
        recorder |> Option.iter (fun r -> (r :> IDisposable).Dispose())
    let inside = match timed with Some t -> t.Elapsed.TotalSeconds | None -> 0.0
    // the last step's after-backward callback ran after the last stamp: leave one step's share out
    let inside = inside * float steps / float (steps + 1)
    let seconds (a: int64) (b: int64) = float (b - a) / float Stopwatch.Frequency
    let total = seconds stamps[0] stamps[steps]
    // blocks of `block` whole steps (one manifest flush in each): their median is the run's robust step time
    let blockTimes = [| for b in 0 .. steps / block - 1 -> seconds stamps[b * block] stamps[(b + 1) * block] / float block |]
    { Mean = total / float steps; BlockMedian = median blockTimes; Inside = inside / (total - inside)
      Gcs = gcs; AllocatedPerStep = float allocated / float steps }

// runs[(threads, variant)] = one RunTime per round
let runs = Collections.Generic.Dictionary<int * int, Collections.Generic.List<RunTime>>()
// The order rotates from round to round (thread counts alternate, variants shift by one), so that no
// variant always runs first after a change of thread count or last before one.
for round in 1 .. rounds do
    let threadOrder = if round % 2 = 1 then threadCounts else List.rev threadCounts
    for threads in threadOrder do
        let n = List.length variants
        for k in 0 .. n - 1 do
            let i = (k + round - 1) % n
            let v = variants[i]
            let r = timeOne v threads round
            if not (runs.ContainsKey((threads, i))) then runs[(threads, i)] <- Collections.Generic.List()
            runs[(threads, i)].Add r
    eprintf "."
eprintfn ""
/// The p-quantile of xs (linear interpolation between order statistics, as numpy's default).
let quantile (p: float) (xs: float[]) =
    let a = Array.sort xs
    let h = p * float (a.Length - 1)
    let lo = int (floor h)
    let hi = min (lo + 1) (a.Length - 1)
    a[lo] + (h - float lo) * (a[hi] - a[lo])
for threads in threadCounts do
    printfn "%d thread(s):" threads
    printfn "  %-56s %8s %8s %24s %24s %8s %9s %9s" "variant" "ms/step" "block ms" "overhead: mean (IQR)" "overhead: block (IQR)" "inside" "GC/100st" "KB/step"
    let baseRuns = runs[(threads, 0)]
    for i, v in List.indexed variants do
        let rs = runs[(threads, i)]
        let paired (f: RunTime -> float) =
            let ratios = Seq.map2 (fun (x: RunTime) (b: RunTime) -> 100.0 * (f x / f b - 1.0)) rs baseRuns |> Array.ofSeq
            if i = 0 then "" else sprintf "%+.1f%% (%+.1f .. %+.1f)" (median ratios) (quantile 0.25 ratios) (quantile 0.75 ratios)
        printfn "  %-56s %8.2f %8.2f %24s %24s %7.1f%% %9.1f %9.1f" v.Name
            (1e3 * median (rs |> Seq.map _.Mean)) (1e3 * median (rs |> Seq.map _.BlockMedian))
            (paired _.Mean) (paired _.BlockMedian) (100.0 * median (rs |> Seq.map _.Inside))
            (100.0 * median (rs |> Seq.map (fun r -> float r.Gcs)) / float steps) (median (rs |> Seq.map _.AllocatedPerStep) / 1024.0)
printfn "ms/step: median over rounds of the run's mean step time; block ms: of the median over the run's blocks of %d steps (one flush each)." block
printfn "overhead: median (and interquartile range) over rounds of (variant / no recording in the same round and thread count) - 1,"
printfn "  by the mean step time and by the block median (robust to a transient slowdown of the machine, keeps the per-flush cost)."
printfn "inside: median over rounds of the time inside the recording observer's callbacks over the rest of the same steps."
printfn "GC/100st: gen-0 collections per 100 timed steps; KB/step: managed bytes allocated per timed step (all threads)."
printfn "target: the study's recording <= 5%% of a training step."
try Directory.Delete(traceRoot, true) with _ -> ()
