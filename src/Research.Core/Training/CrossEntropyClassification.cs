using Research.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>
/// Classification by cross-entropy of the model's logits [B, C] against class labels [B] (int64), as
/// PyTorch's <c>nn.functional.cross_entropy</c> (log-softmax and negative log-likelihood, mean over the
/// batch); the accuracy is the fraction of examples whose arg-max logit is the label.
/// </summary>
public sealed class CrossEntropyClassification : DataObjective
{
    internal CrossEntropyClassification() { }

    /// <inheritdoc/>
    public override string Name => "cross_entropy";

    /// <inheritdoc/>
    public override TargetKind Targets => TargetKind.ClassLabels;

    /// <inheritdoc/>
    public override bool HasAccuracy => true;

    /// <inheritdoc/>
    public override Tensor Loss(Tensor output, Tensor targets) => nn.functional.cross_entropy(output, targets);

    internal override (double Sum, long Terms) SumLoss(Tensor output, Tensor targets) =>
        (ScalarValue(nn.functional.cross_entropy(output, targets, reduction: nn.Reduction.Sum)), targets.shape[0]);

    internal override long Correct(Tensor output, Tensor targets) => output.argmax(1).eq(targets).sum().item<long>();

    internal override void CheckShapes(Tensor output, Tensor targets)
    {
        if (output.dim() != 2 || output.shape[0] != targets.shape[0])
            throw new ArgumentException(
                $"{Name}: the model's output has shape [{string.Join(", ", output.shape)}] for {targets.shape[0]} labels; " +
                "expected logits [batch, classes].", "model");
    }
}
