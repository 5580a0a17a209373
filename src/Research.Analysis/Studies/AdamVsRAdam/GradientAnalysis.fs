namespace Research.Analysis.Studies.AdamVsRAdam

open System
open Research.Analysis

/// Settings of the gradient-distribution analysis (every number the report depends on).
type AnalysisOptions =
    { /// Significance level of the Shapiro–Wilk tests and of Holm/BH (default 0.05).
      Alpha: float
      /// Components of the per-neuron mixture (the notebook's 5).
      MixtureComponents: int
      /// EM restarts per mixture fit (k-means++ initialisation, scikit-learn's tolerance 1e-3).
      MixtureRestarts: int
      /// EM iterations of each restart at most: short runs that only rank the starts when a
      /// refinement follows (the "emEM" strategy), scikit-learn's 100 without one.
      MixtureRestartIterations: int
      /// The SQUAREM-accelerated EM run from the best restart to a tighter tolerance (None: none, as scikit-learn).
      MixtureRefinement: MixtureRefinement option
      /// Bootstrap resamples B for the ψ variance curves (the notebook's 1,000).
      BootstrapResamples: int
      /// Weights per group (normality rejected / not rejected) whose ψ variance is bootstrapped;
      /// chosen at random with the seed (all weights when fewer).
      WeightsPerGroup: int
      /// Of those, how many also get the notebook's per-t bootstrap of the first t gradients
      /// (PsiResampling.FirstT), which costs T/2 times more than resampling the whole series.
      FirstTWeights: int
      /// The "early" window [first, last] of iterations for the variance comparisons.
      EarlyWindow: int * int
      /// Bins of the per-neuron histograms.
      HistogramBins: int }

    /// The defaults the study uses.
    static member Default =
        { Alpha = 0.05; MixtureComponents = 5; MixtureRestarts = 10; MixtureRestartIterations = 20
          MixtureRefinement = Some { Tolerance = 1e-5; MaxIterations = 1000 }; BootstrapResamples = 1000; WeightsPerGroup = 200; FirstTWeights = 50
          EarlyWindow = (10, 30); HistogramBins = 80 }

/// Normality results for one neuron (row of the block).
type NeuronNormality =
    { Neuron: int
      /// Weights whose series could be tested (non-constant).
      Tested: int
      /// Rejected at α without correction.
      Rejected: int
      /// Rejected by Holm over all tested weights.
      HolmRejected: int
      /// Rejected by Benjamini–Hochberg over all tested weights.
      BhRejected: int }

/// The 1-D mixture fitted to one neuron's pooled gradients, with goodness of fit.
type NeuronMixture =
    { Neuron: int
      /// Pooled gradients fitted: every iteration of each of the neuron's weights whose series is not constant.
      Points: int
      /// The neuron's weights whose series is constant (e.g. all zero: a dead input), left out of the pool.
      ConstantLeftOut: int
      /// The fit with the requested number of components, or with as many as the pool has distinct
      /// values when it has fewer; None when the pool has fewer than 2 distinct values (see <c>Note</c>).
      Fit: MixtureFit option
      /// BIC for k = 1 … (the components fitted).
      BicByComponents: float[]
      /// Kolmogorov–Smirnov distance sup |F_n − F_mixture| of the pooled gradients (NaN without a fit).
      KsDistance: float
      /// Why there is no fit, or why it has fewer components than asked ("" otherwise).
      Note: string
      /// Histogram bin edges and densities of the pooled gradients (for the figure).
      BinEdges: float[]
      Densities: float[] }

