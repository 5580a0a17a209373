using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>
/// Layer normalisation (Ba, Kiros and Hinton, "Layer Normalization", 2016) written out rather than
/// calling the fused kernel: for each example, y = γ ⊙ (x − mean(x)) / sqrt(var(x) + ε) + β over the
/// last dimension, with the biased variance (as <c>nn.LayerNorm</c>). γ starts at 1 and β at 0. Input
/// and output [*, features]. This is not the regularisation seminar's own layer, which normalises over
/// the whole batch: that one is <see cref="SeminarLayerNormalization"/>.
/// </summary>
public sealed class LayerNormalization : Module<Tensor, Tensor>
{
    /// <summary>Scale γ, [features].</summary>
    public Parameter gamma;

    /// <summary>Shift β, [features].</summary>
    public Parameter beta;

    /// <summary>ε added to the variance.</summary>
    public double Epsilon { get; }

    /// <summary>Creates the layer for <paramref name="features"/> features.</summary>
    public LayerNormalization(long features, double epsilon = 1e-5, string name = "LayerNormalization") : base(name)
    {
        if (features < 1) throw new ArgumentOutOfRangeException(nameof(features), features, "expected ≥ 1 feature.");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "expected ε > 0.");
        Epsilon = epsilon;
        gamma = new Parameter(torch.ones(features));
        beta = new Parameter(torch.zeros(features));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var mean = input.mean([-1L], keepdim: true);
        var centered = input - mean;
        var variance = (centered * centered).mean([-1L], keepdim: true);
        var y = centered / (variance + Epsilon).sqrt() * gamma + beta;
        return y.MoveToOuterDisposeScope();
    }
}
