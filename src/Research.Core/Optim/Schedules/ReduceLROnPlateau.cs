using System.Collections.ObjectModel;

namespace Research.Core.Optim.Schedules;

/// <summary>
/// PyTorch 1.13's <c>ReduceLROnPlateau</c>: multiplies the learning rate by <c>factor</c> when a
/// monitored metric has not improved for more than <c>patience</c> steps.
/// </summary>
/// <remarks>
/// <para>At each <see cref="Step"/>(metric): the metric is better than the best so far when, for mode
/// "min", metric &lt; best·(1 − threshold) ("rel") or metric &lt; best − threshold ("abs"); for mode
/// "max", metric &gt; best·(1 + threshold) or metric &gt; best + threshold. Better: best ← metric and the
/// count of bad steps is reset, else it is incremented. During cool-down the counter is decremented
/// and bad steps are ignored. When the count exceeds <c>patience</c>, new_lr = max(lr·factor, min_lr)
/// is applied only if lr − new_lr &gt; eps (so the rate stops shrinking once changes fall below eps),
/// the count is reset and the cool-down starts. A NaN metric is never better (a bad step), as in
/// PyTorch. The constructor does not change the optimizer's learning rate.</para>
/// </remarks>
public sealed class ReduceLROnPlateau : ILearningRateSchedule
{
    /// <summary>Creates the schedule with PyTorch 1.13's defaults.</summary>
    /// <param name="optimizer">The optimizer whose learning rate is scheduled.</param>
    /// <param name="mode">"min" (the metric should fall, e.g. a loss; default) or "max" (e.g. accuracy).</param>
    /// <param name="factor">Factor 0 ≤ factor &lt; 1 by which the rate is reduced (default 0.1).</param>
    /// <param name="patience">Bad steps tolerated before a reduction, ≥ 0 (default 10).</param>
    /// <param name="threshold">Least change that counts as an improvement, ≥ 0 (default 1e-4).</param>
    /// <param name="thresholdMode">"rel" (relative to best; default) or "abs".</param>
    /// <param name="cooldown">Steps after a reduction during which bad steps are ignored, ≥ 0 (default 0).</param>
    /// <param name="minLearningRate">Lower bound min_lr ≥ 0 of the rate (default 0).</param>
    /// <param name="eps">Smallest reduction that is still applied, ≥ 0 (default 1e-8).</param>
    /// <exception cref="ArgumentException">An unknown mode or a value out of range (the message names it).</exception>
    public ReduceLROnPlateau(ILearningRate optimizer, string mode = "min", double factor = 0.1, int patience = 10,
        double threshold = 1e-4, string thresholdMode = "rel", int cooldown = 0, double minLearningRate = 0,
        double eps = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (mode is not ("min" or "max"))
            throw new ArgumentException($"ReduceLROnPlateau: mode: expected \"min\" or \"max\", got \"{mode}\".", nameof(mode));
        if (thresholdMode is not ("rel" or "abs"))
            throw new ArgumentException(
                $"ReduceLROnPlateau: threshold_mode: expected \"rel\" or \"abs\", got \"{thresholdMode}\".", nameof(thresholdMode));
        if (!(factor >= 0 && factor < 1))
            throw new ArgumentException($"ReduceLROnPlateau: factor: expected 0 <= factor < 1, got {factor}.", nameof(factor));
        if (patience < 0)
            throw new ArgumentException($"ReduceLROnPlateau: patience: expected an integer >= 0, got {patience}.", nameof(patience));
        if (!(threshold >= 0) || double.IsInfinity(threshold))
            throw new ArgumentException($"ReduceLROnPlateau: threshold: expected a finite value >= 0, got {threshold}.", nameof(threshold));
        if (cooldown < 0)
            throw new ArgumentException($"ReduceLROnPlateau: cooldown: expected an integer >= 0, got {cooldown}.", nameof(cooldown));
        if (!(minLearningRate >= 0) || double.IsInfinity(minLearningRate))
            throw new ArgumentException($"ReduceLROnPlateau: min_lr: expected a finite value >= 0, got {minLearningRate}.",
                nameof(minLearningRate));
        if (!(eps >= 0) || double.IsInfinity(eps))
            throw new ArgumentException($"ReduceLROnPlateau: eps: expected a finite value >= 0, got {eps}.", nameof(eps));
        Optimizer = optimizer;
        Mode = mode;
        Factor = factor;
        Patience = patience;
        Threshold = threshold;
        ThresholdMode = thresholdMode;
        Cooldown = cooldown;
        MinLearningRate = minLearningRate;
        Eps = eps;
        Best = mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
        CurrentLearningRate = optimizer.LearningRate;
    }

