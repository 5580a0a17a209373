namespace Research.Core.Optim;

/// <summary>
/// An optimizer with Adam's decay rates (β1, β2) (PyTorch's <c>param_group['betas']</c>), of which a
/// schedule may change β1 between steps, as PyTorch's <c>CyclicLR</c> does with <c>use_beta1</c>:
/// the <see cref="AdamFamily"/> (<see cref="Adam"/>, <see cref="AdamW"/>, <see cref="RAdam"/>).
/// </summary>
public interface IBetas
{
    /// <summary>Decay β1 ∈ [0, 1) of the first moment that the next step uses. Setting a value outside
    /// [0, 1) throws <see cref="ArgumentException"/> naming the optimizer, "beta1" and the value.</summary>
    double Beta1 { get; set; }

    /// <summary>Decay β2 ∈ [0, 1) of the second moment.</summary>
    double Beta2 { get; }
}
