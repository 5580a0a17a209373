using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>
/// A linear layer with DropConnect (Wan, Zeiler, Zhang, LeCun and Fergus, "Regularization of Neural
/// Networks using DropConnect", ICML 2013): in training each weight is kept with probability
/// <see cref="KeepProbability"/> (a fresh Bernoulli mask per forward pass, shared by the batch),
/// y = x (M ⊙ W)ᵀ + b; at evaluation the expectation is used, y = x (p·W)ᵀ + b. The bias is not masked.
/// Input [*, in], output [*, out]. Weights initialised like <c>nn.Linear</c>.
/// </summary>
public sealed class DropConnectLinear : Module<Tensor, Tensor>
{
    /// <summary>The weight, [out, in].</summary>
    public Parameter weight;

    /// <summary>The bias, [out], or null.</summary>
    public Parameter? bias;

    /// <summary>Probability that a weight is kept in training, in (0, 1].</summary>
    public double KeepProbability { get; }

    /// <summary>Creates the layer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">keep probability outside (0, 1] or a size below 1; the
    /// message names the layer and the value.</exception>
    public DropConnectLinear(long inFeatures, long outFeatures, double keepProbability = 0.5, bool hasBias = true,
        string name = "DropConnectLinear") : base(name)
    {
        if (!(keepProbability > 0 && keepProbability <= 1))
            throw new ArgumentOutOfRangeException(nameof(keepProbability), keepProbability,
                $"{name} ({inFeatures}→{outFeatures}): expected 0 < p ≤ 1 (probability of keeping a weight), got " +
                $"{keepProbability}; to give the probability of dropping a weight, use " +
                "DropConnectLinear.WithDropProbability.");
        if (inFeatures < 1 || outFeatures < 1)
            throw new ArgumentOutOfRangeException(nameof(inFeatures),
                $"{name}: expected sizes ≥ 1, got {inFeatures}→{outFeatures}.");
        KeepProbability = keepProbability;
        using var reference = nn.Linear(inFeatures, outFeatures, hasBias);
        weight = new Parameter(reference.weight!.detach().clone());
        bias = hasBias ? new Parameter(reference.bias!.detach().clone()) : null;
        RegisterComponents();
    }

    /// <summary>The layer given the probability p of <b>dropping</b> a weight (as <c>nn.Dropout</c>'s p):
    /// keep probability 1 − p.</summary>
    /// <param name="inFeatures">Input width, ≥ 1.</param>
    /// <param name="outFeatures">Output width, ≥ 1.</param>
    /// <param name="dropProbability">p, 0 ≤ p &lt; 1.</param>
    /// <param name="hasBias">Whether the layer has a bias.</param>
    /// <param name="name">The layer's name, used in error messages ("fc1").</param>
    /// <exception cref="ArgumentOutOfRangeException">p outside [0, 1) (the message names the layer and the
    /// value) or a size below 1.</exception>
    public static DropConnectLinear WithDropProbability(long inFeatures, long outFeatures, double dropProbability,
        bool hasBias = true, string name = "DropConnectLinear")
    {
        DropoutProbability.Check(dropProbability, name, nameof(dropProbability));
        return new DropConnectLinear(inFeatures, outFeatures, 1 - dropProbability, hasBias, name);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (training && KeepProbability < 1)
        {
            using var mask = torch.bernoulli(torch.full_like(weight, KeepProbability));
            using var w = weight * mask;
            return nn.functional.linear(input, w, bias);
        }
        if (KeepProbability < 1)
        {
            using var w = weight * KeepProbability;
            return nn.functional.linear(input, w, bias);
        }
        return nn.functional.linear(input, weight, bias);
    }
}