    /// <inheritdoc/>
    public ILearningRate Optimizer { get; }

    /// <inheritdoc/>
    public string Name => "ReduceLROnPlateau";

    /// <summary>"min" or "max".</summary>
    public string Mode { get; }

    /// <summary>Factor by which the rate is reduced.</summary>
    public double Factor { get; }

    /// <summary>Bad steps tolerated before a reduction.</summary>
    public int Patience { get; }

    /// <summary>Least change that counts as an improvement.</summary>
    public double Threshold { get; }

    /// <summary>"rel" or "abs".</summary>
    public string ThresholdMode { get; }

    /// <summary>Steps after a reduction during which bad steps are ignored.</summary>
    public int Cooldown { get; }

    /// <summary>Lower bound of the rate.</summary>
    public double MinLearningRate { get; }

    /// <summary>Smallest reduction that is still applied.</summary>
    public double Eps { get; }

    /// <summary>The best metric so far (±∞ before the first step).</summary>
    public double Best { get; private set; }

    /// <summary>Consecutive steps without improvement (PyTorch's <c>num_bad_epochs</c>).</summary>
    public int NumBadEpochs { get; private set; }

    /// <summary>Steps of cool-down left (PyTorch's <c>cooldown_counter</c>).</summary>
    public int CooldownCounter { get; private set; }

    /// <inheritdoc/>
    public int LastEpoch { get; private set; }

    /// <inheritdoc/>
    public double CurrentLearningRate { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object> Settings => new ReadOnlyDictionary<string, object>(
        new Dictionary<string, object>
        {
            ["mode"] = Mode, ["factor"] = Factor, ["patience"] = Patience, ["threshold"] = Threshold,
            ["threshold_mode"] = ThresholdMode, ["cooldown"] = Cooldown, ["min_lr"] = MinLearningRate, ["eps"] = Eps,
        });

    /// <summary>Feeds the metric of the step just finished and reduces the rate if it has plateaued.</summary>
    /// <param name="metric">The monitored quantity (required).</param>
    /// <exception cref="ArgumentException">No metric was given.</exception>
    public void Step(double? metric = null)
    {
        if (metric is not { } current)
            throw new ArgumentException(
                "ReduceLROnPlateau: metric: expected the monitored value (e.g. the validation loss), got null. " +
                "Call Step(loss).", nameof(metric));
        LastEpoch++;
        if (IsBetter(current, Best))
        {
            Best = current;
            NumBadEpochs = 0;
        }
        else
            NumBadEpochs++;
        if (CooldownCounter > 0)
        {
            CooldownCounter--;
            NumBadEpochs = 0;
        }
        if (NumBadEpochs > Patience)
        {
            double oldLr = Optimizer.LearningRate;
            double newLr = Math.Max(oldLr * Factor, MinLearningRate);
            if (oldLr - newLr > Eps) Optimizer.LearningRate = newLr;
            CooldownCounter = Cooldown;
            NumBadEpochs = 0;
        }
        CurrentLearningRate = Optimizer.LearningRate;
    }

    bool IsBetter(double a, double best) => (Mode, ThresholdMode) switch
    {
        ("min", "rel") => a < best * (1.0 - Threshold),
        ("min", _) => a < best - Threshold,
        (_, "rel") => a > best * (Threshold + 1.0),
        _ => a > best + Threshold,
    };

    /// <summary>Name and settings.</summary>
    public override string ToString() => $"{Name}({string.Join(", ", Settings.Select(kv => $"{kv.Key}={kv.Value}"))})";
}
