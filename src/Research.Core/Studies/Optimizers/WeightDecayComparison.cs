using Research.Core.Runtime;

namespace Research.Core.Studies.Optimizers;

/// <summary>How weight decay enters one run of <see cref="WeightDecayComparison"/>.</summary>
public enum DecayForm
{
    /// <summary>No decay.</summary>
    None,
    /// <summary>(λ/2)·‖p‖² added to the loss, differentiated by autograd.</summary>
    L2InLoss,
    /// <summary>The optimizer's <c>weight_decay = λ</c> (SGD, Adam: λ·p added to the gradient).</summary>
    WeightDecay,
    /// <summary>AdamW's decoupled decay p ← p·(1 − lr·λ) (Loshchilov and Hutter, ICLR 2019).</summary>
    Decoupled,
}

/// <summary>One run of the weight-decay comparison.</summary>
/// <param name="Optimizer">"SGD", "Adam" or "AdamW".</param>
/// <param name="Form">How the decay enters.</param>
/// <param name="Path">The trajectory.</param>
public sealed record DecayRun(string Optimizer, DecayForm Form, Trajectory Path);

/// <summary>
/// The lecture's "<c>weight_decay</c> in Adam is an L2 coefficient; decoupled decay is AdamW" on a fixed
/// problem, the notes' quadratic moved to its minimum at (3, 2), f = (x − 3)²/20 + (y − 2)², from (−7, −4):
/// SGD and Adam with the L2 term in the loss and with <c>weight_decay</c>, AdamW with decoupled decay,
/// and both without decay. For SGD the two L2 forms are one update rule, so their paths coincide up to
/// rounding; Adam divides the L2 term by √v like any gradient, AdamW does not.
/// </summary>
public static class WeightDecayComparison
{
    /// <summary>The fixed problem.</summary>
    public static TestFunction Problem { get; } = new("shifted-quadratic", "(x − 3)²/20 + (y − 2)²",
        "the notes' quadratic with its minimum moved to (3, 2), so that decay pulls away from it",
        (x, y) => (x - 3).square() / 20 + (y - 2).square(), (-7.0, -4.0), (-10.0, 10.0), (-5.0, 5.0),
        [new StationaryPoint(3, 2, 0, "minimum")]);

    /// <summary>Runs every optimizer × form.</summary>
    /// <param name="lambda">λ, finite and &gt; 0.</param>
    /// <param name="sgdLearningRate">SGD's lr (finite, &gt; 0).</param>
    /// <param name="adamLearningRate">Adam's and AdamW's lr (finite, &gt; 0).</param>
    /// <param name="steps">Steps per run, ≥ 1.</param>
    /// <param name="threads">libtorch intra-op threads.</param>
    /// <exception cref="ArgumentException">λ or a rate not finite and positive, or steps &lt; 1.</exception>
    public static IReadOnlyList<DecayRun> Run(double lambda, double sgdLearningRate, double adamLearningRate, int steps,
        int threads = 1)
    {
        if (!(lambda > 0) || double.IsInfinity(lambda))
            throw new ArgumentException($"weight decay: lambda: expected a finite value > 0, got {lambda}.",
                nameof(lambda));
        using var _ = TorchThreads.Use(threads);
        var penalised = new TestFunction("shifted-quadratic+L2", $"{Problem.Formula} + (λ/2)(x² + y²), λ = {lambda}",
            Problem.Source, (x, y) => Problem.Evaluate(x, y) + lambda / 2 * (x.square() + y.square()),
            Problem.Start, Problem.XRange, Problem.YRange, Problem.ReferencePoints);
        var plan = new (string Name, UpdateRule Rule, double Lr, DecayForm Form)[]
        {
            ("SGD", UpdateRule.Sgd, sgdLearningRate, DecayForm.None),
            ("SGD", UpdateRule.Sgd, sgdLearningRate, DecayForm.L2InLoss),
            ("SGD", UpdateRule.Sgd, sgdLearningRate, DecayForm.WeightDecay),
            ("Adam", UpdateRule.Adam, adamLearningRate, DecayForm.None),
            ("Adam", UpdateRule.Adam, adamLearningRate, DecayForm.L2InLoss),
            ("Adam", UpdateRule.Adam, adamLearningRate, DecayForm.WeightDecay),
            ("AdamW", UpdateRule.AdamW, adamLearningRate, DecayForm.Decoupled),
        };
        return plan.Select(p =>
        {
            var recipe = new OptimizerRecipe($"{p.Name}, {Describe(p.Form)}", p.Rule, p.Lr,
                WeightDecay: p.Form is DecayForm.WeightDecay or DecayForm.Decoupled ? lambda : 0);
            var function = p.Form == DecayForm.L2InLoss ? penalised : Problem;
            var path = FunctionRuns.Run(function, recipe, Problem.Start, steps);
            // F is the problem's f for every run (the L2 run minimised f + penalty), so the runs compare.
            return new DecayRun(p.Name, p.Form, path with { F = Problem.Values(path.X, path.Y) });
        }).ToList();
    }

    /// <summary>The form in words.</summary>
    public static string Describe(DecayForm form) => form switch
    {
        DecayForm.None => "no decay",
        DecayForm.L2InLoss => "L2 in the loss",
        DecayForm.WeightDecay => "weight_decay (L2 in the gradient)",
        DecayForm.Decoupled => "decoupled weight decay",
        _ => throw new ArgumentOutOfRangeException(nameof(form), form, "expected a DecayForm member."),
    };
}
