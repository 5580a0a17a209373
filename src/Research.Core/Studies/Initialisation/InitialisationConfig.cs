using Research.Core.Init;
using Research.Core.Models;

namespace Research.Core.Studies.Initialisation;

/// <summary>The networks of the initialisation study (biases zero, an activation after every Linear
/// layer but the last).</summary>
public enum InitNetwork
{
    /// <summary>The seminar's wide net: 784 → 500 (×10 hidden layers) → 10, 11 Linear layers.</summary>
    SeminarWide,

    /// <summary>The seminar's deep net: 784 → 64 → 32 → 16 (×30 hidden layers of 16) → 10, 33 Linear layers.</summary>
    SeminarDeep,

    /// <summary>The lecture's sigmoid MLP with three hidden layers: 784 → 100 → 100 → 100 → 10.</summary>
    LectureSigmoid,

    /// <summary>784 → 256 (×10 hidden layers) → 10: square hidden layers; with no activation, the linear
    /// stack in which orthogonal weights preserve the norm exactly (Saxe et al. 2014).</summary>
    Stack256,
}

/// <summary>One initialisation to measure at initialisation: a network, its activation and a scheme.</summary>
/// <param name="Id">Stable identifier used in tables, CSV files and claims ("wide-tanh-normal0.1").</param>
/// <param name="Title">A short legend label ("tanh, N(0, 0.1)").</param>
/// <param name="Network">Which network.</param>
/// <param name="Activation">The activation after each hidden Linear layer; null for none (a linear network).</param>
/// <param name="Init">The weight initialisation (biases zero).</param>
/// <param name="BatchSize">Examples per measured batch (the seminar's 100; the lecture's 32).</param>
/// <param name="ReferenceKey">The configuration's key in <c>init_variance.json</c> (PyTorch 1.13.1), or null.</param>
/// <param name="Source">Which notebook the configuration comes from.</param>
public sealed record InitConfiguration(
    string Id,
    string Title,
    InitNetwork Network,
    Activation? Activation,
    WeightInit Init,
    int BatchSize,
    string? ReferenceKey,
    string Source)
{
    /// <summary>The layer widths of <see cref="Network"/>, input and output included.</summary>
    public int[] Widths => InitialisationConfigurations.WidthsOf(Network);

    /// <summary>"MLP 784-500x10-10 tanh" and the like.</summary>
    public string NetworkText => InitialisationConfigurations.Describe(Network, Activation);
}

/// <summary>A sigmoid net of the lecture to train: its depth and initialisation.</summary>
/// <param name="Id">Stable identifier ("sigmoid-n3-normal0.01").</param>
/// <param name="Title">Legend label ("n = 3, N(0, 0.01)").</param>
/// <param name="HiddenLayers">n: the net is 784 → 100 → (100)ⁿ⁻¹ → 10.</param>
/// <param name="Init">The weight initialisation (biases zero unless it is PyTorch's default).</param>
public sealed record SigmoidRun(string Id, string Title, int HiddenLayers, WeightInit Init)
{
    /// <summary>The layer widths for a hidden width.</summary>
    public int[] Widths(int hidden) => [784, .. Enumerable.Repeat(hidden, HiddenLayers), 10];
}

/// <summary>
/// Training of the lecture's sigmoid nets ("convergence and overfitting", parts 1–2): SGD (no
/// momentum) with the lecture's lr 1e-3 and, as a contrast, 0.1; batch 32; MNIST normalised with
/// (0.13, 0.3); the train loss of every step and the loss of one test batch after every step, test
/// accuracy per epoch, and each Linear layer's input and |∂L/∂W| at chosen iterations. Every run is
/// trained at every learning rate.
/// </summary>
public sealed record SigmoidTrainingConfig
{
    /// <summary>The runs, in report order.</summary>
    public SigmoidRun[] Runs { get; init; } = InitialisationConfigurations.SigmoidRuns;

    /// <summary>Width of every hidden layer (the lecture's 100).</summary>
    public int HiddenWidth { get; init; } = 100;

    /// <summary>SGD learning rates (no momentum): the lecture's 1e-3 first, then contrasts.</summary>
    public double[] LearningRates { get; init; } = [1e-3, 0.1];