/// Bootstrap variance of the adaptive learning rate for one group of weights.
type VarianceGroup =
    { /// "normal" (not rejected) or "non-normal" (rejected).
      Group: string
      /// The weights (flat indices) analysed.
      WeightIndices: int[]
      /// Per weight: normalised variance m_t²·Var*[ψ_t]·σ̂² at each t (NaN where the optimizer does not
      /// use ψ), resampling t gradients from the whole series (PsiResampling.WholeSeries).
      NormalisedVariance: float[][]
      /// The same with the notebook's per-t bootstrap of the first t gradients (PsiResampling.FirstT),
      /// for the first FirstTWeights weights of WeightIndices.
      FirstTVariance: float[][]
      /// Per weight: bootstrap variance / theoretical variance at each t (NaN where undefined).
      RatioToTheory: float[][]
      /// Band of the normalised variance.
      Band: CurveBand
      /// Band of FirstTVariance.
      FirstTBand: CurveBand
      /// Weights that were candidates for the group (tested, and rejected or not) before sampling.
      Candidates: int
      /// Weights dropped because a resampled prefix was all zeros (ψ unbounded, so its variance is
      /// infinite): counted, not analysed.
      DroppedUnbounded: int }

    /// Fewer weights than a bootstrap interval of the claims needs (3).
    member g.TooSmall = g.WeightIndices.Length < 3

    /// What the report says about a group that is empty or too small for the claims' intervals ("" otherwise).
    member g.Remark =
        let dropped = if g.DroppedUnbounded > 0 then $" ({g.DroppedUnbounded} dropped: ψ unbounded)" else ""
        match g.WeightIndices.Length with
        | 0 when g.Candidates = 0 -> $"no {g.Group} weights: no tested weight is {g.Group}"
        | 0 -> $"no {g.Group} weights left{dropped}"
        | n when n < 3 -> $"""{n} {g.Group} weight{(if n = 1 then "" else "s")}{dropped}: too few for the claims' bootstrap intervals (at least 3)"""
        | _ -> ""

/// Everything the study computes for one optimizer's trace.
type OptimizerAnalysis =
    { Trace: GradientTrace
      /// Shapiro–Wilk p-value per weight (NaN for weights whose series is constant).
      PValues: float[]
      /// Shapiro–Wilk W per weight (NaN for constant series).
      W: float[]
      /// Weights with a constant series (e.g. dead ReLU inputs), excluded from the tests.
      Constant: int
      /// Weights tested.
      Tested: int
      /// Rejected at α, no correction.
      Rejected: int
      /// Holm over the tested weights.
      Holm: MultipleTesting.Adjustment
      /// Benjamini–Hochberg over the tested weights.
      BenjaminiHochberg: MultipleTesting.Adjustment
      PerNeuron: NeuronNormality[]
      Mixtures: NeuronMixture[]
      /// The multiplier m_t of ψ_t in the update: 1 for Adam, r_t (t with ρ_t &gt; 5) for RAdam, lr_t/lr for warmup.
      Multiplier: float[]
      /// What the multiplier is, in words.
      MultiplierText: string
      /// Theoretical normalised variance of m_t·ψ_t: m_t²·ρ_t/(2(ρ_t−2)(ρ_t−4)) (NaN where ρ_t ≤ 4 or unused).
      Theory: float[]
      Normal: VarianceGroup
      NonNormal: VarianceGroup
      Seconds: float }

