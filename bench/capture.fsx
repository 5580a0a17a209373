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
// Each run does `warmup` untimed steps and then times `steps` whole steps (from one step's
// after-backward to the after-backward `steps` steps later). Per round, the overhead is the variant's
// mean step time over the no-recording run's in the same round and thread count; the table gives the
// medians over rounds of the step times and of these paired ratios.
//   dotnet build Research.sln -c Release && dotnet fsi bench/capture.fsx [steps] [rounds] [all]
// "all" adds the older variants (whole output layer; the 512x512 fc2.weight gradient).
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

type Variant = { Name: string; Recording: Recording }
let variants =
    [ { Name = "no recording"; Recording = Nothing }
      { Name = "grad-norm alone"; Recording = GradNormOnly }
      { Name = "study's recording (block grad + exp_avg_sq, loss, lr)"; Recording = Study }
      { Name = "the same + grad norm (the study's recording before)"; Recording = StudyWithNorm } ]
    @ (if not all then []
       else
           [ { Name = "whole output layer (fc3 weight+bias: grad, value, exp_avg_sq)"
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

/// Mean seconds per timed step of one run, and the share of it spent inside the recording observer.
let timeOne (v: Variant) (threads: int) (round: int) =
    use _ = TorchThreads.Use threads
    TorchRuntime.Seed 0L
    use model = Architectures.Mlp MlpOptions.AdamVsRAdam
    use adam = new Research.Core.Optim.Adam(model.parameters(), 1e-3)
    let clock = Stopwatch()
    let first = int64 warmup + 1L
    let last = first + int64 steps
    let timer =
        { new TrainingObserver() with
            override _.OnAfterBackward(step) =
                if step.Iteration = first then clock.Restart()
                elif step.Iteration = last then clock.Stop() }
    let dir = Path.Combine(traceRoot, $"r{round}-t{threads}-{abs (v.Name.GetHashCode())}")
    let recorder =
        match v.Recording with
        | Nothing | GradNormOnly -> None
        | Study -> Some(AdamVsRAdamCapture.CreateRecorder(config, dir, model, JsonObject()))
        | StudyWithNorm -> Some(AdamVsRAdamCapture.CreateRecorder(config, dir, model, JsonObject(), gradientNorm = true))
        | Recorder specs -> Some(new TraceRecorder(dir, model, JsonObject(), specs, overwrite = true))
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
    // the last step's after-backward callback ran after the clock stopped: leave one step's share out
    let inside = inside * float steps / float (steps + 1)
    clock.Elapsed.TotalSeconds / float steps, inside / (clock.Elapsed.TotalSeconds - inside)

// times[threads][variant] = per-round seconds per step
let times = Collections.Generic.Dictionary<int * int, Collections.Generic.List<float>>()
// shares[threads][variant] = per-round time inside the recording observer / the rest of the step
let shares = Collections.Generic.Dictionary<int * int, Collections.Generic.List<float>>()
for round in 1 .. rounds do
    for threads in threadCounts do
        for i, v in List.indexed variants do
            let s, share = timeOne v threads round
            if not (times.ContainsKey((threads, i))) then
                times[(threads, i)] <- Collections.Generic.List()
                shares[(threads, i)] <- Collections.Generic.List()
            times[(threads, i)].Add s
            shares[(threads, i)].Add share
    eprintf "."
eprintfn ""
let median (xs: seq<float>) =
    let a = Seq.sort xs |> Array.ofSeq
    if a.Length % 2 = 1 then a[a.Length / 2] else 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2])
for threads in threadCounts do
    printfn "%d thread(s):" threads
    printfn "  %-56s %9s %10s %20s %10s" "variant" "ms/step" "overhead" "overhead range" "inside"
    let baseRounds = times[(threads, 0)]
    for i, v in List.indexed variants do
        let xs = times[(threads, i)]
        let ratios = Seq.map2 (fun (x: float) (b: float) -> 100.0 * (x / b - 1.0)) xs baseRounds |> Array.ofSeq
        let range = if i = 0 then "" else sprintf "%+.1f .. %+.1f%%" (Array.min ratios) (Array.max ratios)
        printfn "  %-56s %9.2f %9.1f%% %20s %9.1f%%" v.Name (1e3 * median xs) (median ratios) range (100.0 * median shares[(threads, i)])
printfn "overhead: median over rounds of (variant / no recording in the same round and thread count) - 1."
printfn "inside: median over rounds of the time inside the recording observer's callbacks over the rest of the same steps."
printfn "target: the study's recording <= 5%% of a training step."
try Directory.Delete(traceRoot, true) with _ -> ()
