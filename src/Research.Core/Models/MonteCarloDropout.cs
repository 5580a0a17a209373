using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Models;

/// <summary>
/// Monte Carlo dropout (Gal and Ghahramani, "Dropout as a Bayesian Approximation: Representing Model
/// Uncertainty in Deep Learning", ICML 2016): predict several times with dropout left on, so that the
/// spread of the predictions estimates the model's uncertainty. Only dropout layers stay stochastic
/// (<c>nn.Dropout</c>, <see cref="InvertedDropout"/>); every other layer is in evaluation mode, so
/// batch normalisation uses its running statistics and never updates them, and DropConnect uses its
/// expectation. The model's mode is restored afterwards.
/// </summary>
public static class MonteCarloDropout
{
    /// <summary>True for the layers that stay stochastic.</summary>
    public static bool IsDropout(nn.Module module) => module is TorchSharp.Modules.Dropout or InvertedDropout;

    /// <summary>
    /// <paramref name="passes"/> stochastic forward passes of <paramref name="model"/> on
    /// <paramref name="inputs"/>, without gradients.
    /// </summary>
    /// <param name="model">A network with at least one dropout layer.</param>
    /// <param name="inputs">The inputs [N, …] on the model's device.</param>
    /// <param name="passes">Forward passes T, ≥ 1.</param>
    /// <param name="seed">Seeds torch's global generator first (null: use it as it is).</param>
    /// <returns>The outputs as [T, N, outputs] (a [N] output counts as one output).</returns>
    /// <exception cref="ArgumentException">No dropout layer (the predictions would not vary), or passes
    /// &lt; 1.</exception>
    public static float[,,] Predict(Network model, Tensor inputs, int passes, long? seed = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        if (passes < 1)
            throw new ArgumentOutOfRangeException(nameof(passes), passes,
                $"passes: expected ≥ 1 forward pass, got {passes}.");
        var dropouts = model.modules().Where(IsDropout).ToList();
        if (dropouts.Count == 0)
            throw new ArgumentException(
                $"{model.Description} has no dropout layer (layers: {string.Join(", ", model.LayerNames)}), so every " +
                "pass would give the same prediction; Monte Carlo dropout needs nn.Dropout or InvertedDropout.",
                nameof(model));
        bool wasTraining = model.training;
        if (seed is { } s) torch.manual_seed(s);
        try
        {
            model.eval();
            foreach (var d in dropouts) d.train();
            using var _ = torch.no_grad();
            float[,,]? result = null;
            for (int t = 0; t < passes; t++)
            {
                using var scope = torch.NewDisposeScope();
                var y = model.call(inputs).reshape(inputs.shape[0], -1).to(ScalarType.Float32).cpu().contiguous();
                int n = (int)y.shape[0], k = (int)y.shape[1];
                result ??= new float[passes, n, k];
                var values = y.data<float>().ToArray();
                Buffer.BlockCopy(values, 0, result, t * n * k * sizeof(float), n * k * sizeof(float));
            }
            return result!;
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
