using Research.Core.Models;
using Research.Core.Training;

namespace Research.Core.Studies.Regularisation;

/// <summary>The heads of the seminar's <c>TestNetwork</c> (196 features → 10 logits) the study trains.</summary>
public enum CnnHead
{
    /// <summary>The seminar's baseline: 196→128→128→10, ReLU.</summary>
    Baseline,
    /// <summary>The baseline with Dropout(0.3) after each hidden Linear (before its ReLU: the same, as ReLU
    /// commutes with the mask's rescaling).</summary>
    Dropout,
    /// <summary>What the notebook's DropConnect run trained: a single DropConnect(196, 10, p = 0.8) layer as
    /// the whole head (its loop that would replace every Linear is commented out).</summary>
    DropConnectAsRun,
    /// <summary>The intended DropConnect head: every Linear of the baseline as DropConnect with p = 0.8.</summary>
    DropConnectAllLayers,
    /// <summary>The notebook's BatchNorm head: 196→512→128→10 (wider than the others), Linear → BatchNorm →
    /// ReLU.</summary>
    BatchNormWide,
    /// <summary>The notebook's LayerNorm head: 196→128→128→10 with its batch-wide
    /// <see cref="SeminarLayerNormalization"/> before each ReLU.</summary>
    SeminarLayerNorm,
    /// <summary>196→128→128→10 with per-example <c>nn.LayerNorm</c> before each ReLU.</summary>
    LayerNorm,
    /// <summary>196→128→128→10 with BatchNorm before each ReLU: the baseline's width.</summary>
    BatchNorm,
}

/// <summary>One configuration of the seminar CNN: a head and the normalisation of its convolutions.</summary>
/// <param name="Id">Stable identifier, used in tables and claims ("dropout", "conv-instance-norm").</param>
/// <param name="Title">What it is, for the report.</param>
/// <param name="Head">The head.</param>
/// <param name="Conv">Normalisation after each convolution (the seminar: none).</param>
public sealed record CnnVariant(string Id, string Title, CnnHead Head,
    ChannelNormalization Conv = ChannelNormalization.None)
{
    /// <summary>The seminar's five heads, with DropConnect both as run and as intended.</summary>
    public static CnnVariant[] SeminarHeads { get; } =
    [
        new("baseline", "baseline 196-128-128-10", CnnHead.Baseline),
        new("dropout", "Dropout(0.3) after each hidden layer", CnnHead.Dropout),
        new("dropconnect-as-run", "DropConnect as the notebook ran it: one DropConnect(196, 10, p = 0.8)",
            CnnHead.DropConnectAsRun),
        new("dropconnect-all-layers", "DropConnect as intended: every layer of the baseline, p = 0.8",
            CnnHead.DropConnectAllLayers),
        new("batchnorm-wide", "BatchNorm 196-512-128-10 (the notebook's, wider)", CnnHead.BatchNormWide),
        new("seminar-layernorm", "the seminar's LayerNormalization (batch-wide) 196-128-128-10",
            CnnHead.SeminarLayerNorm),
    ];

    /// <summary>The normalisation variants: per-example LayerNorm, BatchNorm at the baseline's width, and
    /// BatchNorm, GroupNorm with G = 1 (LayerNorm) and G = C (InstanceNorm) of the convolutions' channels.</summary>
    public static CnnVariant[] NormalizationVariants { get; } =
    [
        new("layernorm", "per-example nn.LayerNorm 196-128-128-10", CnnHead.LayerNorm),
        new("batchnorm", "BatchNorm 196-128-128-10 (the baseline's width)", CnnHead.BatchNorm),
        new("conv-batchnorm", "BatchNorm2d after each convolution, baseline head", CnnHead.Baseline,
            ChannelNormalization.BatchNorm),
        new("conv-layernorm", "GroupNorm G = 1 (LayerNorm) after each convolution, baseline head", CnnHead.Baseline,
            ChannelNormalization.LayerNorm),
        new("conv-instancenorm", "GroupNorm G = C (InstanceNorm) after each convolution, baseline head",
            CnnHead.Baseline, ChannelNormalization.InstanceNorm),
    ];
}

