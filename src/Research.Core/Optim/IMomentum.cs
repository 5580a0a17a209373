namespace Research.Core.Optim;

/// <summary>
/// An optimizer with a momentum factor that a schedule may change between steps (PyTorch's
/// <c>param_group['momentum']</c>, which <c>CyclicLR</c> and <c>OneCycleLR</c> cycle): <see cref="Sgd"/>
/// and <see cref="RmsProp"/>.
/// </summary>
public interface IMomentum
{
    /// <summary>The momentum factor the next step uses. Setting a value the optimizer's constructor
    /// would reject throws <see cref="ArgumentException"/> naming the optimizer, "momentum" and the value.</summary>
    double Momentum { get; set; }
}
