using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>Activation functions the seminars use between layers.</summary>
public enum Activation
{
    /// <summary>max(0, x).</summary>
    ReLU,
    /// <summary>tanh(x).</summary>
    Tanh,
    /// <summary>1 / (1 + e^(−x)).</summary>
    Sigmoid,
}

/// <summary>Normalisation inserted after each hidden Linear layer (before the activation unless
/// <see cref="MlpOptions.NormalizationPlacement"/> says otherwise).</summary>
public enum Normalization
{
    /// <summary>None.</summary>
    None,
    /// <summary>Batch normalisation as <c>nn.BatchNorm1d</c> (Ioffe and Szegedy 2015), through
    /// <see cref="BatchNormalization"/>.</summary>
    BatchNorm,
    /// <summary><c>nn.LayerNorm</c> over the features.</summary>
    LayerNorm,
    /// <summary>The regularisation seminar's own batch-wide <see cref="SeminarLayerNormalization"/>.</summary>
    SeminarLayerNorm,
}

/// <summary>Where the normalisation of a hidden layer sits.</summary>
public enum NormalizationPlacement
{
    /// <summary>Linear → normalisation → activation (Ioffe and Szegedy's placement).</summary>
    BeforeActivation,
    /// <summary>Linear → activation → normalisation.</summary>
    AfterActivation,
}

/// <summary>Configuration of <see cref="Architectures.Mlp"/>.</summary>
/// <param name="Widths">Layer widths including input and output, e.g. [784, 512, 512, 10]; at least two.</param>
/// <param name="Activation">Activation after every hidden layer (not after the last).</param>
/// <param name="Normalization">Normalisation after each hidden Linear layer, before the activation.</param>
/// <param name="Dropout">Dropout probability after each hidden activation (0 = none).</param>
/// <param name="Bias">Whether Linear layers have a bias.</param>
/// <param name="DropConnectKeep">If set, hidden Linear layers are <see cref="DropConnectLinear"/> with this keep probability.</param>
/// <param name="NormalizationPlacement">Normalisation before (default) or after the activation.</param>
/// <param name="WrittenOutDropout">Use the lecture's hand-written <see cref="InvertedDropout"/> instead of
/// <c>nn.Dropout</c> (the same distribution, other random draws).</param>
public sealed record MlpOptions(
    int[] Widths,
    Activation Activation = Activation.ReLU,
    Normalization Normalization = Normalization.None,
    double Dropout = 0.0,
    bool Bias = true,
    double? DropConnectKeep = null,
    NormalizationPlacement NormalizationPlacement = NormalizationPlacement.BeforeActivation,
    bool WrittenOutDropout = false)
{
    /// <summary>The Adam-vs-RAdam study's MLP: 784→512→512→10 with ReLU.</summary>
    public static MlpOptions AdamVsRAdam { get; } = new([784, 512, 512, 10]);
}

/// <summary>The networks of the seminars, built as <see cref="Network"/>s with named layers.</summary>
public static class Architectures
{
    /// <summary>
    /// A multilayer perceptron. Layers are named fc1…fcL (Linear), norm1… , act1…, drop1…, so the
    /// weight between the last hidden layer and the output is "fc{L}.weight" with shape
    /// [outputs, last hidden width]. Input [batch, Widths[0]], output logits [batch, Widths[^1]].
    /// Weights keep PyTorch's default initialisation until an initialiser is applied.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two widths, a width below 1, or dropout outside [0, 1).</exception>
    public static Network Mlp(MlpOptions options)
    {
        Runtime.TorchNative.EnsureLoaded();
        var w = options.Widths;
        if (w is null || w.Length < 2)
            throw new ArgumentException($"Widths: expected at least input and output widths, got [{string.Join(", ", w ?? [])}].", nameof(options));
        if (w.Any(x => x < 1))
            throw new ArgumentException($"Widths: every width must be ≥ 1, got [{string.Join(", ", w)}].", nameof(options));
        if (!(options.Dropout >= 0 && options.Dropout < 1))
            throw new ArgumentException($"Dropout: expected 0 ≤ p < 1, got {options.Dropout}.", nameof(options));
        var parts = new List<string> { $"MLP {string.Join("-", w)} {options.Activation}" };
        if (options.Normalization != Normalization.None)
            parts.Add(options.NormalizationPlacement == NormalizationPlacement.AfterActivation
                ? $"{options.Normalization} after the activation" : options.Normalization.ToString());
        if (options.Dropout > 0)
            parts.Add($"{(options.WrittenOutDropout ? "InvertedDropout" : "Dropout")}({options.Dropout})");
        if (options.DropConnectKeep is { } keep) parts.Add($"DropConnect(keep {keep})");
        if (!options.Bias) parts.Add("no bias");
        var net = new Network("mlp", string.Join(", ", parts));
        int layers = w.Length - 1;
        for (int i = 1; i <= layers; i++)
        {
            bool hidden = i < layers;
            Module<Tensor, Tensor> linear = hidden && options.DropConnectKeep is { } p
                ? new DropConnectLinear(w[i - 1], w[i], p, options.Bias)
                : nn.Linear(w[i - 1], w[i], options.Bias);
            net.Add($"fc{i}", linear);
            if (!hidden) break;
            bool after = options.NormalizationPlacement == NormalizationPlacement.AfterActivation;
            if (after) net.Add($"act{i}", MakeActivation(options.Activation));
            if (MakeNormalization(options.Normalization, w[i], $"norm{i}") is { } norm) net.Add($"norm{i}", norm);
            if (!after) net.Add($"act{i}", MakeActivation(options.Activation));
            if (options.Dropout > 0)
                net.Add($"drop{i}", options.WrittenOutDropout
                    ? new InvertedDropout(options.Dropout, $"drop{i}") : nn.Dropout(options.Dropout));
        }
        return net;
    }