    /// <summary>Examples per step (the lecture's 32).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Passes over the training examples (quick tier 1, the lecture's 5).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Use the first N training images (null: all 60,000).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>Iterations whose layer inputs and |∂L/∂W| are kept (1-based), besides each epoch's last.</summary>
    public long[] SnapshotIterations { get; init; } = [1, 100];

    /// <summary>The lecture's normalisation mean, applied as (x/255 − mean)/std.</summary>
    public double InputMean { get; init; } = 0.13;

    /// <summary>The lecture's normalisation std.</summary>
    public double InputStd { get; init; } = 0.3;

    /// <summary>The device ("auto", "cpu", "cuda").</summary>
    public string Device { get; init; } = "auto";

    /// <summary>libtorch intra-op threads while training (see
    /// <see cref="Runtime.TorchThreads"/>).</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>The configurations of the two notebooks, with the PyTorch reference keys where there is one.</summary>
public static class InitialisationConfigurations
{
    const string Seminar = "seminar \"improving convergence\", part 1";
    const string Lecture = "lecture \"convergence and overfitting\", parts 1-2";
    const string Extra = "init_variance.json extra contrast";

    /// <summary>The widths of a network.</summary>
    public static int[] WidthsOf(InitNetwork network) => network switch
    {
        InitNetwork.SeminarWide => [784, .. Enumerable.Repeat(500, 10), 10],
        InitNetwork.SeminarDeep => [784, 64, 32, .. Enumerable.Repeat(16, 30), 10],
        InitNetwork.LectureSigmoid => [784, 100, 100, 100, 10],
        InitNetwork.Stack256 => [784, .. Enumerable.Repeat(256, 10), 10],
        _ => throw new ArgumentOutOfRangeException(nameof(network), network,
            "expected SeminarWide, SeminarDeep, LectureSigmoid or Stack256."),
    };

    /// <summary>A one-line description of a network with its activation (null: none).</summary>
    public static string Describe(InitNetwork network, Activation? activation)
    {
        var widths = network switch
        {
            InitNetwork.SeminarWide => "784-500x10-10",
            InitNetwork.SeminarDeep => "784-64-32-16x30-10",
            InitNetwork.LectureSigmoid => "784-100x3-10",
            InitNetwork.Stack256 => "784-256x10-10",
            _ => throw new ArgumentOutOfRangeException(nameof(network), network, "unknown network."),
        };
        return activation is { } a ? $"MLP {widths} {a}" : $"linear stack {widths} (no activation)";
    }

    static WeightInit Normal(double std) => new(InitScheme.Normal, Std: std);

    static readonly WeightInit XavierUniform = new(InitScheme.XavierUniform, Gain: 1.0);

    static readonly WeightInit XavierSigmoid =
        new(InitScheme.XavierNormal, Gain: Initializers.CalculateGain("sigmoid"));

    static WeightInit He(FanMode mode) => new(InitScheme.KaimingNormal, Mode: mode, Nonlinearity: "relu");