/// The gradient-distribution analysis of the notebook, corrected: for each optimizer, from its own
/// trace: Shapiro–Wilk per weight, Holm and BH, a k-component mixture per neuron with goodness of
/// fit, and the bootstrap variance of the adaptive learning rate for weights whose normality is and
/// is not rejected, against Liu et al.'s theory.
module GradientAnalysis =

    /// The options of the study's k-component fit of one neuron's pooled gradients. The data are
    /// standardised (<c>Standardize</c>): the fit, its KS distance and its BIC comparisons do not
    /// depend on the gradients' units, and the variance floor is 1e-6 times the pooled variance,
    /// not scikit-learn's absolute 1e-6 (larger than the variance of these gradients). Several short
    /// restarts rank k-means++ starts and the best is refined to convergence (emEM, Biernacki et al.
    /// 2003, with SQUAREM): on the study's traces scikit-learn's single run to tol = 1e-3 stops far
    /// from the optimum, and one start can land in a worse one (bench/Research.Benchmarks --traces).
    let mixtureOptions (options: AnalysisOptions) (seed: int64) (k: int) : MixtureOptions =
        { MixtureOptions.Create(k, standardize = true) with
            Restarts = options.MixtureRestarts; MaxIterations = options.MixtureRestartIterations; Seed = seed; Refine = options.MixtureRefinement }

    /// One neuron's pooled gradients, what its mixture is fitted to: every iteration of each weight of
    /// the neuron whose series is not constant, and how many constant series were left out. A
    /// constant series (all zero: an input that is never active) is not a sample of a gradient
    /// distribution; pooling its exact zeros would put an atom into the data that no continuous
    /// mixture fits.
    let pooledGradients (trace: GradientTrace) (neuron: int) : float[] * int =
        let series = GradientTrace.neuronSeries trace neuron // the neuron's Inputs series, read from the file
        let varying = series |> Array.filter (fun g -> g |> Array.exists (fun v -> v <> g.[0]))
        Array.concat varying, series.Length - varying.Length

    /// Median and 10–90% band across weights at each t.
    let band (perWeight: float[][]) : CurveBand = Quantile.band perWeight

    /// The multiplier of ψ_t in each optimizer's update and its description: as the trace's manifest
    /// states it (run.adaptive_lr_multiplier), else from the optimizer's name and the lr series (a
    /// minimal manifest).
    let multiplier (trace: GradientTrace) : float[] * string =
        let t = trace.Iterations
        let radam () =
            let steps = AdaptiveLR.radamSteps AdaptiveLR.PyTorchThreshold trace.Beta2 (Array.create t 1.0)
            steps |> Array.map (function Adapted(r, _) -> r | Unadapted -> nan),
            "r_t where ρ_t > 5 (PyTorch's threshold); RAdam does not use ψ_t for t ≤ 5"
        let schedule () =
            if trace.LearningRate.Length < t then
                invalidArg (nameof trace)
                    $"{trace.Directory}: the manifest says ψ_t is scaled by lr_t/lr, but the trace's lr series has {trace.LearningRate.Length} values for {t} iterations; record lr every iteration"
            Array.init t (fun i -> trace.LearningRate.[i] / trace.BaseLearningRate), "lr_t / lr (the schedule's factor, e.g. warmup)"
        let one () = Array.create t 1.0, "1 (Adam's ψ_t itself)"
        match trace.StatedMultiplier with
        | Some "r_t" -> radam ()
        | Some "lr_t/lr" -> schedule ()
        | Some "r_t*lr_t/lr" ->
            let r, _ = radam ()
            let s, _ = schedule ()
            Array.map2 (*) r s, "r_t · lr_t / lr (RAdam under a schedule)"
        | Some _ -> one ()
        | None ->
            match trace.Optimizer with
            | "RAdam" -> radam ()
            | _ when trace.LearningRate.Length >= t && trace.LearningRate |> Array.exists (fun l -> abs (l - trace.BaseLearningRate) > 1e-6 * trace.BaseLearningRate) ->
                schedule ()
            | _ -> one ()

    let private varianceGroup (options: AnalysisOptions) (stream: string -> int64) (trace: GradientTrace) (m: float[]) (theory: float[])
                              (name: string) (candidates: int[]) =
        let chosen = Sampling.withoutReplacement (stream $"{trace.Label}/weights/{name}") options.WeightsPerGroup candidates
        // the chosen weights' series only (at most WeightsPerGroup of them), read from the file
        let series = GradientTrace.readSeries trace chosen
        let curves =
            if chosen.Length = 0 then [||]
            else Bootstrap.psiCurves trace.Beta2 (stream $"{trace.Label}/bootstrap/{name}") options.BootstrapResamples series
        let keep = [| for i in 0 .. chosen.Length - 1 do if curves.[i].Unbounded |> Array.forall (fun u -> u = 0) then yield i |]
        let normalised =
            keep |> Array.map (fun i ->
                let g = series.[i]
                let sigma2 = (g |> Array.sumBy (fun x -> x * x)) / float g.Length
                Array.init trace.Iterations (fun t -> m.[t] * m.[t] * curves.[i].Variance.[t] * sigma2))
        let ratio = normalised |> Array.map (fun v -> Array.init v.Length (fun t -> if Double.IsFinite theory.[t] && theory.[t] > 0.0 then v.[t] / theory.[t] else nan))
        let kept = keep |> Array.map (fun i -> chosen.[i])
        let firstT =
            let gs = keep |> Array.truncate options.FirstTWeights |> Array.map (fun i -> series.[i])
            if gs.Length = 0 then [||]
            else
                let curves = Bootstrap.psiCurvesWith FirstT trace.Beta2 (stream $"{trace.Label}/bootstrap first t/{name}") options.BootstrapResamples gs
                Array.map2 (fun (g: float[]) (c: PrefixCurve) ->
                    let sigma2 = (g |> Array.sumBy (fun x -> x * x)) / float g.Length
                    // +∞ where a resample of the first t gradients is all zeros (counted in the curve): not a variance to plot
                    Array.init trace.Iterations (fun t -> if c.Unbounded.[t] > 0 then nan else m.[t] * m.[t] * c.Variance.[t] * sigma2)) gs curves
        { Group = name
          WeightIndices = kept
          NormalisedVariance = normalised
          FirstTVariance = firstT
          RatioToTheory = ratio
          Band = band normalised
          FirstTBand = band firstT
          Candidates = candidates.Length
          DroppedUnbounded = chosen.Length - keep.Length }

    /// The k = 1 … K fits of each neuron's pooled gradients (K = MixtureComponents, or fewer when the
    /// pool has fewer distinct values), with KS distance and histogram; no fit below 2 distinct values.
    /// The neurons' seeds are taken on the caller in neuron order, for the neurons whose pool has two
    /// distinct values (from the Shapiro–Wilk counts per neuron): <paramref name="stream"/> may
    /// record the names it is asked for (StudyContext.Stream lists them in the report), so it is never
    /// called from a helper thread. Then the neurons are read and fitted one at a time on the
    /// caller and helper threads (Work.run), so that only one pool per thread is in memory; each fit
    /// depends only on its data and its seed, so the result is the same on any number of cores and in
    /// any schedule.
    let private neuronMixtures (options: AnalysisOptions) (stream: string -> int64) (trace: GradientTrace) (perNeuron: NeuronNormality[]) : NeuronMixture[] =
        // A neuron's pool has two distinct values exactly when one of its series is not constant, that is
        // when Shapiro–Wilk tested one of its weights (load refuses non-finite values and T < 3, so the
        // only untested series are the zero-range ones): no pass over the file is needed for the seeds.
        let seeds =
            Array.init trace.Neurons (fun n ->
                if perNeuron.[n].Tested > 0 then Some(stream $"{trace.Label}/mixture/neuron {n}") else None)
        let mixture (n: int) =
            let pooled, constant = pooledGradients trace n
            let sorted = Array.sort pooled // finite: GradientTrace.load rejects NaN/inf
            let distinct = if sorted.Length = 0 then 0 else 1 + (Seq.pairwise sorted |> Seq.filter (fun (a, b) -> a <> b) |> Seq.length)
            let edges, dens = if sorted.Length = 0 then [||], [||] else Histogram.densityOfSorted options.HistogramBins (0.005, 0.995) sorted
            let left = if constant > 0 then $"; {constant} constant series left out" else ""
            if distinct < 2 then
                let why = if sorted.Length = 0 then "every weight's series is constant" else $"its {sorted.Length} pooled gradients are all equal"
                { Neuron = n; Points = sorted.Length; ConstantLeftOut = constant; Fit = None; BicByComponents = [||]; KsDistance = nan
                  BinEdges = edges; Densities = dens; Note = $"neuron {n}: no mixture ({why}){left}" }
            else
                let seed = seeds.[n].Value // taken above: the pool has 2 distinct values
                let top = min options.MixtureComponents distinct
                let fits = [| 1 .. top |] |> Array.map (fun k -> GaussianMixture.fit (mixtureOptions options seed k) pooled)
                let fit = fits.[top - 1]
                let fewer = if top < options.MixtureComponents then $"neuron {n}: {top} components only ({distinct} distinct values){left}" else ""
                { Neuron = n; Points = sorted.Length; ConstantLeftOut = constant; Fit = Some fit
                  BicByComponents = fits |> Array.map (fun f -> f.Bic)
                  KsDistance = GaussianMixture.ksDistanceSorted fit.Parameters sorted
                  BinEdges = edges; Densities = dens
                  Note = (if fewer <> "" then fewer elif constant > 0 then $"neuron {n}: {constant} constant series left out" else "") }
        // Work.run publishes reference results: one-element arrays carry the records
        Work.run true trace.Neurons (fun n -> [| mixture n |]) |> Array.map (fun one -> one.[0])

    /// <summary>
    /// Shapiro–Wilk W and p of every weight's series (NaN for a constant series), streaming the block
    /// from the file in blocks of <paramref name="columns"/> weights over all iterations, each tested
    /// with the column path for float32 trace data (<c>ShapiroWilk.tryTestColumns32</c>, bit for bit the
    /// W and p of <c>tryTestMany</c> on the same values widened to float64).
    /// </summary>
    let private normality (columns: int) (trace: GradientTrace) : float[] * float[] =
        let nW, t = trace.Neurons * trace.Inputs, trace.Iterations
        let pValues = Array.create nW nan
        let ws = Array.create nW nan
        let full = Array.zeroCreate<float32> (min columns nW * t)
        let mutable first = 0
        while first < nW do
            let count = min columns (nW - first)
            // the last block may be narrower: tryTestColumns32 takes the whole array as [t, count]
            let block = if count * t = full.Length then full else Array.zeroCreate<float32> (count * t)
            GradientTrace.readColumns trace first count block
            ShapiroWilk.tryTestColumns32 count block
            |> Array.iteri (fun k r ->
                match r with
                | Ok r ->
                    pValues.[first + k] <- r.PValue
                    ws.[first + k] <- r.W
                | Error _ -> ()) // zero range: a constant series (load refused non-finite values and T < 3)
            first <- first + count
        pValues, ws

    /// <summary>
    /// Analyses one trace, reading it from its file stage by stage: Shapiro–Wilk in blocks of
    /// <paramref name="blockColumns"/> weights, the mixtures one neuron at a time, the bootstrap on the
    /// chosen weights' series only. Random choices take their seeds from <paramref name="stream"/> by name
    /// ("{label}/weights/normal", "{label}/bootstrap/normal", "{label}/mixture/neuron n", …);
    /// <paramref name="progress"/> receives one line per stage.
    /// </summary>
    /// <param name="blockColumns">Weights per Shapiro–Wilk block (≥ 1); <c>analyse</c> takes
    /// <c>GradientTrace.blockColumns trace</c>, a block of at most <c>GradientTrace.BufferValues</c> values.
    /// The results do not depend on it.</param>
    let analyseInBlocks (blockColumns: int) (options: AnalysisOptions) (stream: string -> int64) (progress: string -> unit)
                        (trace: GradientTrace) : OptimizerAnalysis =
        if blockColumns < 1 then invalidArg (nameof blockColumns) $"expected at least 1 weight per block, got {blockColumns}"
        if not (options.Alpha > 0.0 && options.Alpha < 1.0) then
            invalidArg (nameof options) $"Alpha: expected 0 < α < 1, got {options.Alpha}"
        let clock = Diagnostics.Stopwatch.StartNew()
        let nW = trace.Neurons * trace.Inputs
        // 1. Shapiro–Wilk on every per-weight series (constant series are reported, not tested).
        let pValues, ws = normality blockColumns trace
        let tested = [| for i in 0 .. nW - 1 do if not (Double.IsNaN pValues.[i]) then yield i |]
        let testedP = tested |> Array.map (fun i -> pValues.[i])
        if tested.Length = 0 then
            invalidArg (nameof trace) $"no weight of {trace.Directory} has a non-constant gradient series; nothing to test"
        let holm = MultipleTesting.holm options.Alpha testedP
        let bh = MultipleTesting.benjaminiHochberg options.Alpha testedP
        let rejectedRaw = testedP |> Array.filter (fun p -> p <= options.Alpha) |> Array.length
        progress $"Shapiro–Wilk on {nW} series: {rejectedRaw}/{tested.Length} rejected at α = {options.Alpha}; Holm {holm.RejectedCount}, BH {bh.RejectedCount} ({nW - tested.Length} constant)"
        // one pass over the tested weights (in weight order, so grouped by neuron)
        let testedIn, rejected, holmRejected, bhRejected = Array.zeroCreate trace.Neurons, Array.zeroCreate trace.Neurons, Array.zeroCreate trace.Neurons, Array.zeroCreate trace.Neurons
        for j in 0 .. tested.Length - 1 do
            let n = tested.[j] / trace.Inputs
            testedIn.[n] <- testedIn.[n] + 1
            if testedP.[j] <= options.Alpha then rejected.[n] <- rejected.[n] + 1
            if holm.Reject.[j] then holmRejected.[n] <- holmRejected.[n] + 1
            if bh.Reject.[j] then bhRejected.[n] <- bhRejected.[n] + 1
        let perNeuron =
            Array.init trace.Neurons (fun n ->
                { Neuron = n; Tested = testedIn.[n]; Rejected = rejected.[n]; HolmRejected = holmRejected.[n]; BhRejected = bhRejected.[n] })
        // 2. Mixtures of the pooled gradients of each neuron.
        let mixtures = neuronMixtures options stream trace perNeuron
        let fitted = mixtures |> Array.filter (fun m -> m.Fit.IsSome)
        let maxKs = if fitted.Length = 0 then "none fitted" else (fitted |> Array.map (fun m -> m.KsDistance) |> Array.max).ToString("F4", Globalization.CultureInfo.InvariantCulture)
        progress $"{trace.Neurons} mixtures (k = 1…{options.MixtureComponents}, up to {trace.Inputs * trace.Iterations} points each): {fitted.Length} fitted, max KS distance {maxKs}"
        // 3. Bootstrap variance of the adaptive learning rate, normal vs non-normal weights.
        let m, mText = multiplier trace
        let theory =
            Array.init trace.Iterations (fun i ->
                match AdaptiveLR.tryTheoreticalVariance trace.Beta2 1.0 (i + 1) with
                | Some v when Double.IsFinite m.[i] -> m.[i] * m.[i] * v
                | _ -> nan)
        let rejectedSet = Collections.Generic.HashSet<int>([| for j in 0 .. tested.Length - 1 do if testedP.[j] <= options.Alpha then yield tested.[j] |])
        let normalW = tested |> Array.filter (fun w -> not (rejectedSet.Contains w))
        let nonNormalW = tested |> Array.filter rejectedSet.Contains
        let normal = varianceGroup options stream trace m theory "normal" normalW
        let nonNormal = varianceGroup options stream trace m theory "non-normal" nonNormalW
        progress $"bootstrap Var[ψ] (B = {options.BootstrapResamples}, T = {trace.Iterations}) for {normal.WeightIndices.Length} normal and {nonNormal.WeightIndices.Length} non-normal weights"
        { Trace = trace
          PValues = pValues
          W = ws
          Constant = nW - tested.Length
          Tested = tested.Length
          Rejected = rejectedRaw
          Holm = holm
          BenjaminiHochberg = bh
          PerNeuron = perNeuron
          Mixtures = mixtures
          Multiplier = m
          MultiplierText = mText
          Theory = theory
          Normal = normal
          NonNormal = nonNormal
          Seconds = clock.Elapsed.TotalSeconds }

    /// Analyses one trace (see <c>analyseInBlocks</c>), streaming it from its file through buffers of at
    /// most <c>GradientTrace.BufferValues</c> values; what stays in memory is O(weights) (a p-value and
    /// a W per weight) plus one neuron's pooled gradients per thread for the mixtures.
    let analyse (options: AnalysisOptions) (stream: string -> int64) (progress: string -> unit) (trace: GradientTrace) : OptimizerAnalysis =
        analyseInBlocks (GradientTrace.blockColumns trace) options stream progress trace

    /// Per weight, the mean over t in [first, last] of a per-t curve (NaN-free values only).
    let windowMean (window: int * int) (curve: float[]) : float = Quantile.windowMean window curve
