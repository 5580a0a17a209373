using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Layer = (string Name, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Layer);

namespace Research.Core.Studies.Regularisation;

/// <summary>The networks of the regularisation study, built from the generic layers of Models/.</summary>
public static class RegularisationNetworks
{
    /// <summary>DropConnect's p in the seminar, read as the probability of keeping a weight (the mask is
    /// Bernoulli(p), the expectation p·W at evaluation), as <see cref="DropConnectLinear"/> takes it.</summary>
    public const double DropConnectKeep = 0.8;

    /// <summary>The seminar's Dropout probability in the Dropout head.</summary>
    public const double HeadDropout = 0.3;

    /// <summary>The seminar CNN with a variant's head and convolution normalisation. Input [N, 1, 28, 28].</summary>
    public static Network Cnn(CnnVariant variant)
    {
        ArgumentNullException.ThrowIfNull(variant);
        var (description, head) = Head(variant.Head);
        return Architectures.SeminarCnn(description, head, variant.Conv);
    }

    /// <summary>A head's description and builder (called after the convolutions exist).</summary>
    static (string, Func<IEnumerable<Layer>>) Head(CnnHead head) => head switch
    {
        CnnHead.Baseline => ("196-128-128-10 ReLU", () => Hidden([128, 128], _ => null, 0)),
        CnnHead.Dropout => ($"196-128-128-10 ReLU, Dropout({HeadDropout})",
            () => Hidden([128, 128], _ => null, HeadDropout)),
        CnnHead.DropConnectAsRun => ($"DropConnect(196, 10, keep {DropConnectKeep})",
            () => [("fc", new DropConnectLinear(196, 10, DropConnectKeep, name: "fc"))]),
        CnnHead.DropConnectAllLayers => ($"196-128-128-10 ReLU, every layer DropConnect(keep {DropConnectKeep})",
            () => Hidden([128, 128], _ => null, 0, dropConnect: true)),
        CnnHead.BatchNormWide => ("196-512-128-10 BatchNorm-ReLU",
            () => Hidden([512, 128], n => BatchNormalization.OfFeatures(n.Width, n.Name), 0)),
        CnnHead.SeminarLayerNorm => ("196-128-128-10 SeminarLayerNormalization-ReLU",
            () => Hidden([128, 128], n => new SeminarLayerNormalization(name: n.Name), 0)),
        CnnHead.LayerNorm => ("196-128-128-10 LayerNorm-ReLU",
            () => Hidden([128, 128], n => nn.LayerNorm([n.Width]), 0)),
        CnnHead.BatchNorm => ("196-128-128-10 BatchNorm-ReLU",
            () => Hidden([128, 128], n => BatchNormalization.OfFeatures(n.Width, n.Name), 0)),
        _ => throw new ArgumentOutOfRangeException(nameof(head), head, "expected one of the CnnHead values."),
    };

    /// <summary>196 → widths… → 10: each hidden layer Linear (or DropConnect), an optional normalisation, an
    /// optional Dropout, ReLU; the last Linear gives the logits.</summary>
    static List<Layer> Hidden(int[] widths, Func<(string Name, int Width), Module<Tensor, Tensor>?> norm,
        double dropout, bool dropConnect = false)
    {
        var layers = new List<Layer>();
        int inputs = 196;
        Module<Tensor, Tensor> Linear(int i, int o, string name) =>
            dropConnect ? new DropConnectLinear(i, o, DropConnectKeep, name: name) : nn.Linear(i, o);
        for (int k = 0; k < widths.Length; k++)
        {
            layers.Add(($"fc{k + 1}", Linear(inputs, widths[k], $"fc{k + 1}")));
            // norm1 and norm2 are the convolutions' (Architectures.SeminarCnn); the head's are norm3, norm4
            if (norm(($"norm{k + 3}", widths[k])) is { } n) layers.Add(($"norm{k + 3}", n));
            if (dropout > 0) layers.Add(($"drop{k + 1}", nn.Dropout(dropout)));
            layers.Add(($"relu{k + 1}", nn.ReLU()));
            inputs = widths[k];
        }
        layers.Add(($"fc{widths.Length + 1}", Linear(inputs, 10, $"fc{widths.Length + 1}")));
        return layers;
    }

    /// <summary>The lecture's sigmoid MLP for a run: bias-free Linear layers when it has BatchNorm, the
    /// hand-written Dropout, Xavier-normal weights with the sigmoid's gain (1) and zero biases.</summary>
    public static Network SigmoidMlp(int[] widths, SigmoidRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var net = Architectures.Mlp(new MlpOptions(widths, Activation.Sigmoid, run.Normalization, run.Dropout,
            Bias: run.Normalization == Normalization.None, NormalizationPlacement: run.Placement,
            WrittenOutDropout: true));
        new Init.WeightInit(Init.InitScheme.XavierNormal, Gain: Init.Initializers.CalculateGain("sigmoid")).Apply(net);
        return net;
    }

    /// <summary>The overfitting demo's net 1 → hidden → hidden → 1 with ReLU; with dropout probabilities, an
    /// <c>nn.Dropout</c> after each hidden Linear (before its ReLU, as the lecture places it).</summary>
    /// <param name="hidden">Hidden width.</param>
    /// <param name="dropout">Null or empty: no dropout; else one probability per hidden layer.</param>
    public static Network Regression(int hidden, double[]? dropout)
    {
        Runtime.TorchNative.EnsureLoaded();
        bool drop = dropout is { Length: > 0 };
        if (drop && dropout!.Length != 2)
            throw new ArgumentException(
                $"dropout: expected one probability per hidden layer (2), got {dropout.Length}.", nameof(dropout));
        string layers = $"1-{hidden}-{hidden}-1 ReLU";
        var net = new Network("regression",
            drop ? $"{layers}, Dropout({dropout![0]}) and Dropout({dropout[1]})" : layers);
        net.Add("fc1", nn.Linear(1, hidden));
        if (drop) net.Add("drop1", CheckedDropout(dropout![0], "drop1"));
        net.Add("relu1", nn.ReLU()).Add("fc2", nn.Linear(hidden, hidden));
        if (drop) net.Add("drop2", CheckedDropout(dropout![1], "drop2"));
        return net.Add("relu2", nn.ReLU()).Add("fc3", nn.Linear(hidden, 1));
    }

    /// <summary><c>nn.Dropout(p)</c> after the check every dropout layer of the toolkit makes (p outside
    /// [0, 1) is refused, naming the layer).</summary>
    static Module<Tensor, Tensor> CheckedDropout(double p, string name)
    {
        DropoutProbability.Check(p, name, "dropout");
        return nn.Dropout(p);
    }
}
