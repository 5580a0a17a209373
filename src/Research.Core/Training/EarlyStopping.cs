using Research.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Core.Training;

/// <summary>A per-epoch quantity of <see cref="EpochSummary"/> that <see cref="EarlyStopping"/> can watch.</summary>
public enum EpochMetric
{
    /// <summary><see cref="EpochSummary.TestLoss"/> (validation loss; lower is better).</summary>
    TestLoss,

    /// <summary><see cref="EpochSummary.TestAccuracy"/> (higher is better).</summary>
    TestAccuracy,

    /// <summary><see cref="EpochSummary.TrainLoss"/> (train mode; lower is better).</summary>
    TrainLoss,

    /// <summary><see cref="EpochSummary.TrainAccuracy"/> (train mode; higher is better).</summary>
    TrainAccuracy,

    /// <summary><see cref="EpochSummary.TrainEvalLoss"/> (eval mode; lower is better).</summary>
    TrainEvalLoss,

    /// <summary><see cref="EpochSummary.TrainEvalAccuracy"/> (eval mode; higher is better).</summary>
    TrainEvalAccuracy,
}

/// <summary>Whether a watched quantity should fall or rise.</summary>
public enum MetricGoal
{
    /// <summary>Lower is better (a loss): Keras' and PyTorch's mode "min".</summary>
    Minimize,

    /// <summary>Higher is better (an accuracy): mode "max".</summary>
    Maximize,
}

/// <summary>
/// Stops training when a per-epoch metric has not improved for <see cref="Patience"/> epochs and, at
/// the end of the run, restores the weights of the best epoch: an exact copy of every tensor of the
/// model's <c>state_dict()</c> (parameters and buffers such as batch-norm statistics) taken at that
/// epoch's end. Prechelt, "Early Stopping — But When?", in Neural Networks: Tricks of the Trade (1998);
/// the rule is Keras' <c>EarlyStopping</c> (<c>min_delta</c>, <c>patience</c>, <c>mode</c>,
/// <c>restore_best_weights</c>).
/// </summary>
/// <remarks>
/// <para>At each epoch end: an improvement is value &lt; best − min_delta (goal Minimize) or value &gt;
/// best + min_delta (Maximize); the first finite value is always one. An improvement records the epoch
/// and copies the weights and resets the count of epochs without improvement; otherwise the count
/// grows, and when it reaches <see cref="Patience"/> the observer asks the loop to stop before the
/// next epoch. A NaN value is never an improvement (as in PyTorch's ReduceLROnPlateau), so a run
/// without test data never improves on TestLoss: watch a train metric then.</para>
/// <para><see cref="KeepBest"/> is the case patience = ∞: train every epoch, keep the best model.</para>
/// <para>Dispose it (or let the run end) to free the copy; it may be reused for another run.</para>
/// </remarks>
public sealed class EarlyStopping : TrainingObserver, IDisposable
{
    readonly Func<EpochSummary, double> _metric;
    Network? _model;
    Dictionary<string, Tensor>? _best;

    /// <summary>Watches one of the summary's metrics.</summary>
    /// <param name="monitor">What to watch (default the test loss).</param>
    /// <param name="patience">Epochs without improvement before stopping, ≥ 1 (default 5;
    /// <see cref="int.MaxValue"/>: never stop).</param>
    /// <param name="minDelta">Least change that counts as an improvement, ≥ 0 (default 0).</param>
    /// <param name="goal">Minimize or Maximize (default: Minimize for losses, Maximize for accuracies).</param>
    /// <param name="restoreBestWeights">Restore the best epoch's weights at the end (default true).</param>
    /// <exception cref="ArgumentException">patience &lt; 1 or a negative or non-finite min_delta.</exception>
    public EarlyStopping(EpochMetric monitor = EpochMetric.TestLoss, int patience = 5, double minDelta = 0,
        MetricGoal? goal = null, bool restoreBestWeights = true)
        : this(monitor.ToString(), Selector(monitor), goal ?? DefaultGoal(monitor), patience, minDelta, restoreBestWeights)
    {
    }