    /// <summary>
    /// Every configuration measured at initialisation: the seminar's (wide tanh net with N(0, 0.1),
    /// Xavier and std √(1/fan_out); deep net with tanh + Xavier-uniform and ReLU + He fan-in and
    /// fan-out), init_variance.json's extra contrasts, the lecture's sigmoid net with PyTorch's default,
    /// N(0, 0.01), Xavier-normal with the sigmoid gain and orthogonal, and a linear stack with
    /// orthogonal and Xavier-normal weights.
    /// </summary>
    public static InitConfiguration[] All { get; } =
    [
        new("wide-tanh-normal0.1", "tanh, N(0, 0.1)", InitNetwork.SeminarWide, Activation.Tanh, Normal(0.1), 100,
            "net1_tanh_normal0.1", Seminar),
        new("wide-tanh-xavier", "tanh, Xavier-uniform", InitNetwork.SeminarWide, Activation.Tanh, XavierUniform, 100,
            "net1_tanh_xavier_uniform", Seminar),
        new("wide-tanh-fanout", "tanh, N(0, 1/fan_out)", InitNetwork.SeminarWide, Activation.Tanh,
            new WeightInit(InitScheme.KaimingNormal, Mode: FanMode.FanOut, Nonlinearity: "linear"), 100, null, Seminar),
        new("wide-tanh-normal0.01", "tanh, N(0, 0.01)", InitNetwork.SeminarWide, Activation.Tanh, Normal(0.01), 100,
            "net1_tanh_normal0.01", Extra),
        new("wide-tanh-xavier-gain", "tanh, Xavier-uniform gain 5/3", InitNetwork.SeminarWide, Activation.Tanh,
            new WeightInit(InitScheme.XavierUniform, Gain: Initializers.CalculateGain("tanh")), 100,
            "net1_tanh_xavier_uniform_gain5/3", Extra),
        new("deep-tanh-xavier", "tanh, Xavier-uniform", InitNetwork.SeminarDeep, Activation.Tanh, XavierUniform, 100,
            "net2_tanh_xavier_uniform", Seminar),
        new("deep-relu-he-fanin", "ReLU, He fan-in", InitNetwork.SeminarDeep, Activation.ReLU, He(FanMode.FanIn), 100,
            null, Seminar),
        new("deep-relu-he-fanout", "ReLU, He fan-out", InitNetwork.SeminarDeep, Activation.ReLU, He(FanMode.FanOut),
            100, "net2_relu_kaiming_normal_fanout", Seminar),
        new("deep-relu-xavier", "ReLU, Xavier-uniform", InitNetwork.SeminarDeep, Activation.ReLU, XavierUniform, 100,
            "net2_relu_xavier_uniform", Extra),
        new("deep-tanh-normal0.1", "tanh, N(0, 0.1)", InitNetwork.SeminarDeep, Activation.Tanh, Normal(0.1), 100,
            "net2_tanh_normal0.1", Extra),
        new("sigmoid-default", "sigmoid, PyTorch default", InitNetwork.LectureSigmoid, Activation.Sigmoid,
            new WeightInit(InitScheme.Default, ZeroBias: false), 32, null, Lecture),
        new("sigmoid-normal0.01", "sigmoid, N(0, 0.01)", InitNetwork.LectureSigmoid, Activation.Sigmoid, Normal(0.01),
            32, null, Lecture),
        new("sigmoid-xavier", "sigmoid, Xavier-normal gain(sigmoid)", InitNetwork.LectureSigmoid, Activation.Sigmoid,
            XavierSigmoid, 32, null, Lecture),
        new("sigmoid-orthogonal", "sigmoid, orthogonal", InitNetwork.LectureSigmoid, Activation.Sigmoid,
            new WeightInit(InitScheme.Orthogonal), 32, null, Lecture),
        new("linear-orthogonal", "linear, orthogonal", InitNetwork.Stack256, null,
            new WeightInit(InitScheme.Orthogonal), 100, null, Lecture),
        new("linear-xavier", "linear, Xavier-normal", InitNetwork.Stack256, null,
            new WeightInit(InitScheme.XavierNormal), 100, null, Lecture),
    ];

    /// <summary>The lecture's trained nets: n = 2 and 3 with N(0, 0.01) (the lecture's first runs) and
    /// with Xavier-normal and the sigmoid gain.</summary>
    public static SigmoidRun[] SigmoidRuns { get; } =
    [
        new("sigmoid-n2-normal0.01", "n = 2, N(0, 0.01)", 2, Normal(0.01)),
        new("sigmoid-n3-normal0.01", "n = 3, N(0, 0.01)", 3, Normal(0.01)),
        new("sigmoid-n2-xavier", "n = 2, Xavier gain(sigmoid)", 2, XavierSigmoid),
        new("sigmoid-n3-xavier", "n = 3, Xavier gain(sigmoid)", 3, XavierSigmoid),
    ];

    /// <summary><see cref="SigmoidRuns"/> and PyTorch's default initialisation (U(±1/√fan_in), biases
    /// kept) for n = 2 and 3, as a contrast (the full tier).</summary>
    public static SigmoidRun[] SigmoidRunsWithDefault { get; } =
    [
        .. SigmoidRuns,
        new("sigmoid-n2-default", "n = 2, PyTorch default", 2, new WeightInit(InitScheme.Default, ZeroBias: false)),
        new("sigmoid-n3-default", "n = 3, PyTorch default", 3, new WeightInit(InitScheme.Default, ZeroBias: false)),
    ];
}
