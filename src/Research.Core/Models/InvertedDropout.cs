using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>
/// Dropout written out with inverted scaling, as the lecture "convergence and overfitting" (part 4)
/// writes it by hand: in training each unit is zeroed with probability p (a fresh Bernoulli mask per
/// forward pass and per element) and the survivors are multiplied by 1/(1 − p), so that the expected
/// activation is unchanged and evaluation needs no rescaling; in evaluation it is the identity.
/// Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov, "Dropout: A Simple Way to Prevent
/// Neural Networks from Overfitting", JMLR 15 (2014); the inverted form is PyTorch's <c>nn.Dropout</c>.
/// Input and output [*] (any shape). Masks are drawn from torch's global generator (seed it).
/// </summary>
public sealed class InvertedDropout : Module<Tensor, Tensor>
{
    /// <summary>The probability p of zeroing a unit in training, 0 ≤ p &lt; 1.</summary>
    public double Probability { get; }

    /// <summary>Creates the layer.</summary>
    /// <param name="probability">p, the probability of zeroing a unit, 0 ≤ p &lt; 1 (the lecture's 0.5).</param>
    /// <param name="name">The layer's name, used in error messages (e.g. "drop1").</param>
    /// <exception cref="ArgumentOutOfRangeException">p outside [0, 1); the message names the layer and the
    /// value.</exception>
    public InvertedDropout(double probability, string name = "InvertedDropout") : base(name)
    {
        DropoutProbability.Check(probability, name, nameof(probability));
        Probability = probability;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (!training || Probability == 0) return input.alias();
        using var scope = torch.NewDisposeScope();
        double keep = 1 - Probability;
        var mask = torch.bernoulli(torch.full_like(input, keep));
        return (input * mask / keep).MoveToOuterDisposeScope();
    }
}

/// <summary>The check every dropout-like layer applies to its probability of zeroing.</summary>
internal static class DropoutProbability
{
    /// <summary>Throws unless 0 ≤ p &lt; 1, naming the layer, the parameter and the value.</summary>
    /// <param name="p">The probability of zeroing (a unit for dropout, a weight for DropConnect).</param>
    /// <param name="layer">The layer's name.</param>
    /// <param name="parameter">The parameter's name for the exception.</param>
    /// <exception cref="ArgumentOutOfRangeException">p outside [0, 1) or NaN.</exception>
    public static void Check(double p, string layer, string parameter)
    {
        if (!(p >= 0 && p < 1))
            throw new ArgumentOutOfRangeException(parameter, p,
                $"{layer}: the probability of zeroing p must satisfy 0 ≤ p < 1, got {p}; p = 1 would zero " +
                "everything. Pass the probability of dropping (e.g. 0.3), not of keeping, nor a percentage.");
    }
}
