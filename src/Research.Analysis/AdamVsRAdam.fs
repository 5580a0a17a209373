namespace Research.Analysis

open System
open System.IO
open System.Globalization
open Plotly.NET
open Research.Core.Studies.AdamVsRAdam

/// What the claims of the gradient study are evaluated on.
type StudyEvidence =
    { Analyses: OptimizerAnalysis list
      Options: AnalysisOptions }

/// The outcome of the whole study.
type StudyResult =
    { /// The report's folder (traces under traces/, CSV tables beside the report).
      Directory: string
      /// The HTML report.
      Report: string
      /// CSV files written next to it.
      Tables: string list
      Analyses: OptimizerAnalysis list
      Claims: ClaimResult list }

/// The conclusions of the gradient-distribution notebook, as claims with pre-registered rules.
module GradientStudyClaims =

    let private inv (x: float) = x.ToString("G4", CultureInfo.InvariantCulture)

    let private byOptimizer (name: string) (e: StudyEvidence) =
        e.Analyses |> List.tryFind (fun a -> a.Trace.Optimizer = name)

    /// Adam's run: the one named "Adam" (else the first).
    let adam (e: StudyEvidence) = byOptimizer "Adam" e |> Option.orElse (List.tryHead e.Analyses)

    let private missing quantity what =
        { Effect.Point(quantity, nan, 0) with Details = [ "missing", $"no {what} trace among the analysed traces" ] }

    let private windowMeans (e: StudyEvidence) (g: VarianceGroup) =
        g.NormalisedVariance |> Array.map (GradientAnalysis.windowMean e.Options.EarlyWindow)

    let private allWindowMeans e (a: OptimizerAnalysis) = Array.append (windowMeans e a.Normal) (windowMeans e a.NonNormal)

    let private wilson (k: int) (n: int) =
        let z = 1.959963984540054
        let p = float k / float n
        let d = 1.0 + z * z / float n
        let c = (p + z * z / (2.0 * float n)) / d
        let h = z * sqrt (p * (1.0 - p) / float n + z * z / (4.0 * float n * float n)) / d
        c - h, c + h

    let private windowText (e: StudyEvidence) = let a, b = e.Options.EarlyWindow in $"t = {a}..{b}"

    /// Median normalised early variance of Adam over that of another optimizer, with a bootstrap CI.
    let private reductionVsAdam (optimizer: string) (label: string) (seedOffset: int64) (e: StudyEvidence) =
        match adam e, byOptimizer optimizer e with
        | Some a, Some o when a.Trace.Optimizer = "Adam" ->
            let est, lo, hi = GradientAnalysis.medianRatio (e.Options.Seed + seedOffset) 0.95 (allWindowMeans e a) (allWindowMeans e o)
            Effect.Interval($"median normalised variance Adam / {label}, {windowText e}", est, lo, hi, 0.95, a.Normal.WeightIndices.Length + a.NonNormal.WeightIndices.Length)
        | _ -> missing "ratio" $"Adam and {optimizer}"

    /// Every claim of the notebook; <paramref name="expectations"/> overrides what each is expected to be
    /// (by id), e.g. to pin the fast tier's known outcomes.
    let all (expectations: Map<string, Verdict option>) : Claim<StudyEvidence> list =
        let expect id def = expectations |> Map.tryFind id |> Option.defaultValue def
        let src = "gradient-distribution notebook"
        [ Claims.create "bh-at-least-holm" "Benjamini–Hochberg rejects at least as many normality hypotheses as Holm"
            $"{src}: multiple-testing cell; a theorem for the same α" "Shapiro–Wilk p-values of every optimizer's trace"
            (DecisionRule.estimateAtLeast 0.0) (expect "bh-at-least-holm" (Some Holds))
            (fun e ->
                let diffs = e.Analyses |> List.map (fun a -> a.Trace.Label, a.BenjaminiHochberg.RejectedCount - a.Holm.RejectedCount)
                { Effect.Point("min over optimizers of (BH − Holm rejections)", diffs |> List.map snd |> List.min |> float, e.Analyses.Length)
                    with Details = [ for l, d in diffs -> l, string d ] })

          Claims.create "bh-more-powerful" "BH rejected more hypotheses than Holm, so it is more powerful here"
            $"{src}: multiple-testing cell" "Shapiro–Wilk p-values of every optimizer's trace"
            (DecisionRule.estimateAbove 0.0) (expect "bh-more-powerful" None)
            (fun e ->
                let diffs = e.Analyses |> List.map (fun a -> a.BenjaminiHochberg.RejectedCount - a.Holm.RejectedCount)
                Effect.Point("min over optimizers of (BH − Holm rejections)", diffs |> List.min |> float, e.Analyses.Length))

          Claims.create "most-series-non-normal" "Most early per-weight gradient series are rejected as normal (Shapiro–Wilk, α = 0.05, uncorrected)"
            $"{src}: Shapiro–Wilk cell" "Adam's trace: one series per weight of the block"
            (DecisionRule.intervalAbove 0.5) (expect "most-series-non-normal" None)
            (fun e ->
                match adam e with
                | None -> missing "fraction rejected" "Adam"
                | Some a ->
                    let lo, hi = wilson a.Rejected a.Tested
                    { Effect.Interval("fraction of series rejected (Wilson 95% CI)", float a.Rejected / float a.Tested, lo, hi, 0.95, a.Tested)
                        with Details = [ "rejected", string a.Rejected; "tested", string a.Tested; "constant (excluded)", string a.Constant ] })

          Claims.create "mixture-fits-each-neuron"
            $"A 5-component Gaussian mixture fits the pooled gradients of each output neuron (KS distance ≤ 0.02)"
            $"{src}: GaussianMixture(5) cell" "Adam's trace: pooled gradients per output neuron"
            { Text = "holds if the largest Kolmogorov–Smirnov distance over neurons is ≤ 0.02; refuted otherwise"
              Decide = fun ef -> if Double.IsNaN ef.Estimate then Inconclusive elif ef.Estimate <= 0.02 then Holds else Refuted }
            (expect "mixture-fits-each-neuron" None)
            (fun e ->
                match adam e with
                | None -> missing "max KS distance" "Adam"
                | Some a ->
                    let ks = a.Mixtures |> Array.map (fun m -> m.KsDistance)
                    { Effect.Point("max over neurons of the KS distance", Array.max ks, ks.Length)
                        with Details = [ for m in a.Mixtures -> $"neuron {m.Neuron}", inv m.KsDistance ] })

          Claims.create "mixture-five-by-bic" "Five components are preferred by BIC over one to four for every neuron"
            $"{src}: GaussianMixture(5) cell (k chosen by eye)" "Adam's trace: pooled gradients per output neuron"
            (DecisionRule.estimateAtLeast 1.0) (expect "mixture-five-by-bic" None)
            (fun e ->
                match adam e with
                | None -> missing "fraction of neurons" "Adam"
                | Some a ->
                    let prefers (m: NeuronMixture) =
                        let b = m.BicByComponents
                        b.Length >= 2 && b.[b.Length - 1] < (b.[.. b.Length - 2] |> Array.min)
                    let k = a.Mixtures |> Array.filter prefers |> Array.length
                    { Effect.Point("fraction of neurons where BIC(5) < BIC(1..4)", float k / float a.Mixtures.Length, a.Mixtures.Length)
                        with Details = [ for m in a.Mixtures -> $"neuron {m.Neuron} BIC k=1..", String.Join(" ", m.BicByComponents |> Array.map (fun b -> b.ToString("F0", CultureInfo.InvariantCulture))) ] })

          Claims.create "bootstrap-follows-theory" "For weights with normal gradients, the bootstrap variance of ψ_t follows Liu et al.'s Var[ψ_t] (within a factor of 2)"
            $"{src}: variance cell; Liu et al. 2020, Theorem 2" "Adam's trace: weights whose normality is not rejected"
            (DecisionRule.intervalWithin 0.5 2.0) (expect "bootstrap-follows-theory" None)
            (fun e ->
                match adam e with
                | None -> missing "median ratio" "Adam"
                | Some a ->
                    let perWeight = a.Normal.RatioToTheory |> Array.map (GradientAnalysis.windowMean (e.Options.EarlyWindow |> fst, a.Trace.Iterations))
                    let est, lo, hi = GradientAnalysis.bootstrapOverWeights (e.Options.Seed + 11L) 0.95 (GradientAnalysis.quantile 0.5) perWeight
                    Effect.Interval($"median over weights of mean bootstrap/theoretical Var[ψ_t], t = {fst e.Options.EarlyWindow}..{a.Trace.Iterations}", est, lo, hi, 0.95, perWeight.Length))

          Claims.create "non-normal-higher-variance" "Early on, weights with non-normal gradients have a higher variance of ψ than weights with normal gradients"
            $"{src}: variance cell" "Adam's trace: normalised bootstrap Var[ψ_t]·σ̂² of both groups"
            (DecisionRule.intervalAbove 1.0) (expect "non-normal-higher-variance" None)
            (fun e ->
                match adam e with
                | None -> missing "ratio" "Adam"
                | Some a ->
                    let est, lo, hi = GradientAnalysis.medianRatio (e.Options.Seed + 12L) 0.95 (windowMeans e a.NonNormal) (windowMeans e a.Normal)
                    Effect.Interval($"median Var[ψ]σ̂² non-normal / normal, {windowText e}", est, lo, hi, 0.95, a.NonNormal.WeightIndices.Length + a.Normal.WeightIndices.Length))

          Claims.create "radam-reduces-variance" "RAdam's rectification reduces the early variance of the adaptive learning rate"
            "Liu et al. 2020 (RAdam); the notebook's RAdam run" "Adam's and RAdam's traces: Var[ψ_t]σ̂² vs Var[r_t ψ_t]σ̂²"
            (DecisionRule.intervalAbove 1.0) (expect "radam-reduces-variance" (Some Holds))
            (reductionVsAdam "RAdam" "RAdam" 13L)

          Claims.create "radam-reduction-equal" "RAdam reduces the variance about equally for normal and non-normal weights (ratio of reductions within [0.8, 1.25])"
            "the notebook's comparison of RAdam for normal and non-normal weights" "Adam's and RAdam's traces, both groups"
            (DecisionRule.intervalWithin 0.8 1.25) (expect "radam-reduction-equal" None)
            (fun e ->
                match adam e, byOptimizer "RAdam" e with
                | Some a, Some r when a.Trace.Optimizer = "Adam" ->
                    let groups = [| windowMeans e a.Normal; windowMeans e r.Normal; windowMeans e a.NonNormal; windowMeans e r.NonNormal |]
                    let med (x: float[]) = GradientAnalysis.quantile 0.5 x
                    let est, lo, hi = GradientAnalysis.bootstrapGroups (e.Options.Seed + 14L) 0.95 (fun g -> (med g.[0] / med g.[1]) / (med g.[2] / med g.[3])) groups
                    if Double.IsNaN est then
                        { Effect.Point("reduction ratio normal / non-normal", nan, 0) with Details = [ "too few weights", "a group has fewer than 3 weights" ] }
                    else
                        Effect.Interval($"(Adam/RAdam for normal) / (Adam/RAdam for non-normal), {windowText e}", est, lo, hi, 0.95, groups |> Array.sumBy (Array.filter Double.IsFinite >> Array.length))
                | _ -> missing "ratio" "Adam and RAdam")

          Claims.create "warmup-reduces-variance" "Warmup with AdamW reduces the early variance of the adaptive learning rate too"
            "the notebook's AdamW-with-warmup run" "Adam's and AdamW+warmup's traces: Var[(lr_t/lr) ψ_t]σ̂²"
            (DecisionRule.intervalAbove 1.0) (expect "warmup-reduces-variance" (Some Holds))
            (reductionVsAdam "AdamW" "AdamW+warmup" 15L) ]

