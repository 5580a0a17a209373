// Test helper for the SIGKILL tests in tests/Research.Core.Tests/TraceTests.fs and CaptureTests.fs.
// Usage: dotnet TraceCrashChild.dll <run directory> <flushEvery> <maxIterations>
//        dotnet TraceCrashChild.dll capture <run directory>   (a small real capture, run to completion:
//        the reproducibility test runs it several times and compares the bytes)
//        dotnet TraceCrashChild.dll native   (loads libtorch; prints where from, or the error, in one line)
//        dotnet TraceCrashChild.dll train <run directory>   (trains an MLP with a TraceRecorder,
//        flushing every 2 iterations, for 100000 steps: the test kills it part-way)
// Writes a deterministic trace as fast as it can: series "block" (kind "gradient", rows 4×16,
// value at iteration t, flat index i = (float)(t * 1000 + i)) and scalar "loss" (t * 0.5, except
// NaN when t % 7 == 3, +inf when t % 11 == 5, -inf when t % 13 == 6, checked in that order). After
// maxIterations it flushes and waits forever without completing, so the trace stays "incomplete"
// whenever the test kills it.
using System.Text.Json.Nodes;
using Research.Core.Capture;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Runtime;
using Research.Core.Training;
using Research.Core.Traces;

if (args.Length == 1 && args[0] == "native")
{
    // The native-cache test: load libtorch under the environment the test set; one line either way.
    try
    {
        TorchRuntime.Initialize(0);
        Console.Out.WriteLine(TorchNative.Description);
        return 0;
    }
    catch (InvalidOperationException e)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
}

if (args.Length == 2 && args[0] == "capture")
{
    // The reproducibility test: the study's 784-512-512-10 MLP, Adam, batch 128, 60 steps on
    // MNIST (generated data when absent), recording the 10x512 gradient block of fc3.weight; a complete trace.
    var runtime = TorchRuntime.Initialize(7);
    var n = 128 * 60;
    MnistSplit split;
    if (Mnist.IsPresent()) split = Mnist.LoadTrain().Take(n); // real data: where thread-dependent rounding showed
    else
    {
        var rng = new Random(3);
        var images = new float[n * MnistSplit.Pixels];
        for (int i = 0; i < images.Length; i++) images[i] = (float)(rng.NextDouble() * 2 - 1);
        split = new MnistSplit(images, Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray(), n, "generated");
    }
    using var data = TensorDataset.FromMnist(split);
    using var model = Architectures.Mlp(new MlpOptions([784, 512, 512, 10]));
    using var optimizer = new Research.Core.Optim.Adam(model.parameters());
    using var recorder = new TraceRecorder(args[1], model, new JsonObject { ["threads"] = runtime.Threads, ["numerics"] = runtime.Numerics },
        [new ParameterRecording("fc3.weight", new IndexRange(0, 10), new IndexRange(0, 512), SecondMoment: false)], flushEvery: 10);
    Trainer.Fit(model, optimizer, data, new TrainOptions(BatchSize: 128, Epochs: 1, MaxSteps: 60, Seed: 7, EvaluateEachEpoch: false),
        observers: [recorder]);
    recorder.Complete();
    Console.Out.WriteLine($"threads {runtime.Threads}; {runtime.Numerics}");
    return 0;
}

if (args.Length == 2 && args[0] == "train")
{
    TorchRuntime.Initialize(0);
    var n = 256;
    var rng = new Random(1);
    var images = new float[n * MnistSplit.Pixels];
    for (int i = 0; i < images.Length; i++) images[i] = (float)rng.NextDouble();
    var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
    using var data = TensorDataset.FromMnist(new MnistSplit(images, labels, n, "generated"));
    using var model = Architectures.Mlp(new MlpOptions([784, 32, 10]));
    var optimizer = new TorchSharpOptimizer("SGD", TorchSharp.torch.optim.SGD(model.parameters(), 0.01));
    using var recorder = new TraceRecorder(args[1], model, new JsonObject { ["purpose"] = "SIGKILL during capture" },
        [new ParameterRecording("fc2.weight", SecondMoment: false)], flushEvery: 2);
    Console.Out.WriteLine("training");
    Trainer.Fit(model, optimizer, data, new TrainOptions(BatchSize: 16, Epochs: int.MaxValue, MaxSteps: 100_000), observers: [recorder]);
    return 0;
}

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: TraceCrashChild <run directory> <flushEvery> <maxIterations>");
    return 2;
}
string dir = args[0];
int flushEvery = int.Parse(args[1]);
long maxIterations = long.Parse(args[2]);

var writer = TraceWriter.Create(dir, new JsonObject { ["purpose"] = "SIGKILL test", ["seed"] = 0 }, flushEvery: flushEvery);
var block = writer.AddSeries("block", "gradient", [4, 16], source: "synthetic", slice: "[0:4, 0:16]", firstIteration: 0);
var loss = writer.AddScalar("loss", firstIteration: 0);
var row = new float[64];
for (long t = 0; t < maxIterations; t++)
{
    for (int i = 0; i < row.Length; i++) row[i] = (float)(t * 1000 + i);
    writer.Append(block, t, row);
    writer.Append(loss, t, LossAt(t));
}
writer.Flush();
Console.Out.WriteLine("all written; waiting to be killed");
Thread.Sleep(Timeout.Infinite);
return 0;

static float LossAt(long t) =>
    t % 7 == 3 ? float.NaN : t % 11 == 5 ? float.PositiveInfinity : t % 13 == 6 ? float.NegativeInfinity : t * 0.5f;
