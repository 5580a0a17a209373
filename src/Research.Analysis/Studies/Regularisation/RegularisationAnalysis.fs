namespace Research.Analysis.Studies.Regularisation

open System
open Research.Core.Capture
open Research.Core.Training
open Research.Core.Studies.Regularisation
open Research.Analysis

/// <summary>A quantity measured once per seed, with the mean over seeds and its 95% percentile-bootstrap
/// interval (<c>Bootstrap.groupInterval</c>; NaN with fewer than three seeds).</summary>
type SeedSummary =
    { /// One value per seed, in seed order.
      Values: float[]
      /// The mean over seeds.
      Mean: float
      /// Lower 95% bound of the mean.
      Lower: float
      /// Upper 95% bound of the mean.
      Upper: float }

/// <summary>Monte Carlo dropout on classified images: the mean of the passes' softmax probabilities.</summary>
type McClassification =
    { /// Predictive entropy −Σ_k p̄_k ln p̄_k of each image (nats).
      Entropy: float[]
      /// Arg-max of the mean probabilities.
      Predicted: int[]
      /// The true labels.
      Labels: int[] }

/// <summary>Monte Carlo dropout on a regression input: the passes' mean and the 2.5% and 97.5% quantiles.</summary>
type McBand =
    { Mean: float[]
      Lower: float[]
      Upper: float[] }

