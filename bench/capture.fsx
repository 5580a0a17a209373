// Benchmark (not a test): iterations per second of the 784-512-512-10 ReLU MLP at batch 128 on
// MNIST with Adam, without recording, recording the 10x512 gradient block of fc3.weight every
// iteration, recording the whole output layer (fc3.weight and fc3.bias: gradient, value and
// exp_avg_sq) every iteration, and recording the 512x512 fc2.weight gradient. Each variant runs
// `steps` steps after `warmup` untimed steps, rounds alternate between variants, and the median
// round is reported.
//   dotnet build Research.sln -c Release && dotnet fsi bench/capture.fsx [steps] [rounds]
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

let args = fsi.CommandLineArgs |> Array.skip 1
let steps = if args.Length > 0 then int args[0] else 300
let rounds = if args.Length > 1 then int args[1] else 3
let warmup = 20

let runtime = TorchRuntime.Initialize(0L, "cpu")
printfn "capture benchmark: %s, MNIST batch 128, %d timed steps x %d rounds" (string runtime) steps rounds
let train = TensorDataset.FromMnist(Mnist.LoadTrain(), name = "MNIST train")
let traceRoot = Path.Combine(Path.GetTempPath(), "research-capture-bench-" + Guid.NewGuid().ToString("N"))

type Variant = { Name: string; Recordings: ParameterRecording list; GradNorm: bool }
let variants =
    [ { Name = "no recording"; Recordings = []; GradNorm = false }
      { Name = "10x512 block of fc3.weight (gradient) + loss, lr"
        Recordings = [ ParameterRecording("fc3.weight", IndexRange(0, 10), IndexRange(0, 512)) ]; GradNorm = false }
      { Name = "10x512 block + loss, lr, global gradient norm"
        Recordings = [ ParameterRecording("fc3.weight", IndexRange(0, 10), IndexRange(0, 512)) ]; GradNorm = true }
      { Name = "whole output layer (fc3 weight+bias: grad, value, exp_avg_sq)"
        Recordings = [ ParameterRecording("fc3.weight", Value = true, SecondMoment = true)
                       ParameterRecording("fc3.bias", Value = true, SecondMoment = true) ]; GradNorm = true }
      { Name = "fc2.weight 512x512 (gradient)"; Recordings = [ ParameterRecording("fc2.weight") ]; GradNorm = true } ]

/// Delegates to a recorder and adds up the time spent in its callbacks (including flushes).
type TimedRecorder(inner: TraceRecorder) =
    inherit TrainingObserver()
    let watch = Stopwatch()
    member _.Elapsed = watch.Elapsed
    member _.Inner = inner
    override _.OnAfterBackward(step) = watch.Start(); inner.OnAfterBackward step; watch.Stop()
    override _.OnAfterStep(step) = watch.Start(); inner.OnAfterStep step; watch.Stop()
    override _.OnEnd(history) = watch.Start(); inner.OnEnd history; watch.Stop()

let recorderSeconds = Collections.Generic.Dictionary<string, Collections.Generic.List<float>>()

let timeOne (v: Variant) (round: int) =
    TorchRuntime.Seed 0L
    use model = Architectures.Mlp MlpOptions.AdamVsRAdam
    use adam = new Research.Core.Optim.Adam(model.parameters(), 1e-3)
    let clock = Stopwatch()
    let timer =
        { new TrainingObserver() with
            override _.OnAfterBackward(step) = if step.Iteration = int64 warmup + 1L then clock.Restart() }
    let observers: TrainingObserver list =
        if v.Recordings.IsEmpty then [ timer ]
        else
            let dir = Path.Combine(traceRoot, $"r{round}-{abs (v.Name.GetHashCode())}")
            [ timer; TimedRecorder(new TraceRecorder(dir, model, JsonObject(), v.Recordings, overwrite = true, gradientNorm = v.GradNorm)) ]
    // The timer starts at the first timed step's backward: forward+backward of that step are
    // excluded, so measure steps + 1 and count steps.
    Trainer.Fit(model, adam, train, TrainOptions(BatchSize = 128, Epochs = 10, MaxSteps = Nullable(int64 (warmup + steps + 1)), Seed = 0L),
                observers = observers) |> ignore
    clock.Stop()
    for o in observers do
        match o with
        | :? TimedRecorder as t ->
            if not (recorderSeconds.ContainsKey v.Name) then recorderSeconds[v.Name] <- Collections.Generic.List()
            recorderSeconds[v.Name].Add(t.Elapsed.TotalSeconds / float (warmup + steps + 1))
            (t.Inner :> IDisposable).Dispose()
        | _ -> ()
    float steps / clock.Elapsed.TotalSeconds

let results = Array.init variants.Length (fun _ -> Collections.Generic.List<float>())
for round in 1 .. rounds do
    for i, v in List.indexed variants do
        results[i].Add(timeOne v round)
let median (xs: seq<float>) = let a = Seq.sort xs |> Array.ofSeq in a[a.Length / 2]
let baseline = median results[0]
printfn "%-64s %8s %10s %14s %16s" "variant" "it/s" "overhead" "recorder/iter" "recorder/step"
for i, v in List.indexed variants do
    let m = median results[i]
    let r = match recorderSeconds.TryGetValue v.Name with | true, xs -> median xs | _ -> 0.0
    // recorder/step: time inside the recorder's callbacks over the time of one unrecorded step.
    printfn "%-64s %8.1f %9.1f%% %11.1f µs %15.1f%%" v.Name m (100.0 * (baseline / m - 1.0)) (1e6 * r) (100.0 * r * baseline)
printfn "target: overhead of the 10x512 block <= 5%% on CPU. 'overhead' compares throughput between rounds (noisy on a"
printfn "shared 2-core machine); 'recorder/step' is the time spent inside the recorder per iteration over an unrecorded step."
try Directory.Delete(traceRoot, true) with _ -> ()
