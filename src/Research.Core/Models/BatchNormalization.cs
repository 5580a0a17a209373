using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Models;

/// <summary>
/// Batch normalisation (Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training
/// by Reducing Internal Covariate Shift", ICML 2015) exactly as <c>nn.BatchNorm1d</c> /
/// <c>nn.BatchNorm2d</c> (the same libtorch kernel, parameters and buffers: weight γ, bias β,
/// running_mean, running_var, num_batches_tracked; ε = 1e-5, momentum 0.1: running ← 0.9·running +
/// 0.1·batch statistic, with the unbiased batch variance), with one addition: in training a batch
/// that gives a channel only one value is refused with a message naming the layer and the shape,
/// instead of libtorch's "Expected more than 1 value per channel when training".
/// </summary>
/// <remarks>Features: input [N, C] or [N, C, L] (as BatchNorm1d); images: [N, C, H, W] (as BatchNorm2d).
/// In evaluation the running statistics are used and any batch size is accepted.</remarks>
public sealed class BatchNormalization : TorchSharp.Modules.BatchNorm
{
    readonly bool _images;

    BatchNormalization(long channels, bool images, double eps, double momentum, string name)
        : base(channels, eps, momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: name)
    {
        _images = images;
        LayerName = name;
    }

    /// <summary>The layer's name in messages ("norm1").</summary>
    public string LayerName { get; }

    /// <summary>Batch normalisation over features, as <c>nn.BatchNorm1d(features)</c>: input [N, C] or
    /// [N, C, L].</summary>
    /// <param name="features">C, ≥ 1.</param>
    /// <param name="name">The layer's name, used in error messages.</param>
    /// <param name="eps">ε added to the variance (default 1e-5).</param>
    /// <param name="momentum">Weight of the newest batch in the running statistics (default 0.1).</param>
    /// <exception cref="ArgumentOutOfRangeException">features &lt; 1, ε ≤ 0, or momentum outside [0, 1].</exception>
    public static BatchNormalization OfFeatures(long features, string name = "BatchNorm1d", double eps = 1e-5,
        double momentum = 0.1) => Create(features, false, eps, momentum, name);

    /// <summary>Batch normalisation over image channels, as <c>nn.BatchNorm2d(channels)</c>: input
    /// [N, C, H, W].</summary>
    /// <inheritdoc cref="OfFeatures" />
    public static BatchNormalization OfChannels(long channels, string name = "BatchNorm2d", double eps = 1e-5,
        double momentum = 0.1) => Create(channels, true, eps, momentum, name);

    static BatchNormalization Create(long channels, bool images, double eps, double momentum, string name)
    {
        Runtime.TorchNative.EnsureLoaded();
        if (channels < 1)
            throw new ArgumentOutOfRangeException(nameof(channels), channels,
                $"{name}: expected at least 1 channel, got {channels}.");
        if (!(eps > 0))
            throw new ArgumentOutOfRangeException(nameof(eps), eps,
                $"{name}: expected ε > 0, got {eps} (the default is 1e-5).");
        if (!(momentum >= 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum,
                $"{name}: expected a momentum in [0, 1] (the weight of the newest batch, default 0.1), " +
                $"got {momentum}.");
        return new BatchNormalization(channels, images, eps, momentum, name);
    }

    /// <inheritdoc />
    protected override void ValidateInputDimensions(Tensor input)
    {
        string shape = Shape(input);
        if (_images && input.dim() != 4)
            throw new ArgumentException($"{LayerName}: expected images [N, C, H, W], got shape {shape}.",
                nameof(input));
        if (!_images && input.dim() != 2 && input.dim() != 3)
            throw new ArgumentException($"{LayerName}: expected [N, C] or [N, C, L], got shape {shape}.",
                nameof(input));
        if (input.shape[1] != num_features)
            throw new ArgumentException(
                $"{LayerName}: expected {num_features} channels in dimension 1, got shape {shape}.", nameof(input));
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">In training, a batch that gives each channel one value only
    /// (a batch of one example of a [N, C] input): its variance is undefined.</exception>
    public override Tensor forward(Tensor input)
    {
        if (training && input.dim() >= 2 && input.numel() / Math.Max(1, input.shape[1]) <= 1)
            throw new ArgumentException(
                $"{LayerName}: batch normalisation in training needs more than one value per channel, got a batch of " +
                $"shape {Shape(input)} (a batch of {input.shape[0]}); its variance is undefined. Use batches of 2 or " +
                "more (drop a last batch of one), or call eval() to use the running statistics.", nameof(input));
        return base.forward(input);
    }

    static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