/// <summary>
/// The statistics of the regularisation study, on the plain arrays and records that Research.Core returns:
/// per-seed summaries and paired differences over seeds, curves and their bands, predictive entropy and
/// bands of Monte Carlo dropout, weight magnitudes, BatchNorm's estimation error, per-layer gradients.
/// </summary>
module RegularisationAnalysis =

    /// <summary>The mean of per-seed values with its 95% percentile-bootstrap interval over seeds.</summary>
    /// <param name="resamples">Bootstrap resamples B ≥ 2.</param>
    /// <param name="seed">The bootstrap's seed (a named stream).</param>
    /// <param name="values">One value per seed.</param>
    let summarise (resamples: int) (seed: int64) (values: float[]) : SeedSummary =
        let mean, lower, upper = Bootstrap.groupInterval seed resamples 0.95 (fun g -> Array.average g.[0]) [| values |]
        { Values = values
          Mean = (if Double.IsNaN mean && values.Length > 0 then Array.average values else mean)
          Lower = lower
          Upper = upper }

    /// <summary>The mean and its interval as an effect for a claim.</summary>
    let effect (quantity: string) (s: SeedSummary) : Effect =
        { Effect.Interval(quantity, s.Mean, s.Lower, s.Upper, 0.95, s.Values.Length) with
            Details =
                [ for i, v in Array.indexed s.Values ->
                    $"replicate {i + 1}", v.ToString("G5", Globalization.CultureInfo.InvariantCulture) ] }

    // ---- the CNN ----------------------------------------------------------------------------------

    /// <summary>The runs of one variant in seed order (at the comparison's batch size when given).</summary>
    let runsOf (variant: string) (runs: CnnRun seq) : CnnRun[] =
        runs |> Seq.filter (fun r -> r.Variant = variant) |> Array.ofSeq

    /// <summary>The last epoch's summary of a run.</summary>
    let last (epochs: EpochSummary[]) : EpochSummary = epochs.[epochs.Length - 1]

    /// <summary>Per seed, a quantity of each epoch: one curve per run.</summary>
    let curves (select: EpochSummary -> float) (runs: CnnRun[]) : float[][] =
        runs |> Array.map (fun r -> r.Epochs |> Array.map select)

    /// <summary>Per seed, a quantity of the last epoch.</summary>
    let final (select: EpochSummary -> float) (runs: CnnRun[]) : float[] =
        runs |> Array.map (fun r -> select (last r.Epochs))

    /// <summary>Per seed, f(a's run, b's run) for the runs of two variants on the same seed.</summary>
    /// <exception cref="T:System.ArgumentException">The two variants were not run on the same seeds.</exception>
    let paired (f: CnnRun -> CnnRun -> float) (a: CnnRun[]) (b: CnnRun[]) : float[] =
        let seeds (rs: CnnRun[]) = rs |> Array.map (fun r -> r.Seed)
        if seeds a <> seeds b then
            invalidArg (nameof b) $"expected runs on the same seeds, got {seeds a} and {seeds b}"
        Array.map2 f a b

    /// <summary>The test accuracy of a run after epoch k (1-based) over its last epoch's.</summary>
    let accuracyFraction (epoch: int) (r: CnnRun) : float =
        if r.Epochs.Length < epoch then nan else r.Epochs.[epoch - 1].TestAccuracy / (last r.Epochs).TestAccuracy

    // ---- Monte Carlo dropout ----------------------------------------------------------------------

    /// <summary>The mean of the passes' softmax probabilities of each image, its entropy and its arg-max.</summary>
    /// <param name="logits">[passes, images, classes].</param>
    /// <param name="labels">The images' labels.</param>
    let classify (logits: float32[,,]) (labels: int[]) : McClassification =
        let passes, images, classes = logits.GetLength 0, logits.GetLength 1, logits.GetLength 2
        let mean = Array2D.zeroCreate<float> images classes
        for t in 0 .. passes - 1 do
            for i in 0 .. images - 1 do
                // softmax with the maximum subtracted, so that exp cannot overflow
                let m = Seq.max (seq { for k in 0 .. classes - 1 -> float logits.[t, i, k] })
                let e = Array.init classes (fun k -> exp (float logits.[t, i, k] - m))
                let z = Array.sum e
                for k in 0 .. classes - 1 do mean.[i, k] <- mean.[i, k] + e.[k] / z / float passes
        let entropy i = -(Seq.sum (seq { for k in 0 .. classes - 1 do
                                            let p = mean.[i, k]
                                            if p > 0.0 then yield p * log p }))
        let argmax i = Seq.maxBy (fun k -> mean.[i, k]) (seq { 0 .. classes - 1 })
        { Entropy = Array.init images entropy; Predicted = Array.init images argmax; Labels = labels }

    /// <summary>Accuracy on the given fraction of images with the lowest and with the highest predictive
    /// entropy (most certain, most uncertain); ties keep the image order.</summary>
    let accuracyByCertainty (fraction: float) (m: McClassification) : float * float =
        let n = max 1 (int (Math.Round(fraction * float m.Entropy.Length)))
        let order = Array.init m.Entropy.Length id |> Array.sortBy (fun i -> m.Entropy.[i])
        let accuracy (indices: int[]) =
            let correct = indices |> Array.filter (fun i -> m.Predicted.[i] = m.Labels.[i])
            float correct.Length / float indices.Length
        accuracy order.[.. n - 1], accuracy order.[order.Length - n ..]

    /// <summary>The passes' mean and 2.5–97.5% quantiles for inputs first .. first + count − 1 of a
    /// [passes, inputs, 1] prediction.</summary>
    let band (first: int) (count: int) (predictions: float32[,,]) : McBand =
        let passes = predictions.GetLength 0
        let column j = Array.init passes (fun t -> float predictions.[t, first + j, 0]) |> Array.sort
        let columns = Array.init count column
        { Mean = columns |> Array.map Array.average
          Lower = columns |> Array.map (Quantile.ofSorted 0.025)
          Upper = columns |> Array.map (Quantile.ofSorted 0.975) }

    /// <summary>The fraction of points whose y lies inside the band (inclusive).</summary>
    let coverage (b: McBand) (y: float[]) : float =
        let inside = y |> Array.mapi (fun j v -> v >= b.Lower.[j] && v <= b.Upper.[j]) |> Array.filter id
        float inside.Length / float y.Length

    /// <summary>The fraction of points inside mean ± 1.96·√(variance of the passes + noise variance): the
    /// predictive interval with the data's own noise added to the model's uncertainty.</summary>
    let coverageWithNoise (noiseVariance: float) (first: int) (count: int) (predictions: float32[,,]) (y: float[])
                          : float =
        let passes = predictions.GetLength 0
        let inside j =
            let v = Array.init passes (fun t -> float predictions.[t, first + j, 0])
            let m = Array.average v
            let variance = (v |> Array.sumBy (fun a -> (a - m) ** 2.0)) / float (max 1 (passes - 1))
            abs (y.[j] - m) <= 1.96 * sqrt (variance + noiseVariance)
        float (Array.init count inside |> Array.filter id |> Array.length) / float count

    // ---- the sigmoid MLP --------------------------------------------------------------------------

    /// <summary>The runs of one sigmoid-MLP configuration in seed order.</summary>
    let mlpRuns (id: string) (runs: SigmoidMlpRun seq) : SigmoidMlpRun[] =
        runs |> Seq.filter (fun r -> r.Run = id) |> Array.ofSeq

    /// <summary>The fraction of weights whose magnitude is below a threshold.</summary>
    let fractionBelow (threshold: float) (weights: float32[]) : float =
        if weights.Length = 0 then nan
        else float (weights |> Array.filter (fun w -> abs (float w) < threshold) |> Array.length) / float weights.Length

    /// <summary>A histogram (density) of log10|w|; exact zeros are counted at 10⁻⁸.</summary>
    let logMagnitudeHistogram (bins: int) (weights: float32[]) : float[] * float[] =
        let logs = weights |> Array.map (fun w -> log10 (max 1e-8 (abs (float w)))) |> Array.sort
        Histogram.densityOfSorted bins (0.0, 1.0) logs

    /// <summary>The median over features of |estimate − population| / |population|.</summary>
    let medianRelativeError (estimate: float[]) (population: float[]) : float =
        Array.map2 (fun e p -> abs (e - p) / abs p) estimate population |> Quantile.median

    /// <summary>Per Linear layer (in order), one statistic of every measured batch of every run.</summary>
    let perLayer (select: LinearLayerStatistics -> float) (measurements: NetworkStatistics seq)
                 : (string * float[]) list =
        let all = measurements |> Seq.collect (fun m -> m.Layers) |> Array.ofSeq
        [ for name in all |> Array.map (fun l -> l.Name) |> Array.distinct ->
            name, all |> Array.filter (fun l -> l.Name = name) |> Array.map select ]

    /// <summary>The mean of each window of consecutive values (a window ending at each position; shorter at
    /// the start).</summary>
    let movingAverage (window: int) (values: float[]) : float[] =
        let w = max 1 window
        let sums = Array.scan (+) 0.0 values
        Array.init values.Length (fun i -> let a = max 0 (i + 1 - w) in (sums.[i + 1] - sums.[a]) / float (i + 1 - a))

    // ---- the overfitting demo ---------------------------------------------------------------------

    /// <summary>The runs of one net in seed order.</summary>
    let regressionRuns (net: RegressionNet) (results: RegressionResults) : RegressionRun[] =
        results.Runs |> Array.filter (fun r -> r.Net = net)

    /// <summary>The data of a run's seed.</summary>
    let dataOf (results: RegressionResults) (run: RegressionRun) : RegressionData =
        results.Data |> Array.find (fun d -> d.Seed = run.Seed)