    /// <summary>Watches any per-epoch quantity.</summary>
    /// <param name="metricName">Its name, for messages.</param>
    /// <param name="metric">The quantity from an epoch's summary.</param>
    /// <param name="goal">Minimize or Maximize.</param>
    /// <param name="patience">Epochs without improvement before stopping, ≥ 1 (<see cref="int.MaxValue"/>: never).</param>
    /// <param name="minDelta">Least change that counts as an improvement, ≥ 0.</param>
    /// <param name="restoreBestWeights">Restore the best epoch's weights at the end.</param>
    /// <exception cref="ArgumentException">patience &lt; 1 or a negative or non-finite min_delta.</exception>
    public EarlyStopping(string metricName, Func<EpochSummary, double> metric, MetricGoal goal, int patience = 5,
        double minDelta = 0, bool restoreBestWeights = true)
    {
        ArgumentNullException.ThrowIfNull(metricName);
        ArgumentNullException.ThrowIfNull(metric);
        if (patience < 1)
            throw new ArgumentOutOfRangeException(nameof(patience), patience,
                $"EarlyStopping: patience: expected an integer >= 1 (int.MaxValue to keep the best without stopping), got {patience}.");
        if (!(minDelta >= 0) || double.IsInfinity(minDelta))
            throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta,
                $"EarlyStopping: min_delta: expected a finite value >= 0, got {minDelta}.");
        MetricName = metricName;
        _metric = metric;
        Goal = goal;
        Patience = patience;
        MinDelta = minDelta;
        RestoreBestWeights = restoreBestWeights;
    }

    /// <summary>Keep the best model without stopping: patience = ∞, restore the best weights at the end.</summary>
    /// <param name="monitor">What to watch (default the test loss).</param>
    /// <param name="goal">Minimize or Maximize (default from the metric).</param>
    public static EarlyStopping KeepBest(EpochMetric monitor = EpochMetric.TestLoss, MetricGoal? goal = null) =>
        new(monitor, int.MaxValue, 0, goal, restoreBestWeights: true);

    /// <summary>The watched quantity's name.</summary>
    public string MetricName { get; }

    /// <summary>Whether it should fall or rise.</summary>
    public MetricGoal Goal { get; }

    /// <summary>Epochs without improvement before stopping.</summary>
    public int Patience { get; }

    /// <summary>Least change that counts as an improvement.</summary>
    public double MinDelta { get; }

    /// <summary>Whether the best weights are restored at the end.</summary>
    public bool RestoreBestWeights { get; }

    /// <summary>The 0-based epoch with the best value so far, or null before any improvement.</summary>
    public int? BestEpoch { get; private set; }

    /// <summary>The best value so far (±∞ before any).</summary>
    public double BestValue { get; private set; }

    /// <summary>Epochs since the last improvement (Keras' <c>wait</c>).</summary>
    public int EpochsWithoutImprovement { get; private set; }

    /// <summary>The epoch after which this observer stopped the run, or null.</summary>
    public int? StoppedAfterEpoch { get; private set; }

    /// <summary>True once the best weights were copied back into the model.</summary>
    public bool Restored { get; private set; }

    /// <inheritdoc/>
    public override void OnStart(StepContext context)
    {
        _model = context.Model ?? throw new InvalidOperationException(
            $"EarlyStopping ({MetricName}) watches the epochs of a network run; Trainer.Minimize has no network and no " +
            "epochs. Use StepContext.RequestStop in an observer to stop a function objective.");
        DisposeCopy();
        BestEpoch = null;
        BestValue = Goal == MetricGoal.Minimize ? double.PositiveInfinity : double.NegativeInfinity;
        EpochsWithoutImprovement = 0;
        StoppedAfterEpoch = null;
        Restored = false;
        base.OnStart(context);
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(EpochSummary summary)
    {
        double value = _metric(summary);
        bool better = Goal == MetricGoal.Minimize ? value < BestValue - MinDelta : value > BestValue + MinDelta;
        if (better)
        {
            BestValue = value;
            BestEpoch = summary.Epoch;
            EpochsWithoutImprovement = 0;
            if (RestoreBestWeights) CopyWeights();
            return;
        }
        EpochsWithoutImprovement++;
        if (EpochsWithoutImprovement >= Patience)
        {
            StoppedAfterEpoch = summary.Epoch;
            RequestStop(
                $"early stopping: {MetricName} did not improve by more than {MinDelta} for {Patience} epochs " +
                $"(best {BestValue} at epoch {(BestEpoch is { } b ? b.ToString() : "none")}, stopped after epoch {summary.Epoch})");
        }
    }

    /// <inheritdoc/>
    public override void OnEnd(TrainingHistory history)
    {
        if (!RestoreBestWeights || _best is null || _model is null) return;
        using var _ = torch.no_grad();
        foreach (var (name, live) in _model.state_dict())
            live.copy_(_best[name]);
        Restored = true;
    }

    /// <summary>A copy of the best epoch's weights by state_dict name (the observer's own tensors, freed
    /// with it; clone to keep), or null before any improvement or without restoreBestWeights.</summary>
    public IReadOnlyDictionary<string, Tensor>? BestWeights => _best;

    void CopyWeights()
    {
        DisposeCopy();
        using var _ = torch.no_grad();
        _best = _model!.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

    void DisposeCopy()
    {
        if (_best is null) return;
        foreach (var t in _best.Values) t.Dispose();
        _best = null;
    }

    /// <summary>Frees the copy of the best weights.</summary>
    public void Dispose() => DisposeCopy();

    static Func<EpochSummary, double> Selector(EpochMetric m) => m switch
    {
        EpochMetric.TestLoss => s => s.TestLoss,
        EpochMetric.TestAccuracy => s => s.TestAccuracy,
        EpochMetric.TrainLoss => s => s.TrainLoss,
        EpochMetric.TrainAccuracy => s => s.TrainAccuracy,
        EpochMetric.TrainEvalLoss => s => s.TrainEvalLoss,
        EpochMetric.TrainEvalAccuracy => s => s.TrainEvalAccuracy,
        _ => throw new ArgumentOutOfRangeException(nameof(m), m, $"EarlyStopping: monitor: expected an EpochMetric, got {(int)m}."),
    };

    static MetricGoal DefaultGoal(EpochMetric m) =>
        m is EpochMetric.TestAccuracy or EpochMetric.TrainAccuracy or EpochMetric.TrainEvalAccuracy
            ? MetricGoal.Maximize
            : MetricGoal.Minimize;
}
