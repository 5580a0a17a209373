namespace Research.Core.Optim;

/// <summary>
/// The capability every learning-rate schedule needs: an optimizer whose learning rate can be read
/// and set between steps (PyTorch's <c>param_group['lr']</c>). Every toolkit optimizer has it, and so
/// does every <see cref="Training.IOptimizer"/> (including a wrapped TorchSharp optimizer).
/// </summary>
public interface ILearningRate
{
    /// <summary>The learning rate the next step uses. Setting a negative, NaN or infinite value throws
    /// <see cref="ArgumentException"/> naming the optimizer and the value.</summary>
    double LearningRate { get; set; }

    /// <summary>The optimizer's name as in PyTorch ("SGD", "Adam" …), for messages and manifests.</summary>
    string Name { get; }
}
