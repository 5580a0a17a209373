using Research.Core.Models;
using Research.Core.Optim;
using Research.Core.Studies.AdamVsRAdam;

namespace Research.Core.Capture;

// Transitional forwarders for the old names of the Adam-vs-RAdam capture, so that the projects that
// use them keep building until they are renamed (next commit); this file is then deleted.

/// <summary>Old name of <see cref="AdamVsRAdamConfig"/>.</summary>
[Obsolete("Renamed to Research.Core.Studies.AdamVsRAdam.AdamVsRAdamConfig.")]
public sealed record GradientStudyConfig : AdamVsRAdamConfig;

/// <summary>Old name of <see cref="AdamVsRAdamCapture"/>.</summary>
[Obsolete("Renamed to Research.Core.Studies.AdamVsRAdam.AdamVsRAdamCapture.")]
public static class GradientStudy
{
    /// <inheritdoc cref="AdamVsRAdamCapture.RecordedParameter"/>
    public static string RecordedParameter(int[] widths) => AdamVsRAdamCapture.RecordedParameter(widths);

    /// <inheritdoc cref="AdamVsRAdamCapture.CreateOptimizer"/>
    public static Optimizer CreateOptimizer(OptimizerSpec spec, Network model) => AdamVsRAdamCapture.CreateOptimizer(spec, model);

    /// <inheritdoc cref="AdamVsRAdamCapture.Run"/>
    public static IReadOnlyList<CapturedRun> Run(AdamVsRAdamConfig config, string runRoot, Data.MnistSplit train,
        Data.MnistSplit? test, TextWriter? log = null) => AdamVsRAdamCapture.Run(config, runRoot, train, test, log);
}