/// <summary>
/// The seminar "improving convergence", parts 2–4: its CNN with each head on MNIST, Adam lr 1e-3,
/// batch 128; the normalisation variants; BatchNorm against LayerNorm at several batch sizes; and Monte
/// Carlo dropout on the Dropout head.
/// </summary>
public sealed record CnnExperimentConfig
{
    /// <summary>The heads of the comparison (the seminar's), each trained once per seed.</summary>
    public CnnVariant[] Heads { get; init; } = CnnVariant.SeminarHeads;

    /// <summary>The normalisation variants, trained on the first <see cref="VariantSeeds"/> seeds.</summary>
    public CnnVariant[] Variants { get; init; } = CnnVariant.NormalizationVariants;

    /// <summary>Seeds (of those given) on which the variants are trained.</summary>
    public int VariantSeeds { get; init; } = 2;

    /// <summary>Epochs per run (the seminar's 20).</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Examples per step (the seminar's 128).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Adam's learning rate (the seminar's 1e-3).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Use the first N training images (null: all 60,000).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>Use the first N test images (null: all 10,000).</summary>
    public int? TestExamples { get; init; }

    /// <summary>Batch sizes at which the BatchNorm and LayerNorm heads are also trained (the batch size
    /// sensitivity); <see cref="BatchSize"/> itself is taken from the comparison.</summary>
    public int[] SensitivityBatchSizes { get; init; } = [8, 32];

    /// <summary>The heads of the batch-size sensitivity (by <see cref="CnnVariant.Id"/>).</summary>
    public string[] SensitivityHeads { get; init; } = ["batchnorm-wide", "seminar-layernorm", "layernorm"];

    /// <summary>Seeds (of those given) of the batch-size sensitivity.</summary>
    public int SensitivitySeeds { get; init; } = 5;

    /// <summary>Monte Carlo dropout: stochastic passes over the test images on the Dropout head (0: none).</summary>
    public int McPasses { get; init; } = 100;

    /// <summary>Monte Carlo dropout on the first N test images (null: every test image used).</summary>
    public int? McTestExamples { get; init; }

    /// <summary>libtorch intra-op threads while training (see <see cref="Runtime.TorchThreads"/>).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The device ("auto", "cpu", "cuda").</summary>
    public string Device { get; init; } = "auto";
}

/// <summary>One run of the lecture's sigmoid MLP.</summary>
/// <param name="Id">Stable identifier ("bn-lr-1e-2").</param>
/// <param name="Title">What it is, for the report.</param>
/// <param name="Normalization">None or BatchNorm (then the Linear layers have no bias).</param>
/// <param name="Placement">BatchNorm before (the lecture) or after the sigmoid.</param>
/// <param name="LearningRate">SGD's learning rate (no momentum).</param>
/// <param name="Dropout">The probability of the hand-written <see cref="InvertedDropout"/> after each hidden
/// activation (0: none).</param>
/// <param name="Penalty">A weight penalty, or null.</param>
/// <param name="PenaltyStrength">λ of an L1 penalty; for an L2 penalty the λ₁ it is matched to: λ₂ =
/// λ₁·Σ|w₀|/Σw₀² at the seed's initial weights, so that both penalties start equal.</param>
/// <param name="KeepWeights">Return the final weight matrices (for the penalties' histograms).</param>
public sealed record SigmoidRun(string Id, string Title, Normalization Normalization, double LearningRate,
    NormalizationPlacement Placement = NormalizationPlacement.BeforeActivation, double Dropout = 0,
    PenaltyNorm? Penalty = null, double PenaltyStrength = 0, bool KeepWeights = false)
{
    /// <summary>The lecture's runs: the plain net and BatchNorm at lr 1e-4 and 1e-2, BatchNorm after the
    /// activation, BatchNorm with the hand-written Dropout, and at lr 0.1 (where the plain net trains) the plain
    /// net without and with the hand-written Dropout, with an L1 and with a matched L2 penalty.</summary>
    public static SigmoidRun[] Lecture { get; } =
    [
        new("plain-lr-1e-4", "plain, SGD lr 1e-4", Normalization.None, 1e-4),
        new("plain-lr-1e-2", "plain, SGD lr 1e-2", Normalization.None, 1e-2),
        new("bn-lr-1e-4", "BatchNorm, SGD lr 1e-4", Normalization.BatchNorm, 1e-4),
        new("bn-lr-1e-2", "BatchNorm, SGD lr 1e-2", Normalization.BatchNorm, 1e-2),
        new("bn-after-lr-1e-2", "BatchNorm after the sigmoid, SGD lr 1e-2", Normalization.BatchNorm, 1e-2,
            NormalizationPlacement.AfterActivation),
        new("bn-dropout-lr-1e-2", "BatchNorm with hand-written Dropout(0.5), SGD lr 1e-2", Normalization.BatchNorm,
            1e-2, Dropout: 0.5),
        new("plain-lr-0.1", "plain, SGD lr 0.1 (no penalty)", Normalization.None, 0.1, KeepWeights: true),
        new("dropout-lr-0.1", "plain with hand-written Dropout(0.5), SGD lr 0.1", Normalization.None, 0.1,
            Dropout: 0.5),
        new("l1-lr-0.1", "plain, SGD lr 0.1, L1 penalty λ = 1e-4", Normalization.None, 0.1,
            Penalty: PenaltyNorm.L1, PenaltyStrength: 1e-4, KeepWeights: true),
        new("l2-lr-0.1", "plain, SGD lr 0.1, L2 penalty matched to λ₁ = 1e-4", Normalization.None, 0.1,
            Penalty: PenaltyNorm.L2, PenaltyStrength: 1e-4, KeepWeights: true),
    ];
}

