using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Data;

/// <summary>
/// A data set held as two tensors (inputs [N, …] float32 and integer class targets [N]) from which
/// mini-batches are cut in a seeded order. The order of epoch e is a Fisher–Yates shuffle driven by
/// <c>new Random(DeriveSeed(seed, "batch-order/e"))</c>, so a seed fixes every batch exactly,
/// independently of torch's generator.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    /// <summary>Inputs, [N, …], on <see cref="Device"/>.</summary>
    public Tensor Inputs { get; }

    /// <summary>Class labels as int64, [N], on <see cref="Device"/>.</summary>
    public Tensor Targets { get; }

    /// <summary>Number of examples.</summary>
    public int Count { get; }

    /// <summary>The device both tensors live on.</summary>
    public Device Device { get; }

    /// <summary>A short description for manifests ("MNIST train, 60000 examples").</summary>
    public string Description { get; }

    /// <summary>Wraps existing tensors (the dataset takes ownership and disposes them).</summary>
    public TensorDataset(Tensor inputs, Tensor targets, string description)
    {
        if (inputs.shape[0] != targets.shape[0])
            throw new ArgumentException($"inputs has {inputs.shape[0]} rows but targets has {targets.shape[0]}.", nameof(targets));
        Inputs = inputs;
        Targets = targets;
        Count = (int)inputs.shape[0];
        Device = inputs.device;
        Description = description;
    }

    /// <summary>An MNIST split as [N, 784] (flat) or [N, 1, 28, 28] (images) on a device.</summary>
    public static TensorDataset FromMnist(MnistSplit split, Device? device = null, bool flat = true, string? name = null)
    {
        Runtime.TorchNative.EnsureLoaded();
        device ??= CPU;
        long[] shape = flat ? [split.Count, MnistSplit.Pixels] : [split.Count, 1, 28, 28];
        var x = torch.tensor(split.Images, shape, dtype: ScalarType.Float32).to(device);
        var y = torch.tensor(split.Labels.Select(b => (long)b).ToArray(), [split.Count], dtype: ScalarType.Int64).to(device);
        return new TensorDataset(x, y, $"{name ?? "MNIST"} ({split.Count} examples from {Path.GetFileName(split.Source)})");
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
