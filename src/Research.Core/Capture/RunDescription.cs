using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Research.Core.Data;
using Research.Core.Runtime;
using Research.Core.Training;

namespace Research.Core.Capture;

/// <summary>Builds the "run" object of a trace manifest: what was trained, how, and with what software.</summary>
public static class RunDescription
{
    /// <summary>
    /// Describes a run: model, dataset, batch size, seed, optimizer with every hyperparameter,
    /// schedule, device and software versions (toolkit, TorchSharp, libtorch package, .NET, OS).
    /// </summary>
    /// <param name="model">Architecture description (e.g. <c>Network.Description</c>).</param>
    /// <param name="dataset">Data set description.</param>
    /// <param name="batchSize">Examples per step.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="optimizer">The optimizer (name and hyperparameters are read from it).</param>
    /// <param name="schedule">Learning-rate schedule description, or null for a constant rate.</param>
    /// <param name="runtime">What <see cref="TorchRuntime.Initialize"/> chose.</param>
    /// <param name="extra">Further fields (study name, label …), copied in as strings or numbers.</param>
    public static JsonObject Create(string model, string dataset, int batchSize, long seed, IOptimizer optimizer,
        string? schedule, RuntimeInfo runtime, IReadOnlyDictionary<string, object>? extra = null)
    {
        var hyper = new JsonObject();
        foreach (var (k, v) in optimizer.Hyperparameters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            hyper[k] = ToNode(v);
        var run = new JsonObject
        {
            ["model"] = model,
            ["dataset"] = dataset,
            ["batch_size"] = batchSize,
            ["seed"] = seed,
            ["optimizer"] = new JsonObject { ["name"] = optimizer.Name, ["hyperparameters"] = hyper },
            ["schedule"] = schedule ?? "constant",
            ["device"] = runtime.Device,
            ["threads"] = runtime.Threads,
            ["numerics"] = runtime.Numerics ?? "MKL_CBWR default (results may depend on the thread count)",
            ["software"] = Versions(),
        };
        if (extra != null)
            foreach (var (k, v) in extra) run[k] = ToNode(v);
        return run;
    }

    /// <summary>
    /// Describes a run on a data set: as <see cref="Create(string, string, int, long, IOptimizer, string?, RuntimeInfo, IReadOnlyDictionary{string, object}?)"/>
    /// with the data's description, plus <c>"data_checksums"</c>: each file the data came from with
    /// the MD5 of its uncompressed content, and whether they are MNIST's published sums
    /// (<c>"matches_distribution"</c>), so a trace says exactly which data produced it.
    /// </summary>
    public static JsonObject Create(string model, TensorDataset data, int batchSize, long seed, IOptimizer optimizer,
        string? schedule, RuntimeInfo runtime, IReadOnlyDictionary<string, object>? extra = null)
    {
        var run = Create(model, data.Description, batchSize, seed, optimizer, schedule, runtime, extra);
        var files = new JsonObject();
        foreach (var (name, md5) in data.Checksums.OrderBy(kv => kv.Key, StringComparer.Ordinal)) files[name] = md5;
        run["data_checksums"] = new JsonObject
        {
            ["md5"] = files,
            ["matches_distribution"] = Mnist.MatchesDistribution(data.Checksums),
            ["note"] = data.Checksums.Count == 0 ? "data made in memory: no files" : "MD5 of each file's uncompressed content",
        };
        return run;
    }

    /// <summary>Versions of the toolkit and what it runs on.</summary>
    public static JsonObject Versions() => new()
    {
        ["toolkit"] = typeof(RunDescription).Assembly.GetName().Version?.ToString() ?? "unknown",
        ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
        ["libtorch_package"] = "libtorch-cpu-linux-x64 2.10.0",
        ["dotnet"] = RuntimeInformation.FrameworkDescription,
        ["os"] = RuntimeInformation.OSDescription,
        ["native_loader"] = TorchNative.UsesPatchedCopy ? "patched private copy (GLIBCXX_3.4.32 need marked weak)" : "stock",
    };

    static JsonNode? ToNode(object? v) => v switch
    {
        null => null,
        JsonNode n => n.DeepClone(),
        double d when !double.IsFinite(d) => JsonValue.Create(d.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        double d => JsonValue.Create(d),
        float f => JsonValue.Create((double)f),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        bool b => JsonValue.Create(b),
        string s => JsonValue.Create(s),
        ValueTuple<double, double> t => new JsonArray(t.Item1, t.Item2),
        Tuple<double, double> t => new JsonArray(t.Item1, t.Item2),
        double[] a => new JsonArray(a.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
        _ => JsonValue.Create(v.ToString()),
    };
}
