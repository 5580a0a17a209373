using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>
/// The regularisation seminar's own <c>LayerNormalization</c>, reproduced as it is written: it
/// normalises with <c>x.mean()</c> and <c>x.std()</c> taken over the <b>whole batch tensor</b>, one
/// scalar mean and one scalar (unbiased, n − 1) standard deviation for all examples and features
/// together, y = (x − mean(x)) / (std(x) + ε) with ε = 1e-8 added to σ, and has no learnable
/// parameters. This is not layer normalisation as Ba, Kiros and Hinton define it ("Layer
/// Normalization", 2016: statistics per example, over its features, with gain and bias — TorchSharp's
/// <c>nn.LayerNorm</c>): each example's output depends on the other examples of its batch, as with
/// batch normalisation, but with a single statistic for the whole batch. Input and output [*].
/// </summary>
public sealed class SeminarLayerNormalization : Module<Tensor, Tensor>
{
    /// <summary>ε added to the standard deviation (the seminar's 1e-8).</summary>
    public double Epsilon { get; }

    /// <summary>Creates the layer.</summary>
    /// <param name="epsilon">ε added to σ, &gt; 0 (default 1e-8).</param>
    /// <param name="name">The layer's name.</param>
    /// <exception cref="ArgumentOutOfRangeException">ε ≤ 0.</exception>
    public SeminarLayerNormalization(double epsilon = 1e-8, string name = "SeminarLayerNormalization") : base(name)
    {
        if (!(epsilon > 0))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"{name}: expected ε > 0, got {epsilon}.");
        Epsilon = epsilon;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var y = (input - input.mean()) / (input.std(unbiased: true) + Epsilon);
        return y.MoveToOuterDisposeScope();
    }
}
