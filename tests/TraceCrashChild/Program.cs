// Test helper for the SIGKILL test in tests/Research.Core.Tests/TraceTests.fs.
// Usage: dotnet TraceCrashChild.dll <run directory> <flushEvery> <maxIterations>
// Writes a deterministic trace as fast as it can: series "block" (kind "gradient", rows 4×16,
// value at iteration t, flat index i = (float)(t * 1000 + i)) and scalar "loss" (t * 0.5, except
// NaN when t % 7 == 3, +inf when t % 11 == 5, -inf when t % 13 == 6, checked in that order). After
// maxIterations it flushes and waits forever without completing, so the trace stays "incomplete"
// whenever the test kills it.
using System.Text.Json.Nodes;
using Research.Core.Traces;

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
