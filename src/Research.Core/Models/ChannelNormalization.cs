using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>A normalisation of the channels of a convolutional layer's output [N, C, H, W].</summary>
public enum ChannelNormalization
{
    /// <summary>None.</summary>
    None,
    /// <summary>Batch normalisation per channel over N, H, W (<see cref="BatchNormalization.OfChannels"/>).</summary>
    BatchNorm,
    /// <summary>Group normalisation with one group: per example over C, H, W (layer normalisation of the
    /// feature map).</summary>
    LayerNorm,
    /// <summary>Group normalisation with one group per channel: per example and channel over H, W (instance
    /// normalisation).</summary>
    InstanceNorm,
}

/// <summary>
/// Group normalisation and its two limits (Wu and He, "Group Normalization", ECCV 2018): the C channels
/// are split into G groups and each example is normalised over each group's channels and positions,
/// then scaled and shifted per channel. G = 1 is layer normalisation of the feature map (Ba, Kiros and
/// Hinton 2016); G = C is instance normalisation (Ulyanov, Vedaldi and Lempitsky 2016) with a per-channel
/// affine transform. The layers are TorchSharp's <c>nn.GroupNorm</c> (ε = 1e-5) with γ = 1 and β = 0 set
/// here, as PyTorch's <c>reset_parameters</c> does.
/// </summary>
/// <remarks>TorchSharp 0.107's <c>nn.GroupNorm</c> leaves γ and β as uninitialised memory (values such as
/// −8163.7 and 3.5e6 were seen), so a GroupNorm made with it directly trains from garbage.</remarks>
public static class GroupNormalization
{
    /// <summary>Group normalisation of <paramref name="channels"/> channels in <paramref name="groups"/>
    /// groups.</summary>
    /// <param name="groups">G, ≥ 1, dividing C.</param>
    /// <param name="channels">C, ≥ 1.</param>
    /// <param name="name">The layer's name, used in error messages (e.g. "norm1").</param>
    /// <exception cref="ArgumentOutOfRangeException">G or C below 1, or G not dividing C; the message names
    /// the layer and both values.</exception>
    public static Module<Tensor, Tensor> Create(long groups, long channels, string name = "GroupNorm")
    {
        Runtime.TorchNative.EnsureLoaded();
        if (channels < 1)
            throw new ArgumentOutOfRangeException(nameof(channels), channels,
                $"{name}: expected at least 1 channel, got {channels}.");
        if (groups < 1 || channels % groups != 0)
            throw new ArgumentOutOfRangeException(nameof(groups), groups,
                $"{name}: the number of groups must divide the {channels} channels, got {groups} groups. " +
                $"Use a divisor of {channels}: 1 (layer normalisation), {channels} (instance normalisation) or " +
                "one between.");
        var layer = nn.GroupNorm(groups, channels);
        using (torch.no_grad())
        {
            layer.weight!.fill_(1.0);
            layer.bias!.zero_();
        }
        return layer;
    }

    /// <summary>The layer for a <see cref="ChannelNormalization"/> of <paramref name="channels"/> channels, or
    /// null for None.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An unknown kind or channels &lt; 1.</exception>
    public static Module<Tensor, Tensor>? For(ChannelNormalization kind, long channels, string name) => kind switch
    {
        ChannelNormalization.None => null,
        ChannelNormalization.BatchNorm => BatchNormalization.OfChannels(channels, name),
        ChannelNormalization.LayerNorm => Create(1, channels, name),
        ChannelNormalization.InstanceNorm => Create(channels, channels, name),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind,
            $"{name}: expected None, BatchNorm, LayerNorm or InstanceNorm."),
    };
}
