using Research.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>
/// Regression by the mean squared error between the model's output [B, d] and the target values
/// [B, d], as PyTorch's <c>nn.functional.mse_loss</c> with <c>reduction="mean"</c> (the mean over all
/// B·d elements). There is no accuracy.
/// </summary>
public sealed class MeanSquaredErrorRegression : DataObjective
{
    internal MeanSquaredErrorRegression() { }

    /// <inheritdoc/>
    public override string Name => "mse";

    /// <inheritdoc/>
    public override TargetKind Targets => TargetKind.Values;

    /// <inheritdoc/>
    public override bool HasAccuracy => false;

    /// <inheritdoc/>
    public override Tensor Loss(Tensor output, Tensor targets) => nn.functional.mse_loss(output, targets);

    internal override (double Sum, long Terms) SumLoss(Tensor output, Tensor targets) =>
        (ScalarValue(nn.functional.mse_loss(output, targets, reduction: nn.Reduction.Sum)), targets.numel());

    internal override void CheckShapes(Tensor output, Tensor targets)
    {
        // Broadcasting [B, 1] against [B] (or [B, d] against [B, 1]) would silently compute something else.
        if (!output.shape.SequenceEqual(targets.shape))
            throw new ArgumentException(
                $"{Name}: the model's output has shape [{string.Join(", ", output.shape)}] but the targets have shape " +
                $"[{string.Join(", ", targets.shape)}]; expected the same shape [batch, d]. Give the model's last layer " +
                $"{(targets.dim() == 2 ? targets.shape[1] : 1)} outputs.", "model");
    }
}
