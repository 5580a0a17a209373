using static Research.Core.Optim.UpdateArithmetic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Core.Studies.Optimizers;

/// <summary>
/// The seminar's hand-written Adagrad, with ε inside the square root: G ← G + g², p ← p − lr·g/√(G + ε).
/// </summary>
/// <remarks>
/// <para>Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
/// Optimization", JMLR 12, 2011.</para>
/// <para>How it differs from PyTorch's <c>Adagrad</c>: PyTorch divides by √G + ε (ε = 1e-10 outside the
/// root; the self-study notes' AdaGrad is PyTorch's with ε = 1e-7). Inside the root ε bounds the first
/// step of a coordinate with a tiny gradient by lr·|g|/√ε instead of lr: with ε = 1e-8 a gradient
/// below 1e-4 moves less than lr. Elsewhere the two agree to about ε/G. ε = 1e-8 is assumed (the
/// specification gives only where it sits).</para>
/// <para>State: "sum" (G).</para>
/// </remarks>
public sealed class SeminarAdagrad : HandWrittenOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="parameters">Parameters to optimise.</param>
    /// <param name="learningRate">lr &gt; 0 (the seminar: 0.1).</param>
    /// <param name="eps">ε &gt; 0 inside the root (default 1e-8, assumed).</param>
    /// <param name="label">The label in reports.</param>
    /// <exception cref="ArgumentException">lr or ε not finite and positive.</exception>
    public SeminarAdagrad(IEnumerable<Parameter> parameters, double learningRate, double eps = 1e-8,
        string label = "seminar Adagrad")
        : base(label, parameters, learningRate)
        => Eps = Positive("eps", eps);

    /// <summary>ε, added to G under the square root.</summary>
    public double Eps { get; }

    /// <inheritdoc/>
    protected override IEnumerable<KeyValuePair<string, object>> Describe() => [new("eps (inside the root)", Eps)];

    /// <inheritdoc/>
    protected override void Update(Tensor parameter, Tensor grad, IDictionary<string, Tensor> state)
    {
        var sum = Keep(state, "sum", parameter);
        sum.add_(grad.mul(grad));
        parameter.sub_(Scaled(grad, LearningRate).div_(AddScalar(sum, Eps).sqrt_()));
    }
}
