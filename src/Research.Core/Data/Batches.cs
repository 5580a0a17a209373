using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Data;

/// <summary>What the targets of a <see cref="TensorDataset"/> are.</summary>
public enum TargetKind
{
    /// <summary>Integer class labels, int64 [N] (classification: cross-entropy).</summary>
    ClassLabels,

    /// <summary>Floating-point values, [N, d] (regression: mean squared error).</summary>
    Values,
}

/// <summary>
/// A data set held as two tensors (inputs [N, …] float32; targets either integer class labels [N]
/// or floating-point values [N, d]) from which mini-batches are cut in a seeded order. The order of
/// epoch e is a Fisher–Yates shuffle driven by <c>new Random(DeriveSeed(seed, "batch-order/e"))</c>,
/// so a seed fixes every batch exactly, independently of torch's generator.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    /// <summary>Inputs, [N, …], on <see cref="Device"/>.</summary>
    public Tensor Inputs { get; }

    /// <summary>Targets on <see cref="Device"/>: class labels as int64 [N]
    /// (<see cref="TargetKind.ClassLabels"/>) or values [N, d] (<see cref="TargetKind.Values"/>).</summary>
    public Tensor Targets { get; }

    /// <summary>Whether the targets are class labels or values (from their dtype).</summary>
    public TargetKind TargetKind { get; }

    /// <summary>Number of examples.</summary>
    public int Count { get; }

    /// <summary>The device both tensors live on.</summary>
    public Device Device { get; }

    /// <summary>A short description for manifests ("MNIST train, 60000 examples").</summary>
    public string Description { get; }

    /// <summary>The files the data came from with the MD5 of each (empty for data made in memory);
    /// <see cref="Capture.RunDescription"/> writes them into every manifest of a run on this data.</summary>
    public IReadOnlyDictionary<string, string> Checksums { get; init; } = new Dictionary<string, string>();

    /// <summary>Wraps existing tensors (the dataset takes ownership and disposes them). Integer targets
    /// are class labels and must be 1-D [N]; floating-point targets are values and must be 2-D [N, d].</summary>
    /// <param name="inputs">Inputs [N, …].</param>
    /// <param name="targets">Class labels [N] (integer dtype) or values [N, d] (floating dtype).</param>
    /// <param name="description">A short description for manifests.</param>
    /// <exception cref="ArgumentException">Row counts differ, or the targets' dtype or shape fits neither kind.</exception>
    public TensorDataset(Tensor inputs, Tensor targets, string description)
    {
        if (inputs.shape[0] != targets.shape[0])
            throw new ArgumentException($"inputs has {inputs.shape[0]} rows but targets has {targets.shape[0]}.", nameof(targets));
        string shape = "[" + string.Join(", ", targets.shape) + "]";
        if (targets.dtype != ScalarType.Bool && torch.is_integral(targets.dtype))
        {
            if (targets.dim() != 1)
                throw new ArgumentException(
                    $"targets: class labels ({targets.dtype}) must have shape [N], got {shape}. Flatten them, or give " +
                    "floating-point values [N, d] for regression.", nameof(targets));
            TargetKind = TargetKind.ClassLabels;
        }
        else if (torch.is_floating_point(targets))
        {
            if (targets.dim() != 2)
                throw new ArgumentException(
                    $"targets: regression values ({targets.dtype}) must have shape [N, d], got {shape}. " +
                    "Reshape a vector of N values to [N, 1].", nameof(targets));
            TargetKind = TargetKind.Values;
        }
        else
            throw new ArgumentException(
                $"targets: expected integer class labels [N] or floating-point values [N, d], got {targets.dtype} {shape}.",
                nameof(targets));
        Inputs = inputs;
        Targets = targets;
        Count = (int)inputs.shape[0];
        Device = inputs.device;
        Description = description;
    }

    /// <summary>A regression data set from arrays: inputs [N, k] and target values [N, d], as float32 on
    /// <paramref name="device"/> (CPU by default).</summary>
    /// <param name="inputs">One row per example, N ≥ 1 rows of k ≥ 1 values.</param>
    /// <param name="targets">One row per example, N rows of d ≥ 1 values.</param>
    /// <param name="description">A short description for manifests.</param>
    /// <param name="device">Where the tensors live (null: CPU).</param>
    /// <exception cref="ArgumentException">Empty arrays or different row counts.</exception>
    public static TensorDataset ForRegression(float[,] inputs, float[,] targets, string description = "regression data",
        Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        int n = inputs.GetLength(0), k = inputs.GetLength(1), m = targets.GetLength(0), d = targets.GetLength(1);
        if (n < 1 || k < 1)
            throw new ArgumentException($"inputs: expected at least one row and one column, got [{n}, {k}].", nameof(inputs));
        if (m != n || d < 1)
            throw new ArgumentException(
                $"targets: expected {n} rows (one per input row) of at least one value, got [{m}, {d}].", nameof(targets));
        Runtime.TorchNative.EnsureLoaded();
        device ??= CPU;
        var x = torch.tensor(Flatten(inputs), [n, k], dtype: ScalarType.Float32).to(device);
        var y = torch.tensor(Flatten(targets), [n, d], dtype: ScalarType.Float32).to(device);
        return new TensorDataset(x, y, $"{description} ({n} examples, {k} inputs, {d} targets)");
    }

    static float[] Flatten(float[,] a)
    {
        var flat = new float[a.Length];
        Buffer.BlockCopy(a, 0, flat, 0, a.Length * sizeof(float));
        return flat;
    }

    /// <summary>An MNIST split as [N, 784] (flat) or [N, 1, 28, 28] (images) on a device.</summary>
    public static TensorDataset FromMnist(MnistSplit split, Device? device = null, bool flat = true, string? name = null)
    {
        Runtime.TorchNative.EnsureLoaded();
        device ??= CPU;
        long[] shape = flat ? [split.Count, MnistSplit.Pixels] : [split.Count, 1, 28, 28];
        var x = torch.tensor(split.Images, shape, dtype: ScalarType.Float32).to(device);
        var y = torch.tensor(split.Labels.Select(b => (long)b).ToArray(), [split.Count], dtype: ScalarType.Int64).to(device);
        return new TensorDataset(x, y, $"{name ?? "MNIST"} ({split.Count} examples from {Path.GetFileName(split.Source)})")
        {
            Checksums = split.Checksums,
        };
    }

    /// <summary>The example order of one epoch (a permutation of 0..N−1 fixed by seed and epoch).</summary>
    public static int[] EpochOrder(int count, long seed, int epoch, bool shuffle = true)
    {
        var order = Enumerable.Range(0, count).ToArray();
        if (!shuffle) return order;
        var rng = new Random(unchecked((int)Runtime.TorchRuntime.DeriveSeed(seed, $"batch-order/{epoch}")));
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>
    /// The mini-batches of one epoch as index arrays. The last, smaller batch is kept unless
    /// <paramref name="dropLast"/> (PyTorch DataLoader semantics).
    /// </summary>
    public IEnumerable<int[]> BatchIndices(int batchSize, long seed, int epoch, bool shuffle = true, bool dropLast = false)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected a batch size ≥ 1.");
        var order = EpochOrder(Count, seed, epoch, shuffle);
        for (int start = 0; start < Count; start += batchSize)
        {
            int len = Math.Min(batchSize, Count - start);
            if (len < batchSize && dropLast) yield break;
            yield return order[start..(start + len)];
        }
    }

    /// <summary>Gathers the examples at <paramref name="indices"/> (new tensors; dispose them or use a dispose scope).</summary>
    public (Tensor inputs, Tensor targets) Gather(int[] indices)
    {
        using var idx = torch.tensor(indices.Select(i => (long)i).ToArray(), dtype: ScalarType.Int64, device: Device);
        return (Inputs.index_select(0, idx), Targets.index_select(0, idx));
    }

    /// <summary>Disposes the two tensors.</summary>
    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
    }
}
