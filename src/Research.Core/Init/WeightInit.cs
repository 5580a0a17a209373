using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Init;

/// <summary>The initialisation schemes of the seminars.</summary>
public enum InitScheme
{
    /// <summary>Keep PyTorch's default (kaiming_uniform with a = √5 for Linear).</summary>
    Default,
    /// <summary>N(0, σ²) with σ = <see cref="WeightInit.Std"/>.</summary>
    Normal,
    /// <summary>Glorot and Bengio 2010, uniform: bound gain·√(6/(fan_in+fan_out)).</summary>
    XavierUniform,
    /// <summary>Glorot and Bengio 2010, normal: std gain·√(2/(fan_in+fan_out)).</summary>
    XavierNormal,
    /// <summary>He et al. 2015, uniform, fan-in or fan-out.</summary>
    KaimingUniform,
    /// <summary>He et al. 2015, normal, fan-in or fan-out.</summary>
    KaimingNormal,
    /// <summary>Saxe et al. 2014, (semi-)orthogonal matrix times gain.</summary>
    Orthogonal,
}

/// <summary>How to initialise the weight matrices of a network (biases are set to zero unless told).</summary>
/// <param name="Scheme">The scheme.</param>
/// <param name="Std">σ for <see cref="InitScheme.Normal"/>.</param>
/// <param name="Gain">Gain for Xavier and orthogonal (see <see cref="Initializers.CalculateGain"/>).</param>
/// <param name="Mode">Fan-in or fan-out for Kaiming.</param>
/// <param name="Nonlinearity">Nonlinearity for Kaiming's gain ("relu", "leaky_relu", "tanh" …).</param>
/// <param name="A">Negative slope for Kaiming with leaky_relu.</param>
/// <param name="ZeroBias">Set biases to zero (the seminars do).</param>
public sealed record WeightInit(
    InitScheme Scheme,
    double Std = 0.01,
    double Gain = 1.0,
    FanMode Mode = FanMode.FanIn,
    string Nonlinearity = "relu",
    double A = 0.0,
    bool ZeroBias = true)
{
    /// <summary>A short description ("xavier_uniform(gain=1)").</summary>
    public override string ToString() => Scheme switch
    {
        InitScheme.Normal => $"normal(0, {Std})",
        InitScheme.XavierUniform or InitScheme.XavierNormal or InitScheme.Orthogonal => $"{Scheme}(gain={Gain})",
        InitScheme.KaimingUniform or InitScheme.KaimingNormal => $"{Scheme}({Mode}, {Nonlinearity}, a={A})",
        _ => "PyTorch default",
    };

    /// <summary>
    /// Initialises every weight matrix of <paramref name="network"/> (Linear, DropConnect and Conv
    /// layers, in layer order: one draw per layer, as the seminars' loops do) and zeroes the biases.
    /// </summary>
    /// <returns>The number of weight tensors initialised.</returns>
    public int Apply(Network network, Generator? generator = null)
    {
        int count = 0;
        using var _ = torch.no_grad();
        foreach (var (_, layer) in network.Layers)
        {
            foreach (var (name, p) in layer.named_parameters(recurse: false))
            {
                if (name is "weight" && p.dim() >= 2)
                {
                    switch (Scheme)
                    {
                        case InitScheme.Default: break;
                        case InitScheme.Normal: Initializers.Normal(p, 0, Std, generator); break;
                        case InitScheme.XavierUniform: Initializers.XavierUniform(p, Gain, generator); break;
                        case InitScheme.XavierNormal: Initializers.XavierNormal(p, Gain, generator); break;
                        case InitScheme.KaimingUniform: Initializers.KaimingUniform(p, A, Mode, Nonlinearity, generator); break;
                        case InitScheme.KaimingNormal: Initializers.KaimingNormal(p, A, Mode, Nonlinearity, generator); break;
                        case InitScheme.Orthogonal: Initializers.Orthogonal(p, Gain, generator); break;
                    }
                    count++;
                }
                else if (name is "bias" && ZeroBias) p.zero_();
            }
        }
        return count;
    }
}
