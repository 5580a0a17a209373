using System.Text.Json.Serialization;

namespace Research.Core.Optim;

/// <summary>
/// The optimizers of the toolkit, named exactly as PyTorch 1.13's classes in <c>torch.optim</c>
/// (so <c>kind.ToString()</c> is PyTorch's class name). A closed set: each member has one class
/// (<see cref="Sgd"/>, <see cref="Optim.Adagrad"/>, <see cref="Optim.Adadelta"/>, <see cref="RmsProp"/>,
/// <see cref="Optim.Adam"/>, <see cref="Optim.AdamW"/>, <see cref="Optim.RAdam"/>) and
/// <see cref="Optimizers.Create(OptimizerKind, IEnumerable{TorchSharp.Modules.Parameter}, IDictionary{string, object}?)"/>
/// builds any of them.
/// </summary>
/// <remarks>System.Text.Json writes a kind as its name ("Adam"), not as a number, so configuration
/// hashes and manifests read as before the type existed.</remarks>
[JsonConverter(typeof(JsonStringEnumConverter<OptimizerKind>))]
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with optional momentum (<c>torch.optim.SGD</c>).</summary>
    SGD,

    /// <summary>Adagrad (<c>torch.optim.Adagrad</c>).</summary>
    Adagrad,

    /// <summary>Adadelta (<c>torch.optim.Adadelta</c>).</summary>
    Adadelta,

    /// <summary>RMSprop (<c>torch.optim.RMSprop</c>).</summary>
    RMSprop,

    /// <summary>Adam with L2 weight decay (<c>torch.optim.Adam</c>).</summary>
    Adam,

    /// <summary>Adam with decoupled weight decay (<c>torch.optim.AdamW</c>).</summary>
    AdamW,

    /// <summary>Rectified Adam (<c>torch.optim.RAdam</c>).</summary>
    RAdam,
}