/// The Adam-vs-RAdam gradient study end to end: capture (Research.Core), analysis, claims, report.
module AdamVsRAdam =

    let private inv (x: float) = x.ToString("G6", CultureInfo.InvariantCulture)
    let private f4 (x: float) = if Double.IsNaN x then "–" else x.ToString("F4", CultureInfo.InvariantCulture)

    /// The report folder for a configuration: reports/adam-vs-radam/seed-{seed}-{config hash}.
    let reportDirectory (root: string) (config: AdamVsRAdamConfig) : string =
        Path.Combine(root, "adam-vs-radam", $"seed-{config.Seed}-{config.Hash()}")

    /// Analyses trace directories (ours or NumPy-written with a minimal manifest).
    let analyseTraces (options: AnalysisOptions) (progress: string -> unit) (directories: string list) : OptimizerAnalysis list =
        [ for d in directories do
            let trace = GradientTrace.load None d
            progress $"  analysing {trace.Label} ({trace.Optimizer}): {trace.Neurons}x{trace.Inputs} weights x {trace.Iterations} iterations from {d}"
            yield GradientAnalysis.analyse options progress trace ]

    /// Evaluates every claim of the notebook on the analyses.
    let evaluateClaims (options: AnalysisOptions) (provenance: (string * string) list) (expectations: Map<string, Verdict option>) (analyses: OptimizerAnalysis list) =
        let evidence = { Analyses = analyses; Options = options }
        GradientStudyClaims.all expectations |> List.map (Claims.evaluate provenance evidence)

    let private colours = [| "#1f77b4"; "#d62728"; "#2ca02c"; "#9467bd"; "#ff7f0e"; "#8c564b" |]

    /// One line per run of a per-iteration scalar (loss, lr) that the run recorded.
    let private scalarFigure (select: GradientTrace -> float[]) (yTitle: string) (height: int) (analyses: OptimizerAnalysis list) =
        [ for i, a in List.indexed analyses do
            let y = select a.Trace
            if y.Length > 0 then
                yield Chart.Line(x = [ 1 .. y.Length ], y = y, Name = a.Trace.Label, LineColor = Color.fromHex colours.[i % colours.Length]) ]
        |> Chart.combine
        |> Chart.withXAxisStyle ("iteration")
        |> Chart.withYAxisStyle (yTitle)
        |> Chart.withSize (1100, height)

    let private lossFigure = scalarFigure (fun t -> t.Loss) "training loss (batch mean cross-entropy)" 420
    let private lrFigure = scalarFigure (fun t -> t.LearningRate) "learning rate" 320

    let private mixtureFigure (a: OptimizerAnalysis) =
        [ for m in a.Mixtures ->
            // The histogram as a filled step outline (exact, and light in the page).
            let stepX = [| for i in 0 .. m.Densities.Length - 1 do yield m.BinEdges.[i]; yield m.BinEdges.[i + 1] |]
            let stepY = [| for d in m.Densities do yield d; yield d |]
            let grid = Array.init 200 (fun i -> m.BinEdges.[0] + (m.BinEdges.[m.BinEdges.Length - 1] - m.BinEdges.[0]) * float i / 199.0)
            let dens = GaussianMixture.density m.Fit.Parameters grid
            [ Chart.Line(x = stepX, y = stepY, Name = "histogram (density)", ShowLegend = (m.Neuron = 0), LineColor = Color.fromHex "#6baed6")
              |> GenericChart.mapTrace (fun tr -> tr?fill <- "tozeroy"; tr?fillcolor <- "rgba(107,174,214,0.35)"; tr?legendgroup <- "h"; tr)
              Chart.Line(x = grid, y = dens, Name = $"{m.Fit.Parameters.Weights.Length}-component mixture", ShowLegend = (m.Neuron = 0),
                         LineColor = Color.fromHex "#d62728")
              |> GenericChart.mapTrace (fun tr -> tr?legendgroup <- "m"; tr) ]
            |> Chart.combine ]
        |> Chart.Grid(2, 5, SubPlotTitles = [ for m in a.Mixtures -> $"neuron {m.Neuron} (KS {m.KsDistance:F3})" ])
        |> Chart.withSize (1150, 600)

    let private bandTraces (name: string) (colour: string) (t: int) (b: CurveBand) =
        let xs = [| 1 .. t |]
        let keep (y: float[]) = Array.zip xs y |> Array.filter (fun (_, v) -> Double.IsFinite v && v > 0.0)
        let med = keep b.Median
        let lo = keep b.Q10
        let hi = keep b.Q90
        [ Chart.Line(x = (hi |> Array.map fst), y = (hi |> Array.map snd), Name = $"{name} 90%%", ShowLegend = false,
                     LineColor = Color.fromString "rgba(0,0,0,0)")
          Chart.Line(x = (lo |> Array.map fst), y = (lo |> Array.map snd), Name = $"{name} 10–90%% band",
                     LineColor = Color.fromString "rgba(0,0,0,0)")
          |> GenericChart.mapTrace (fun tr -> tr?fill <- "tonexty"; tr?fillcolor <- colour.Replace("1)", "0.18)"); tr)
          Chart.Line(x = (med |> Array.map fst), y = (med |> Array.map snd), Name = $"{name} median ({b.Weights} weights)",
                     LineColor = Color.fromString colour) ]

    let private varianceFigure (a: OptimizerAnalysis) =
        let t = a.Trace.Iterations
        let theory = Array.zip [| 1 .. t |] a.Theory |> Array.filter (fun (_, v) -> Double.IsFinite v && v > 0.0)
        [ yield! bandTraces "normal" "rgba(31,119,180,1)" t a.Normal.Band
          yield! bandTraces "non-normal" "rgba(214,39,40,1)" t a.NonNormal.Band
          yield Chart.Line(x = (theory |> Array.map fst), y = (theory |> Array.map snd), Name = "theory m_t²ρ_t/(2(ρ_t−2)(ρ_t−4))",
                           LineColor = Color.fromHex "#000000", LineDash = StyleParam.DrawingStyle.Dash) ]
        |> Chart.combine
        |> Chart.withXAxisStyle ("iteration t")
        |> Chart.withYAxis (LayoutObjects.LinearAxis.init (AxisType = StyleParam.AxisType.Log, Title = Title.init "normalised variance Var*[m_t ψ_t]·σ̂²"))
        |> Chart.withSize (1100, 460)

    let private comparisonFigure (analyses: OptimizerAnalysis list) =
        [ for i, a in List.indexed analyses do
            let all = Array.append a.Normal.NormalisedVariance a.NonNormal.NormalisedVariance
            let b = GradientAnalysis.band all
            let c = colours.[i % colours.Length]
            let rgba = $"rgba({Convert.ToInt32(c.Substring(1, 2), 16)},{Convert.ToInt32(c.Substring(3, 2), 16)},{Convert.ToInt32(c.Substring(5, 2), 16)},1)"
            yield! bandTraces a.Trace.Label rgba a.Trace.Iterations b ]
        |> Chart.combine
        |> Chart.withXAxisStyle ("iteration t")
        |> Chart.withYAxis (LayoutObjects.LinearAxis.init (AxisType = StyleParam.AxisType.Log, Title = Title.init "normalised variance of the adaptive learning rate"))
        |> Chart.withSize (1100, 480)

    let private summaryTable (analyses: OptimizerAnalysis list) =
        { Title = "Normality of the per-weight gradient series (Shapiro–Wilk, α = 0.05) and multiple-testing corrections"
          Columns = [ "run"; "optimizer"; "weights"; "constant (excluded)"; "tested"; "rejected (uncorrected)"; "Holm rejections"; "BH rejections"; "more powerful here" ]
          Rows =
            [ for a in analyses ->
                let h, b = a.Holm.RejectedCount, a.BenjaminiHochberg.RejectedCount
                [ a.Trace.Label; a.Trace.Optimizer; string a.PValues.Length; string a.Constant; string a.Tested; string a.Rejected
                  string h; string b; (if b > h then "BH" elif h > b then "Holm" else "equal") ] ]
          CsvName = Some "normality-summary.csv" }

    let private perNeuronTable (analyses: OptimizerAnalysis list) =
        { Title = "Per output neuron: series rejected as normal (uncorrected, Holm, BH)"
          Columns = [ "run"; "neuron"; "tested"; "rejected"; "Holm"; "BH" ]
          Rows = [ for a in analyses do for n in a.PerNeuron -> [ a.Trace.Label; string n.Neuron; string n.Tested; string n.Rejected; string n.HolmRejected; string n.BhRejected ] ]
          CsvName = Some "normality-per-neuron.csv" }

    let private mixtureTable (analyses: OptimizerAnalysis list) =
        { Title = "Gaussian mixture of each neuron's pooled gradients (components sorted by mean)"
          Columns = [ "run"; "neuron"; "component"; "weight"; "mean"; "std"; "KS distance"; "converged"; "EM iterations"; "BIC" ]
          Rows =
            [ for a in analyses do
                for m in a.Mixtures do
                    let p = m.Fit.Parameters
                    let order = Array.init p.Means.Length id |> Array.sortBy (fun j -> p.Means.[j])
                    for rank, j in Array.indexed order ->
                        [ a.Trace.Label; string m.Neuron; string (rank + 1); inv p.Weights.[j]; inv p.Means.[j]; inv (sqrt p.Variances.[j])
                          f4 m.KsDistance; string m.Fit.Converged; string m.Fit.Iterations; m.Fit.Bic.ToString("F1", CultureInfo.InvariantCulture) ] ]
          CsvName = Some "mixtures.csv" }

    let private varianceTable (options: AnalysisOptions) (analyses: OptimizerAnalysis list) =
        let w = options.EarlyWindow
        { Title = $"Normalised variance of the adaptive learning rate, mean over t = {fst w}..{snd w} (median [10%%, 90%%] over weights)"
          Columns = [ "run"; "multiplier m_t"; "group"; "weights"; "median"; "10%"; "90%"; "theory (mean over window)"; "dropped (ψ unbounded)" ]
          Rows =
            [ for a in analyses do
                for g in [ a.Normal; a.NonNormal ] ->
                    let v = g.NormalisedVariance |> Array.map (GradientAnalysis.windowMean w)
                    [ a.Trace.Label; a.MultiplierText; g.Group; string g.WeightIndices.Length
                      inv (GradientAnalysis.quantile 0.5 v); inv (GradientAnalysis.quantile 0.1 v); inv (GradientAnalysis.quantile 0.9 v)
                      inv (GradientAnalysis.windowMean w a.Theory); string g.DroppedUnbounded ] ]
          CsvName = Some "adaptive-lr-variance.csv" }

    /// Renders the report (blocks) of a study.
    let reportBlocks (options: AnalysisOptions) (methods: (string * string) list) (runs: (string * string) list)
                     (analyses: OptimizerAnalysis list) (claims: ClaimResult list) : ReportBlock list =
        [ yield Paragraph "This report reproduces and corrects the gradient-distribution notebook: for Adam, RAdam and AdamW with warmup it records the gradients of the weights between the output neurons and the penultimate layer over the first iterations of training, tests each weight's gradient series for normality, fits Gaussian mixtures to each neuron's pooled gradients, and bootstraps the variance of the adaptive learning rate ψ_t = sqrt((1−β₂^t)/((1−β₂)Σβ₂^(t−i)g_i²)) for weights whose normality is and is not rejected. Each optimizer is analysed from its own traces (the notebook reused Adam's for the RAdam and AdamW p-values). Every conclusion is a claim with a decision rule fixed in code before the data is seen."
          yield Heading(2, "Verdicts on the notebook's conclusions")
          yield! Claims.toBlocks "Claims (full tier: the study's own traces)" (Some "claims.csv") claims
          yield Heading(2, "Methods")
          yield Facts methods
          yield Heading(3, "Runs and traces")
          yield Facts runs
          yield Heading(2, "Training")
          if analyses |> List.exists (fun a -> a.Trace.Loss.Length > 0) then
              yield Figure("Training loss per iteration (same initial weights and batch order for every optimizer).", lossFigure analyses)
          else yield Paragraph "The traces hold no loss series."
          if analyses |> List.exists (fun a -> a.Trace.LearningRate.Length > 0) then
              yield Figure("Learning rate per iteration.", lrFigure analyses)
          yield Heading(2, "Are the gradients normal?")
          yield Table(summaryTable analyses)
          yield Table(perNeuronTable analyses)
          yield Heading(2, "Mixtures of the pooled gradients")
          for a in analyses do
              yield Figure($"{a.Trace.Label}: histogram of each output neuron's pooled gradients (all {a.Trace.Inputs} weights × {a.Trace.Iterations} iterations) with the fitted {options.MixtureComponents}-component mixture density.", mixtureFigure a)
          yield Table(mixtureTable analyses)
          yield Heading(2, "Variance of the adaptive learning rate")
          yield Paragraph($"For each weight, the gradient series g_1..g_T is resampled with replacement {options.BootstrapResamples} times and ψ_t is computed on every prefix of each resample; the variance over resamples, multiplied by the optimizer's factor m_t² and by σ̂² = mean(g²), is scale-free and comparable with Liu et al.'s ρ_t/(2(ρ_t−2)(ρ_t−4)). Up to {options.WeightsPerGroup} weights per group are drawn with the seed; bands show the median and the 10–90%% range over weights, not one weight picked at random.")
          for a in analyses do
              yield Figure($"{a.Trace.Label}: normalised bootstrap variance of m_t·ψ_t, m_t = {a.MultiplierText}; normal vs non-normal weights and theory.", varianceFigure a)
          yield Figure("The three strategies side by side: median and 10–90% band over all analysed weights.", comparisonFigure analyses)
          yield Table(varianceTable options analyses) ]

    /// Writes the report of analysed traces into <paramref name="directory"/>.
    let writeReport (directory: string) (title: string) (options: AnalysisOptions) (methods: (string * string) list)
                    (analyses: OptimizerAnalysis list) (claims: ClaimResult list) : string * string list =
        let runs =
            [ for a in analyses do
                yield $"{a.Trace.Label} trace", $"{a.Trace.Directory} ({a.Trace.Status}), series {a.Trace.SeriesName}"
                yield $"{a.Trace.Label} run", a.Trace.RunJson
                for f, h in a.Trace.Hashes -> $"{a.Trace.Label} {f} SHA-256", h ]
        let path = Path.Combine(directory, "report.html")
        match Report.write path title (reportBlocks options methods runs analyses claims) with
        | html :: csvs -> html, csvs
        | [] -> path, []

    /// Analysis settings and software as report facts.
    let analysisFacts (options: AnalysisOptions) : (string * string) list =
        [ "analysis", $"Shapiro–Wilk (AS R94) per weight, α = {options.Alpha}; Holm and Benjamini–Hochberg over the tested weights; {options.MixtureComponents}-component 1-D Gaussian mixtures by EM (k-means++ start, {options.MixtureRestarts} restarts, tol 1e-3, reg_covar 1e-6) per neuron, BIC for k = 1..{options.MixtureComponents}, KS distance; bootstrap B = {options.BootstrapResamples}, up to {options.WeightsPerGroup} weights per group, early window t = {fst options.EarlyWindow}..{snd options.EarlyWindow}; analysis seed {options.Seed}"
          "toolkit", $"Research.Analysis {typeof<AnalysisOptions>.Assembly.GetName().Version}, Research.Core {typeof<AdamVsRAdamConfig>.Assembly.GetName().Version}, FSharp.Core {typeof<list<int>>.Assembly.GetName().Version}, MathNet.Numerics {typeof<MathNet.Numerics.Distributions.Normal>.Assembly.GetName().Version}, Plotly.NET {typeof<Chart>.Assembly.GetName().Version} (plotly.js {fst Report.plotlyJs.Value}), {Runtime.InteropServices.RuntimeInformation.FrameworkDescription}" ]

    /// Trains, records, analyses and reports. Returns where everything is.
    /// <param name="config">Capture configuration (model, optimizers, seed, iterations).</param>
    /// <param name="options">Analysis settings.</param>
    /// <param name="reportRoot">Root folder of reports (a folder per seed and configuration is made inside).</param>
    /// <param name="train">MNIST training split (or a stand-in).</param>
    /// <param name="test">MNIST test split for the final accuracies (or null).</param>
    /// <param name="expectations">Claim expectations to override (by id).</param>
    /// <param name="log">Progress output.</param>
    let run (config: AdamVsRAdamConfig) (options: AnalysisOptions) (reportRoot: string)
            (train: Research.Core.Data.MnistSplit) (test: Research.Core.Data.MnistSplit)
            (expectations: Map<string, Verdict option>) (log: TextWriter) : StudyResult =
        let dir = reportDirectory reportRoot config
        Directory.CreateDirectory dir |> ignore
        let traces = Path.Combine(dir, "traces")
        log.WriteLine $"[1/3] training and recording {config.Optimizers.Length} optimizers ({config.TrainSteps} steps, first {config.RecordIterations} iterations recorded) → {traces}"
        let captured = AdamVsRAdamCapture.Run(config, traces, train, (if isNull (box test) then null else test), log)
        log.WriteLine "[2/3] analysing the traces"
        let analyses = analyseTraces options (fun s -> log.WriteLine s) [ for c in captured -> c.TraceDirectory ]
        let provenance =
            [ "seed", string config.Seed
              "config hash", config.Hash()
              yield! [ for a in analyses do for f, h in a.Trace.Hashes do if f = "manifest.json" || f.StartsWith "grad" then yield $"{a.Trace.Label}/{f}", h.[.. 15] ] ]
        let claims = evaluateClaims options provenance expectations analyses
        log.WriteLine "[3/3] writing the report"
        let cfg = config.ToDisplayJson()
        let methods =
            [ yield "data", $"MNIST training images ({(if config.TrainExamples.HasValue then config.TrainExamples.Value else train.Count)} examples) from {train.Source}, normalised (x/255 − 0.1307)/0.3081; test accuracy on the 10,000 test images"
              yield "model", $"MLP {String.Join('-', config.Widths)} with ReLU, PyTorch default initialisation (seeded)"
              yield "training", $"batch {config.BatchSize}, {config.TrainSteps} steps per optimizer, seed {config.Seed} (same initial weights and batch order for every optimizer), device {config.Device}"
              yield "recorded", $"gradient of fc{config.Widths.Length - 1}.weight[0:{config.OutputRows}, 0:{config.InputColumns}] after backward and the optimizer's exp_avg_sq after each step, iterations 1..{config.RecordIterations}; loss, lr, global gradient norm every iteration"
              for c in captured do
                yield $"optimizer {c.Spec.Label}", $"{c.Spec.Optimizer}: lr {c.Spec.LearningRate}, betas ({c.Spec.Beta1}, {c.Spec.Beta2}), eps {c.Spec.Eps}, weight decay {c.Spec.WeightDecay}, schedule {c.Spec.ScheduleText}; final training loss {f4 c.History.StepLoss.[c.History.StepLoss.Count - 1]}, test accuracy {f4 (100.0 * c.TestAccuracy)}%%, {c.Seconds:F1} s"
              yield "configuration", cfg
              yield! analysisFacts options ]
        let title = $"Adam vs RAdam: gradient distributions and adaptive-learning-rate variance (seed {config.Seed})"
        let html, csvs = writeReport dir title options methods analyses claims
        { Directory = dir; Report = html; Tables = csvs; Analyses = analyses; Claims = claims }