    /// <summary>
    /// The regularisation seminar's small CNN: Conv(1→2, 3×3, pad 1), MaxPool 2, ReLU, Conv(2→4,
    /// 3×3, pad 1), MaxPool 2, ReLU, flatten (4·7·7 = 196), Linear(196→classes).
    /// Input [batch, 1, 28, 28], output logits [batch, classes].
    /// </summary>
    public static Network SeminarCnn(int classes = 10)
    {
        Runtime.TorchNative.EnsureLoaded();
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "expected ≥ 1 class.");
        return SeminarCnn($"fc({classes})", () => [("fc", nn.Linear(196, classes))]);
    }

    /// <summary>
    /// The regularisation seminar's <c>TestNetwork</c>: the convolutional part of
    /// <see cref="SeminarCnn(int)"/> (conv1, pool1, act1, conv2, pool2, act2, flatten to 196 features)
    /// followed by a head. With a channel normalisation, a normalisation layer (norm1, norm2) follows
    /// each convolution, before its pooling. The convolutions are created before the head is built, so
    /// a seed gives every head the same convolutional weights. Input [batch, 1, 28, 28]; the head maps
    /// [batch, 196] to the logits. (The seminar ends with LogSoftmax and the negative log-likelihood; the
    /// toolkit's cross-entropy objective applies log-softmax itself, which is the same loss.)
    /// </summary>
    /// <param name="headDescription">The head in words, for the description ("196-128-128-10 ReLU").</param>
    /// <param name="head">Builds the head's layers, in order, with names other than the convolutional part's;
    /// called after the convolutions are created.</param>
    /// <param name="convNormalization">Normalisation after each convolution (default none).</param>
    /// <exception cref="ArgumentException">An empty head or a layer name used twice.</exception>
    public static Network SeminarCnn(string headDescription,
        Func<IEnumerable<(string Name, Module<Tensor, Tensor> Layer)>> head,
        ChannelNormalization convNormalization = ChannelNormalization.None)
    {
        Runtime.TorchNative.EnsureLoaded();
        ArgumentNullException.ThrowIfNull(head);
        string norm = convNormalization == ChannelNormalization.None ? "" : $"{convNormalization}-";
        var net = new Network("cnn",
            $"CNN conv(1→2,3x3)-{norm}pool-ReLU-conv(2→4,3x3)-{norm}pool-ReLU-flatten(196)-{headDescription}");
        net.Add("conv1", nn.Conv2d(1, 2, 3, padding: 1));
        if (GroupNormalization.For(convNormalization, 2, "norm1") is { } n1) net.Add("norm1", n1);
        net.Add("pool1", nn.MaxPool2d(2)).Add("act1", nn.ReLU());
        net.Add("conv2", nn.Conv2d(2, 4, 3, padding: 1));
        if (GroupNormalization.For(convNormalization, 4, "norm2") is { } n2) net.Add("norm2", n2);
        net.Add("pool2", nn.MaxPool2d(2)).Add("act2", nn.ReLU()).Add("flatten", nn.Flatten());
        int count = 0;
        foreach (var (name, layer) in head())
        {
            net.Add(name, layer);
            count++;
        }
        if (count == 0)
            throw new ArgumentException("head: expected at least one layer (196 → classes).", nameof(head));
        return net;
    }

    /// <summary>A fresh normalisation of <paramref name="features"/> features, or null for None.</summary>
    static Module<Tensor, Tensor>? MakeNormalization(Normalization normalization, int features, string name) =>
        normalization switch
        {
            Normalization.None => null,
            Normalization.BatchNorm => BatchNormalization.OfFeatures(features, name),
            Normalization.LayerNorm => nn.LayerNorm([features]),
            Normalization.SeminarLayerNorm => new SeminarLayerNormalization(name: name),
            _ => throw new ArgumentOutOfRangeException(nameof(normalization), normalization,
                $"{name}: expected None, BatchNorm, LayerNorm or SeminarLayerNorm."),
        };

    /// <summary>A fresh activation module.</summary>
    public static Module<Tensor, Tensor> MakeActivation(Activation activation) => activation switch
    {
        Activation.ReLU => nn.ReLU(),
        Activation.Tanh => nn.Tanh(),
        Activation.Sigmoid => nn.Sigmoid(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "expected ReLU, Tanh or Sigmoid."),
    };
}
