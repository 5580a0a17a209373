using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Init;

/// <summary>Which fan Kaiming (He) initialisation preserves: the forward pass's (fan-in) or the
/// backward pass's (fan-out).</summary>
public enum FanMode
{
    /// <summary>Number of inputs per output unit (size(1) × receptive field): preserves the variance
    /// of activations in the forward pass.</summary>
    FanIn,

    /// <summary>Number of outputs per input unit (size(0) × receptive field): preserves the variance
    /// of gradients in the backward pass.</summary>
    FanOut,
}

/// <summary>
/// Weight initialisers with PyTorch 1.13's <c>torch.nn.init</c> semantics (fans, gains, bounds),
/// filling a tensor in place under <c>no_grad</c>, optionally from an explicit generator.
/// </summary>
/// <remarks>
/// <para>Use these rather than TorchSharp 0.107's <c>torch.nn.init</c>: its <c>xavier_normal_</c>
/// draws from a uniform distribution (same standard deviation, wrong shape and tails), and its
/// initialisers take no generator.</para>
/// <para>Each method returns the tensor it filled. With <c>generator</c> null, torch's global
/// generator is used (seeded by <c>torch.manual_seed</c>). libtorch's CPU generator and its
/// <c>uniform_</c>/<c>normal_</c> kernels are PyTorch's, so on the CPU a generator seeded s gives the
/// same float32 weights as PyTorch 1.13's initialiser after <c>torch.manual_seed(s)</c> (checked for
/// s = 0 against every configuration in <c>/work/shared/reference/init.json</c>); <see cref="Orthogonal"/>
/// agrees to the rounding of the float32 QR decomposition. A tensor with no elements is left as it is.</para>
/// </remarks>
public static class Initializers
{
    /// <summary>
    /// PyTorch's <c>calculate_gain</c>: the recommended gain for a nonlinearity. "linear", "conv1d",
    /// "conv2d", "conv3d", "conv_transpose1d/2d/3d", "sigmoid" → 1; "tanh" → 5/3; "relu" → √2;
    /// "leaky_relu" → √(2/(1 + slope²)) with slope = <paramref name="param"/> (0.01 when null);
    /// "selu" → 3/4.
    /// </summary>
    /// <param name="nonlinearity">The nonlinearity's PyTorch name (case-sensitive, as PyTorch).</param>
    /// <param name="param">The negative slope of leaky_relu (ignored by the others; null: 0.01).</param>
    /// <exception cref="ArgumentException">An unknown nonlinearity or a non-finite slope.</exception>
    public static double CalculateGain(string nonlinearity, double? param = null)
    {
        ArgumentNullException.ThrowIfNull(nonlinearity);
        switch (nonlinearity)
        {
            case "linear" or "conv1d" or "conv2d" or "conv3d" or "conv_transpose1d" or "conv_transpose2d"
                or "conv_transpose3d" or "sigmoid":
                return 1;
            case "tanh":
                return 5.0 / 3;
            case "relu":
                return Math.Sqrt(2.0);
            case "leaky_relu":
                double slope = param ?? 0.01;
                if (!double.IsFinite(slope))
                    throw new ArgumentException($"CalculateGain: param (negative slope): expected a finite number, got {slope}.",
                        nameof(param));
                return Math.Sqrt(2.0 / (1 + slope * slope));
            case "selu":
                return 3.0 / 4;
            default:
                throw new ArgumentException(
                    $"CalculateGain: nonlinearity: expected one of linear, conv1d, conv2d, conv3d, conv_transpose1d, " +
                    $"conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu; got '{nonlinearity}'.",
                    nameof(nonlinearity));
        }
    }

