using Research.Core.Optim;
using Research.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>The update rules the optimizers study compares: the toolkit's PyTorch-exact optimizers
/// and the notebooks' hand-written variants.</summary>
public enum UpdateRule
{
    /// <summary><see cref="Sgd"/> without momentum (also the seminar's GD and the notes' SGD: the same rule).</summary>
    Sgd,
    /// <summary><see cref="Sgd"/> with momentum.</summary>
    Momentum,
    /// <summary><see cref="Sgd"/> with Nesterov momentum (PyTorch's reformulated form).</summary>
    Nesterov,
    /// <summary><see cref="Optim.Adagrad"/> (the notes' AdaGrad is this rule with ε = 1e-7).</summary>
    Adagrad,
    /// <summary><see cref="Optim.Adadelta"/>.</summary>
    Adadelta,
    /// <summary><see cref="RmsProp"/>.</summary>
    RmsProp,
    /// <summary><see cref="Optim.Adam"/>.</summary>
    Adam,
    /// <summary><see cref="Optim.AdamW"/>.</summary>
    AdamW,
    /// <summary><see cref="Optim.RAdam"/>.</summary>
    RAdam,
    /// <summary><see cref="HeavyBallMomentum"/>: the seminar's and the notes' Momentum.</summary>
    HeavyBall,
    /// <summary><see cref="LookAheadNesterov"/>: the seminar's NAG.</summary>
    LookAheadNesterov,
    /// <summary><see cref="SeminarAdagrad"/>: ε inside the root.</summary>
    SeminarAdagrad,
    /// <summary><see cref="SeminarAdadelta"/>: γ = 0.1, no lr.</summary>
    SeminarAdadelta,
    /// <summary><see cref="SeminarAdam"/>: bias correction stored in the moments.</summary>
    SeminarAdam,
}

/// <summary>
/// How to build one optimizer of a 2-D run: its label, rule and hyperparameters (NaN: the rule's default).
/// </summary>
/// <param name="Label">The label in figures and tables ("seminar Adam", "Adam (PyTorch)").</param>
/// <param name="Rule">The update rule.</param>
/// <param name="LearningRate">lr, finite and &gt; 0.</param>
/// <param name="Momentum">γ or μ for the momentum rules (default 0.9).</param>
/// <param name="Decay">ρ of Adadelta (0.9), γ of the seminar's Adadelta (0.1), α of RMSprop (0.99); NaN: the
/// default.</param>
/// <param name="Eps">ε; NaN: the rule's default.</param>
/// <param name="WeightDecay">weight_decay of the PyTorch rules (default 0).</param>
public sealed record OptimizerRecipe(string Label, UpdateRule Rule, double LearningRate, double Momentum = 0.9,
    double Decay = double.NaN, double Eps = double.NaN, double WeightDecay = 0)
{
    /// <summary>lr, checked: finite and &gt; 0.</summary>
    /// <exception cref="ArgumentException">lr ≤ 0, NaN or infinite.</exception>
    public double LearningRate { get; init; } = LearningRate > 0 && double.IsFinite(LearningRate)
        ? LearningRate
        : throw new ArgumentException(
            $"{Label}: lr: expected a finite learning rate > 0, got {LearningRate}. Pass e.g. 0.1 (the seminar's).",
            nameof(LearningRate));

    /// <summary>True for the toolkit's PyTorch-exact optimizers, false for the notebooks' variants.</summary>
    public bool PyTorchExact => Rule <= UpdateRule.RAdam;

    double Or(double value, double fallback) => double.IsNaN(value) ? fallback : value;

    /// <summary>Builds the optimizer over <paramref name="parameters"/>.</summary>
    /// <param name="parameters">The parameters.</param>
    /// <param name="lossAt">The loss at the present parameters (needed by the look-ahead NAG only).</param>
    public IOptimizer Create(IReadOnlyList<Parameter> parameters, Func<Tensor> lossAt) => Rule switch
    {
        UpdateRule.Sgd => new Sgd(parameters, LearningRate, weightDecay: WeightDecay),
        UpdateRule.Momentum => new Sgd(parameters, LearningRate, Momentum, weightDecay: WeightDecay),
        UpdateRule.Nesterov => new Sgd(parameters, LearningRate, Momentum, weightDecay: WeightDecay, nesterov: true),
        UpdateRule.Adagrad =>
            new Optim.Adagrad(parameters, LearningRate, weightDecay: WeightDecay, eps: Or(Eps, 1e-10)),
        UpdateRule.Adadelta => new Optim.Adadelta(parameters, LearningRate, Or(Decay, 0.9), Or(Eps, 1e-6), WeightDecay),
        UpdateRule.RmsProp => new RmsProp(parameters, LearningRate, Or(Decay, 0.99), Or(Eps, 1e-8), WeightDecay),
        UpdateRule.Adam => new Optim.Adam(parameters, LearningRate, eps: Or(Eps, 1e-8), weightDecay: WeightDecay),
        UpdateRule.AdamW => new Optim.AdamW(parameters, LearningRate, eps: Or(Eps, 1e-8), weightDecay: WeightDecay),
        UpdateRule.RAdam => new Optim.RAdam(parameters, LearningRate, eps: Or(Eps, 1e-8), weightDecay: WeightDecay),
        UpdateRule.HeavyBall => new HeavyBallMomentum(parameters, LearningRate, Momentum, Label),
        UpdateRule.LookAheadNesterov => new LookAheadNesterov(parameters, lossAt, LearningRate, Momentum, Label),
        UpdateRule.SeminarAdagrad => new SeminarAdagrad(parameters, LearningRate, Or(Eps, 1e-8), Label),
        UpdateRule.SeminarAdadelta =>
            new SeminarAdadelta(parameters, LearningRate, Or(Decay, 0.1), Or(Eps, 1e-6), Label),
        UpdateRule.SeminarAdam => new SeminarAdam(parameters, LearningRate, eps: Or(Eps, 1e-8), label: Label),
        _ => throw new ArgumentOutOfRangeException(nameof(Rule), Rule, $"{Label}: expected an UpdateRule member."),
    };

    /// <summary>The optimizer and every hyperparameter in one line (built over a throw-away parameter).</summary>
    public string Describe()
    {
        Runtime.TorchNative.EnsureLoaded();
        using var p = new Parameter(torch.zeros(2, ScalarType.Float64));
        var optimizer = Create([p], () => p.sum());
        try
        {
            var h = optimizer.Hyperparameters.Where(kv => kv.Key != "fused_multiply_add" && kv.Key != "maximize")
                .Select(kv => $"{kv.Key} {Format(kv.Value)}");
            return $"{(PyTorchExact ? optimizer.Name : "hand-written")}: {string.Join(", ", h)}";
        }
        finally
        {
            (optimizer as IDisposable)?.Dispose();
        }
    }

    static string Format(object v) => v switch
    {
        double d => G6(d),
        double[] a => "(" + string.Join(", ", a.Select(G6)) + ")",
        _ => v.ToString() ?? "",
    };

    static string G6(double x) => x.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
}
