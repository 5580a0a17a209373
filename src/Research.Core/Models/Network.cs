using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Research.Core.Models;

/// <summary>One layer's tensors from the last forward pass of a <see cref="Network"/> in capture mode.</summary>
/// <param name="Name">The layer's name in the network (e.g. "fc2", "relu2").</param>
/// <param name="Kind">The layer type (e.g. "Linear", "ReLU", "BatchNorm1d").</param>
/// <param name="Input">The tensor the layer received (for the first layer: the network input).</param>
/// <param name="Output">The tensor it produced; after <c>backward()</c> its <c>.grad</c> is dL/d(output).</param>
public sealed record LayerTensors(string Name, string Kind, Tensor Input, Tensor Output);

/// <summary>
/// A feed-forward network as an ordered list of named layers (like <c>nn.Sequential</c>), with a
/// capture mode that gives each layer's input and output and, after <c>backward()</c>, the exact
/// gradient of the loss with respect to both.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no backward hooks (no <c>register_full_backward_hook</c>, no
/// <c>Tensor.register_hook</c>), so the seminars' backward_hook is replaced by
/// <c>retain_grad()</c>: in capture mode every layer output keeps its gradient, and, when
/// <see cref="CaptureInputGradient"/> is set, the input is marked <c>requires_grad</c> so that the
/// first layer's input gradient exists too. Because the layers are applied in sequence, the input
/// of layer i is the output of layer i−1, so dL/d(input of layer i) is that tensor's <c>.grad</c>:
/// exact, not an approximation. Capture keeps the tensors alive until the next forward pass; they
/// belong to the caller's dispose scope. Capture mode costs memory and some time; it is off by default.
/// </remarks>
public class Network : Module<Tensor, Tensor>
{
    readonly List<(string Name, Module<Tensor, Tensor> Layer)> _layers = new();
    readonly List<LayerTensors> _captured = new();

    /// <summary>Creates an empty network; add layers with <see cref="Add"/>.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="description">A one-line architecture description for manifests and reports.</param>
    public Network(string name, string description) : base(name) => Description = description;

    /// <summary>A one-line architecture description (e.g. "MLP 784-512-512-10 ReLU").</summary>
    public string Description { get; }

    /// <summary>When true, <see cref="forward"/> records <see cref="Captured"/>.</summary>
    public bool CaptureLayerTensors { get; set; }

    /// <summary>In capture mode, also make the network input require a gradient.</summary>
    public bool CaptureInputGradient { get; set; }

    /// <summary>Layer names in order.</summary>
    public IReadOnlyList<string> LayerNames => _layers.Select(l => l.Name).ToList();

    /// <summary>The layers in order, with their names.</summary>
    public IReadOnlyList<(string Name, Module<Tensor, Tensor> Layer)> Layers => _layers;

    /// <summary>Each layer's input and output from the last forward pass in capture mode.</summary>
    public IReadOnlyList<LayerTensors> Captured => _captured;

    /// <summary>Appends a named layer (names must be unique; they prefix parameter names).</summary>
    public Network Add(string name, Module<Tensor, Tensor> layer)
    {
        if (_layers.Any(l => l.Name == name))
            throw new ArgumentException($"layer name '{name}' is already used in {Description}.", nameof(name));
        _layers.Add((name, layer));
        register_module(name, layer);
        return this;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        _captured.Clear();
        var x = input;
        if (CaptureLayerTensors && CaptureInputGradient && !x.requires_grad)
            x = x.detach().requires_grad_(true);
        foreach (var (name, layer) in _layers)
        {
            var y = layer.call(x);
            if (CaptureLayerTensors)
            {
                if (y.requires_grad) y.retain_grad();
                _captured.Add(new LayerTensors(name, layer.GetType().Name, x, y));
            }
            x = y;
        }
        return x;
    }

    /// <summary>Named weight matrices of all Linear / Conv / DropConnect layers ("fc1.weight", …).</summary>
    public IEnumerable<(string Name, TorchSharp.Modules.Parameter Weight)> Weights() =>
        named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal) && p.parameter.dim() >= 2);
}