/// <summary>
/// The lecture "convergence and overfitting", parts 3–4, on its sigmoid MLP 784→100→100→100→10
/// (Xavier-normal weights with the sigmoid's gain 1, zero biases), SGD without momentum, batch 32.
/// </summary>
public sealed record SigmoidExperimentConfig
{
    /// <summary>The runs, each once per seed.</summary>
    public SigmoidRun[] Runs { get; init; } = SigmoidRun.Lecture;

    /// <summary>Layer widths, input and output included.</summary>
    public int[] Widths { get; init; } = [784, 100, 100, 100, 10];

    /// <summary>Examples per step (the lecture's 32).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Epochs per run.</summary>
    public int Epochs { get; init; } = 5;

    /// <summary>Use the first N training images (null: all 60,000).</summary>
    public int? TrainExamples { get; init; }

    /// <summary>Use the first N test images (null: all 10,000).</summary>
    public int? TestExamples { get; init; }

    /// <summary>Batches of the training data on which the per-layer gradients are measured, at
    /// initialisation and after training.</summary>
    public int GradientBatches { get; init; } = 20;

    /// <summary>libtorch intra-op threads while training.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The device ("auto", "cpu", "cuda").</summary>
    public string Device { get; init; } = "auto";
}

/// <summary>
/// The lecture's overfitting demo: y = x + noise·ε on N points of [−1, 1] (train and test x both
/// <c>linspace(−1, 1, N)</c>, independent noise), a 1→100→100→1 ReLU net with and without Dropout, Adam
/// lr 0.01, MSE, full-batch epochs; Monte Carlo dropout on the Dropout net.
/// </summary>
public sealed record RegressionExperimentConfig
{
    /// <summary>Points of each set (train, test, validation).</summary>
    public int Points { get; init; } = 50;

    /// <summary>The noise's standard deviation (the lecture's 0.3).</summary>
    public double Noise { get; init; } = 0.3;

    /// <summary>Width of the two hidden layers.</summary>
    public int Hidden { get; init; } = 100;

    /// <summary>Dropout after the first and the second hidden layer (the lecture's 0.5 and 0.2).</summary>
    public double[] Dropout { get; init; } = [0.5, 0.2];

    /// <summary>Adam's learning rate.</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>Full-batch epochs.</summary>
    public int Epochs { get; init; } = 1500;

    /// <summary>The fitted curves are kept every this many epochs (and before training).</summary>
    public int SnapshotEvery { get; init; } = 100;

    /// <summary>Points of the grid on [−1, 1] on which the curves are drawn.</summary>
    public int GridPoints { get; init; } = 101;

    /// <summary>Monte Carlo dropout passes per input.</summary>
    public int McPasses { get; init; } = 1000;

    /// <summary>Patience of the early-stopped net without Dropout (epochs without a better validation MSE).</summary>
    public int Patience { get; init; } = 100;

    /// <summary>libtorch intra-op threads.</summary>
    public int Threads { get; init; } = 1;
}
