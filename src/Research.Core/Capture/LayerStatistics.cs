using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Capture;

/// <summary>
/// One Linear layer's statistics for one batch: the spread of its input h (the forward pass) and of
/// ∂L/∂h (the backward pass), its pre-activation, its weight and the weight's gradient. Spreads are
/// population standard deviations (ddof = 0) over all batch × unit entries, computed in float64, as
/// <c>init_variance.json</c> defines them.
/// </summary>
/// <param name="Name">The layer's name in the network ("fc1").</param>
/// <param name="Index">0-based position among the network's Linear layers.</param>
/// <param name="InFeatures">Input width.</param>
/// <param name="OutFeatures">Output width.</param>
/// <param name="InputMean">Mean of the layer's input h (for the first layer: the batch itself).</param>
/// <param name="InputStd">Std of h.</param>
/// <param name="InputRms">Root mean square of h, √mean(h²): ‖h‖/√units averaged over the batch in the
/// square, so the ratio of two layers' RMS of equal width is the ratio of their activation norms.</param>
/// <param name="OutputStd">Std of the layer's output (the pre-activation W h + b).</param>
/// <param name="InputGradientStd">Std of ∂L/∂h, the exact gradient with respect to the layer's input.</param>
/// <param name="WeightStd">Std of the weight matrix's entries.</param>
/// <param name="WeightGradientStd">Std of ∂L/∂W's entries.</param>
/// <param name="WeightGradientNorm">Frobenius norm of ∂L/∂W.</param>
/// <param name="WeightGradientMedianAbs">Median of |∂L/∂W| over the entries (torch.median: the lower
/// of the two middle values for an even count).</param>
public sealed record LinearLayerStatistics(
    string Name,
    int Index,
    long InFeatures,
    long OutFeatures,
    double InputMean,
    double InputStd,
    double InputRms,
    double OutputStd,
    double InputGradientStd,
    double WeightStd,
    double WeightGradientStd,
    double WeightGradientNorm,
    double WeightGradientMedianAbs);

/// <summary>The per-layer statistics of one forward and backward pass of a network on one batch.</summary>
/// <param name="Network">The network's description.</param>
/// <param name="BatchSize">Examples in the batch.</param>
/// <param name="Loss">Mean cross-entropy of the batch (NaN or ∞ when the network's output is).</param>
/// <param name="Layers">One entry per Linear layer, in layer order.</param>
public sealed record NetworkStatistics(string Network, int BatchSize, double Loss, IReadOnlyList<LinearLayerStatistics> Layers);

/// <summary>
/// Per-layer statistics of a network at its current weights: what the initialisation seminar printed
/// with a forward hook (the std of each Linear layer's input) and a backward hook (the std of the
/// gradient with respect to that input), plus the pre-activation and the weight gradient.
/// </summary>
/// <remarks>
/// <para>The backward side is exact: the network's capture mode keeps each layer's input and, through
/// <c>retain_grad()</c>, its gradient (TorchSharp has no backward hooks; see <see cref="Network"/>).
/// PyTorch's deprecated <c>Module.register_backward_hook</c>, which the seminar used, reported the
/// grad_input of the module's last autograd operation instead (for nn.Linear with a bias, addmm's
/// (∂L/∂b, ∂L/∂h, ∂L/∂Wᵀ)), so which gradient a notebook printed depended on the index it took.</para>
/// <para>The loss is the mean cross-entropy, <c>F.nll_loss(F.log_softmax(out, 1), y)</c>. Checked
/// against PyTorch 1.13.1 for the eight configurations of <c>init_variance.json</c> to 1e-5 relative
/// (tests/Research.Core.Tests/LayerStatisticsTests.fs). Glorot and Bengio, "Understanding the
/// difficulty of training deep feedforward neural networks", AISTATS 2010, §4.2 (the same statistics,
/// per layer, at initialisation).</para>
/// </remarks>
public static class LayerStatistics
{
    /// <summary>
    /// Runs one forward and backward pass of <paramref name="network"/> on a batch and returns each
    /// Linear layer's statistics. Parameter gradients are zeroed first and hold this batch's gradients
    /// afterwards; the network's capture settings are restored; the weights are not changed.
    /// </summary>
    /// <param name="network">A network with at least one Linear (or DropConnect) layer.</param>
    /// <param name="inputs">The batch, [N, features] with N ≥ 2, finite, on the network's device.</param>
    /// <param name="targets">Class labels, int64 [N], each in 0 .. outputs − 1.</param>
    /// <exception cref="ArgumentException">No Linear layer, a batch of fewer than 2 examples, a
    /// non-finite input value (the message names the example and feature), or targets that do not fit.</exception>
    public static NetworkStatistics Measure(Network network, Tensor inputs, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        var linear = LinearLayers(network);
        CheckBatch(inputs, targets);
        bool capture = network.CaptureLayerTensors, inputGradient = network.CaptureInputGradient;
        network.CaptureLayerTensors = true;
        network.CaptureInputGradient = true;
        try
        {
            using var scope = torch.NewDisposeScope();
            using var grad = torch.enable_grad();
            network.zero_grad();
            var logits = network.call(inputs);
            CheckTargets(targets, logits.shape[^1]);
            var loss = nn.functional.cross_entropy(logits, targets);
            loss.backward();
            var captured = network.Captured.ToDictionary(c => c.Name);
            var layers = new List<LinearLayerStatistics>(linear.Count);
            for (int i = 0; i < linear.Count; i++)
            {
                var (name, weight) = linear[i];
                var h = Double(captured[name].Input);
                var dW = weight.grad is null ? null : Double(weight.grad);
                layers.Add(new LinearLayerStatistics(
                    name, i, weight.shape[1], weight.shape[0],
                    h.mean().item<double>(), Std(h), h.square().mean().sqrt().item<double>(),
                    Std(captured[name].Output), Std(captured[name].Input.grad), Std(weight), Std(dW),
                    dW is null ? double.NaN : dW.norm().item<double>(),
                    weight.grad is null ? double.NaN : weight.grad.abs().median().to(ScalarType.Float64).item<double>()));
            }
            return new NetworkStatistics(network.Description, (int)inputs.shape[0], loss.to(ScalarType.Float64).item<double>(), layers);
        }
        finally
        {
            network.CaptureLayerTensors = capture;
            network.CaptureInputGradient = inputGradient;
        }
    }