    /// <summary>
    /// PyTorch's <c>_calculate_fan_in_and_fan_out</c>: for a weight of shape [out, in, k1, k2, …],
    /// fan_in = in·k1·k2·… and fan_out = out·k1·k2·… (a Linear weight is [out_features, in_features];
    /// a Conv2d weight [out_channels, in_channels/groups, kH, kW]).
    /// </summary>
    /// <param name="tensor">A weight with at least 2 dimensions.</param>
    /// <exception cref="ArgumentException">Fewer than 2 dimensions.</exception>
    public static (long FanIn, long FanOut) CalculateFanInAndFanOut(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.dim() < 2)
            throw new ArgumentException(
                $"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (got shape " +
                $"[{string.Join(", ", tensor.shape)}]); these initialisers are for weights, not biases.", nameof(tensor));
        long receptive = 1;
        for (int d = 2; d < tensor.dim(); d++) receptive *= tensor.shape[d];
        return (tensor.shape[1] * receptive, tensor.shape[0] * receptive);
    }

    /// <summary>Fills <paramref name="tensor"/> with draws from N(mean, std²).</summary>
    /// <param name="tensor">The tensor to fill in place.</param>
    /// <param name="mean">Mean of the normal distribution (default 0).</param>
    /// <param name="std">Standard deviation ≥ 0 (default 1).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">A negative or non-finite std, or a non-finite mean.</exception>
    public static Tensor Normal(Tensor tensor, double mean = 0, double std = 1, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!double.IsFinite(mean))
            throw new ArgumentException($"Normal: mean: expected a finite number, got {mean}.", nameof(mean));
        if (!(std >= 0) || double.IsInfinity(std))
            throw new ArgumentException($"Normal: std: expected a finite value >= 0, got {std}.", nameof(std));
        if (tensor.numel() == 0) return tensor;
        using var _ = torch.no_grad();
        tensor.normal_(mean, std, generator);
        return tensor;
    }

    /// <summary>Fills <paramref name="tensor"/> with draws from U(low, high).</summary>
    /// <param name="tensor">The tensor to fill in place.</param>
    /// <param name="low">Lower bound (default 0).</param>
    /// <param name="high">Upper bound ≥ low (default 1).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">Non-finite bounds or high &lt; low.</exception>
    public static Tensor Uniform(Tensor tensor, double low = 0, double high = 1, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!double.IsFinite(low) || !double.IsFinite(high) || high < low)
            throw new ArgumentException($"Uniform: expected finite bounds with low <= high, got low={low}, high={high}.",
                nameof(high));
        if (tensor.numel() == 0) return tensor;
        using var _ = torch.no_grad();
        tensor.uniform_(low, high, generator);
        return tensor;
    }

    /// <summary>
    /// Xavier (Glorot) uniform: U(−a, a) with a = gain·√(6/(fan_in + fan_out)), i.e. std
    /// gain·√(2/(fan_in + fan_out)). Glorot and Bengio, "Understanding the difficulty of training deep
    /// feedforward neural networks", AISTATS 2010.
    /// </summary>
    /// <param name="tensor">A weight (≥ 2 dimensions) to fill in place.</param>
    /// <param name="gain">Scaling factor ≥ 0, e.g. <see cref="CalculateGain"/>("tanh") (default 1).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">A bad gain or fewer than 2 dimensions.</exception>
    public static Tensor XavierUniform(Tensor tensor, double gain = 1, Generator? generator = null)
    {
        CheckGain(gain, nameof(XavierUniform));
        if (tensor.numel() == 0) return tensor;
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        double std = gain * Math.Sqrt(2.0 / (fanIn + fanOut));
        double a = Math.Sqrt(3.0) * std;
        return Uniform(tensor, -a, a, generator);
    }

    /// <summary>
    /// Xavier (Glorot) normal: N(0, std²) with std = gain·√(2/(fan_in + fan_out)). Glorot and Bengio,
    /// AISTATS 2010. (TorchSharp 0.107's <c>xavier_normal_</c> draws uniform values instead.)
    /// </summary>
    /// <param name="tensor">A weight (≥ 2 dimensions) to fill in place.</param>
    /// <param name="gain">Scaling factor ≥ 0 (default 1).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">A bad gain or fewer than 2 dimensions.</exception>
    public static Tensor XavierNormal(Tensor tensor, double gain = 1, Generator? generator = null)
    {
        CheckGain(gain, nameof(XavierNormal));
        if (tensor.numel() == 0) return tensor;
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        double std = gain * Math.Sqrt(2.0 / (fanIn + fanOut));
        return Normal(tensor, 0, std, generator);
    }

    /// <summary>
    /// Kaiming (He) uniform: U(−b, b) with b = √3·gain/√fan, gain = <see cref="CalculateGain"/>(nonlinearity, a).
    /// He et al., "Delving Deep into Rectifiers", ICCV 2015. With the defaults (a = 0, leaky_relu) the
    /// gain is √2, as for ReLU; nn.Linear's own default is a = √5 (bound 1/√fan_in).
    /// </summary>
    /// <param name="tensor">A weight (≥ 2 dimensions) to fill in place.</param>
    /// <param name="a">Negative slope of the leaky ReLU that follows (only used with "leaky_relu"; default 0).</param>
    /// <param name="mode">Fan to preserve (default fan-in).</param>
    /// <param name="nonlinearity">The following nonlinearity, PyTorch's name (default "leaky_relu"; "relu" usual).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">An unknown nonlinearity or fewer than 2 dimensions.</exception>
    public static Tensor KaimingUniform(Tensor tensor, double a = 0, FanMode mode = FanMode.FanIn,
        string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        double gain = CalculateGain(nonlinearity, a);
        if (tensor.numel() == 0) return tensor;
        double bound = Math.Sqrt(3.0) * (gain / Math.Sqrt(Fan(tensor, mode)));
        return Uniform(tensor, -bound, bound, generator);
    }

    /// <summary>
    /// Kaiming (He) normal: N(0, std²) with std = gain/√fan, gain = <see cref="CalculateGain"/>(nonlinearity, a).
    /// He et al., ICCV 2015.
    /// </summary>
    /// <param name="tensor">A weight (≥ 2 dimensions) to fill in place.</param>
    /// <param name="a">Negative slope of the leaky ReLU that follows (only used with "leaky_relu"; default 0).</param>
    /// <param name="mode">Fan to preserve (default fan-in).</param>
    /// <param name="nonlinearity">The following nonlinearity, PyTorch's name (default "leaky_relu").</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">An unknown nonlinearity or fewer than 2 dimensions.</exception>
    public static Tensor KaimingNormal(Tensor tensor, double a = 0, FanMode mode = FanMode.FanIn,
        string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        double gain = CalculateGain(nonlinearity, a);
        if (tensor.numel() == 0) return tensor;
        double std = gain / Math.Sqrt(Fan(tensor, mode));
        return Normal(tensor, 0, std, generator);
    }

    /// <summary>
    /// Orthogonal initialisation as PyTorch's <c>orthogonal_</c>: the weight viewed as rows × (numel/rows)
    /// becomes gain·Q, Q from the QR decomposition of a standard normal matrix (of its transpose when
    /// rows &lt; cols) with columns' signs fixed by diag(R) so that Q is Haar-distributed. Rows (or
    /// columns) are then orthonormal up to gain, and every entry has RMS gain/√max(rows, cols).
    /// Saxe, McClelland and Ganguli, "Exact solutions to the nonlinear dynamics of learning in deep
    /// linear neural networks", ICLR 2014; Mezzadri, "How to generate random matrices from the
    /// classical compact groups", Notices AMS 54 (2007).
    /// </summary>
    /// <param name="tensor">A tensor with ≥ 2 dimensions to fill in place.</param>
    /// <param name="gain">Scaling factor ≥ 0 (default 1).</param>
    /// <param name="generator">Random generator (null: torch's global one).</param>
    /// <exception cref="ArgumentException">A bad gain or fewer than 2 dimensions.</exception>
    public static Tensor Orthogonal(Tensor tensor, double gain = 1, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        CheckGain(gain, nameof(Orthogonal));
        if (tensor.dim() < 2)
            throw new ArgumentException(
                $"Orthogonal: expected a tensor with at least 2 dimensions, got shape [{string.Join(", ", tensor.shape)}].",
                nameof(tensor));
        if (tensor.numel() == 0) return tensor;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long rows = tensor.shape[0];
        long cols = tensor.numel() / rows;
        var flattened = torch.empty(new[] { rows, cols }, dtype: tensor.dtype, device: tensor.device);
        flattened.normal_(0, 1, generator);
        if (rows < cols) flattened = flattened.t();
        var (q, r) = torch.linalg.qr(flattened);
        var ph = torch.diag(r, 0).sign();
        q = q * ph;
        if (rows < cols) q = q.t();
        tensor.view_as(q).copy_(q);
        using var g = gain.ToScalar();
        tensor.mul_(g);
        return tensor;
    }

    static double Fan(Tensor tensor, FanMode mode)
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        return mode switch
        {
            FanMode.FanIn => fanIn,
            FanMode.FanOut => fanOut,
            _ => throw new ArgumentException($"mode: expected FanIn or FanOut, got {mode}.", nameof(mode)),
        };
    }

    static void CheckGain(double gain, string method)
    {
        if (!(gain >= 0) || double.IsInfinity(gain))
            throw new ArgumentException($"{method}: gain: expected a finite value >= 0, got {gain}.", nameof(gain));
    }
}
