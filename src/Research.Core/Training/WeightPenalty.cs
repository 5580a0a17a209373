using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>The norm of a <see cref="WeightPenalty"/>.</summary>
public enum PenaltyNorm
{
    /// <summary>λ·Σ|w| (the lasso, Tibshirani 1996): its gradient λ·sign(w) pushes every weight toward zero
    /// by the same amount, so small weights reach zero.</summary>
    L1,
    /// <summary>λ·Σw² (ridge, Hoerl and Kennard 1970; weight decay, Krogh and Hertz 1992): its gradient 2λ·w
    /// shrinks each weight in proportion to its size, so weights become small but rarely zero.</summary>
    L2,
}

/// <summary>
/// A penalty on the weight matrices and kernels of a network (<see cref="Network.Weights"/>: Linear,
/// DropConnect and Conv weights; biases and normalisation parameters are not penalised), added to the
/// loss the optimizer descends: after each backward pass the penalty's gradient is added to the weights'
/// gradients, λ·sign(w) for <see cref="PenaltyNorm.L1"/> (0 at w = 0, as autograd's |w|) and 2λ·w for
/// <see cref="PenaltyNorm.L2"/>. The history's step loss stays the data loss. PyTorch's
/// <c>weight_decay</c> = d is the L2 penalty with λ = d/2.
/// </summary>
public sealed class WeightPenalty : TrainingObserver
{
    /// <summary>Creates the penalty.</summary>
    /// <param name="norm">L1 or L2.</param>
    /// <param name="strength">λ, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">λ negative, NaN or infinite.</exception>
    public WeightPenalty(PenaltyNorm norm, double strength)
    {
        if (!(strength >= 0) || double.IsInfinity(strength))
            throw new ArgumentOutOfRangeException(nameof(strength), strength,
                $"{norm} penalty: expected a strength λ ≥ 0, got {strength}.");
        if (norm is not (PenaltyNorm.L1 or PenaltyNorm.L2))
            throw new ArgumentOutOfRangeException(nameof(norm), norm, "expected PenaltyNorm.L1 or PenaltyNorm.L2.");
        Norm = norm;
        Strength = strength;
    }

    /// <summary>L1 or L2.</summary>
    public PenaltyNorm Norm { get; }

    /// <summary>λ.</summary>
    public double Strength { get; }

    /// <summary>Σ|w| (L1) or Σw² (L2) over the network's weight matrices and kernels, without λ.</summary>
    public static double Magnitude(Network network, PenaltyNorm norm)
    {
        ArgumentNullException.ThrowIfNull(network);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        double total = 0;
        foreach (var (_, w) in network.Weights())
        {
            var d = w.detach().to(ScalarType.Float64);
            total += (norm == PenaltyNorm.L1 ? d.abs().sum() : d.square().sum()).item<double>();
        }
        return total;
    }

    /// <inheritdoc />
    public override void OnAfterBackward(StepContext step)
    {
        if (Strength == 0 || step.Model is null) return;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        foreach (var (_, w) in step.Model.Weights())
        {
            if (w.grad is not { } g) continue;
            if (Norm == PenaltyNorm.L1) g.add_(w.sign(), alpha: Strength);
            else g.add_(w, alpha: 2 * Strength);
        }
    }
}