    /// <summary>The Linear (and DropConnect) layers of a network with their weights, in layer order.</summary>
    /// <exception cref="ArgumentException">The network has none; the message lists its layers.</exception>
    public static IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Weight)> LinearLayers(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var found = new List<(string, TorchSharp.Modules.Parameter)>();
        foreach (var (name, layer) in network.Layers)
        {
            if (layer is TorchSharp.Modules.Linear l) found.Add((name, l.weight!));
            else if (layer is DropConnectLinear d) found.Add((name, d.weight));
        }
        if (found.Count == 0)
            throw new ArgumentException(
                $"network '{network.Description}' has no Linear layer (its layers: " +
                $"{string.Join(", ", network.Layers.Select(l => $"{l.Name} {l.Layer.GetType().Name}"))}); per-layer statistics " +
                "are taken at the input of each Linear layer, so pass a network with at least one.", nameof(network));
        return found;
    }

    static void CheckBatch(Tensor inputs, Tensor targets)
    {
        if (inputs.dim() < 2 || inputs.shape[0] < 2)
            throw new ArgumentException(
                $"inputs: expected a batch of at least 2 examples, shape [N, features] with N ≥ 2, got shape " +
                $"[{string.Join(", ", inputs.shape)}]; a spread over a batch of one mixes units only and says " +
                "nothing about examples. Pass a larger batch (the seminar used 100).", nameof(inputs));
        if (targets.dim() != 1 || targets.shape[0] != inputs.shape[0])
            throw new ArgumentException(
                $"targets: expected one label per example, shape [{inputs.shape[0]}], got shape " +
                $"[{string.Join(", ", targets.shape)}].", nameof(targets));
        if (!inputs.is_floating_point())
            throw new ArgumentException($"inputs: expected floating-point values, got {inputs.dtype}.", nameof(inputs));
        using var scope = torch.NewDisposeScope();
        var bad = inputs.isfinite().logical_not().flatten();
        long count = bad.sum().item<long>();
        if (count > 0)
        {
            long flat = bad.nonzero()[0][0].item<long>();
            long perExample = inputs.numel() / inputs.shape[0];
            double value = inputs.flatten()[flat].to(ScalarType.Float64).item<double>();
            throw new ArgumentException(
                $"inputs: expected finite values, got {value} at example {flat / perExample}, feature {flat % perExample} " +
                $"({count} non-finite value(s) in the batch); remove or repair those examples first.", nameof(inputs));
        }
    }

    static void CheckTargets(Tensor targets, long classes)
    {
        if (targets.dtype != ScalarType.Int64)
            throw new ArgumentException($"targets: expected int64 class labels, got {targets.dtype}.", nameof(targets));
        long min = targets.min().item<long>(), max = targets.max().item<long>();
        if (min < 0 || max >= classes)
            throw new ArgumentException(
                $"targets: expected labels in 0..{classes - 1} (the network has {classes} outputs), got labels from {min} to {max}.",
                nameof(targets));
    }

    static Tensor Double(Tensor t) => t.dtype == ScalarType.Float64 ? t.detach() : t.detach().to(ScalarType.Float64);

    static double Std(Tensor? t) => t is null ? double.NaN : Double(t).std(unbiased: false).item<double>();
}
