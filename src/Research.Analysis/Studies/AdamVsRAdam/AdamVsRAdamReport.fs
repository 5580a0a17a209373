namespace Research.Analysis.Studies.AdamVsRAdam

open System
open System.Globalization
open Plotly.NET
open Research.Analysis

/// The report blocks of the Adam-vs-RAdam study (figures and tables; the runner adds the verdicts,
/// methods and provenance).
module AdamVsRAdamReport =

    let private inv (x: float) = x.ToString("G6", CultureInfo.InvariantCulture)
    let private f4 (x: float) = if Double.IsNaN x then "–" else x.ToString("F4", CultureInfo.InvariantCulture)
    /// G6, or "–" for a value that could not be computed.
    let private g6 (x: float) = if Double.IsNaN x then "–" else inv x
    let private iterations (n: int) = Array.init n (fun i -> float (i + 1))

    /// One line per run of a per-iteration scalar (loss, lr) that the run recorded.
    let private scalarFigure (select: GradientTrace -> float[]) (yTitle: string) (height: int) (analyses: OptimizerAnalysis list) =
        Figures.bands false
            [ for a in analyses -> { Name = a.Trace.Label; X = iterations (select a.Trace).Length; Y = select a.Trace; Band = None } ]
        |> Figures.withAxes "iteration" yTitle
        |> Chart.withSize (1100, height)

    /// Panels of the mixture figure at most (a block may have hundreds of neurons; every neuron is in the table).
    let private maxPanels = 40

    /// Histogram and fitted mixture of each neuron's pooled gradients: one panel per neuron, up to
    /// <c>maxPanels</c> neurons; a neuron without a fit shows its histogram (if any) alone.
    let private mixtureFigure (a: OptimizerAnalysis) =
        [ for m in a.Mixtures |> Array.truncate maxPanels ->
            match m.Fit with
            | Some fit when m.BinEdges.Length > 1 ->
                let lo, hi = m.BinEdges.[0], m.BinEdges.[m.BinEdges.Length - 1]
                let grid = Array.init 200 (fun i -> lo + (hi - lo) * float i / 199.0)
                let dens = GaussianMixture.density fit.Parameters grid
                $"neuron {m.Neuron} (KS {m.KsDistance:F3})",
                Figures.histogramWithDensity m.BinEdges m.Densities (Some($"{fit.Parameters.Weights.Length}-component mixture", grid, dens)) (m.Neuron = 0)
            | _ -> $"neuron {m.Neuron} (no mixture)", Figures.histogramWithDensity m.BinEdges m.Densities None (m.Neuron = 0) ]
        |> Figures.grid 5 300

    /// The caption's note on neurons not shown.
    let private panelsNote (a: OptimizerAnalysis) =
        if a.Mixtures.Length > maxPanels then $" Showing the first {maxPanels} of {a.Mixtures.Length} neurons; every neuron is in the table below." else ""

    let private band (name: string) (t: int) (b: CurveBand) =
        { Name = $"{name} median and 10–90%% band ({b.Curves} weights)"; X = iterations t; Y = b.Median; Band = Some(b.Q10, b.Q90) }

    let private varianceFigure (a: OptimizerAnalysis) =
        let t = a.Trace.Iterations
        [ Figures.bands true [ for g in [ a.Normal; a.NonNormal ] do if g.Band.Curves > 0 then yield band g.Group t g.Band ]
          Figures.referenceLine "theory m_t²ρ_t/(2(ρ_t−2)(ρ_t−4))" (iterations t) (a.Theory |> Array.map (fun v -> if v > 0.0 then v else nan)) ]
        |> Chart.combine
        |> Figures.withAxes "iteration t" ""
        |> Figures.withLogY "normalised variance Var*[m_t ψ_t]·σ̂²"
        |> Chart.withSize (1100, 460)

    /// The two bootstrap schemes side by side: per optimizer, the median over the weights that got both.
    let private schemesFigure (analyses: OptimizerAnalysis list) =
        Figures.bands true
            [ for a in analyses do
                let t = a.Trace.Iterations
                let first = Array.append a.Normal.FirstTVariance a.NonNormal.FirstTVariance
                let n = first.Length
                let whole = Array.append (a.Normal.NormalisedVariance |> Array.truncate a.Normal.FirstTVariance.Length)
                                         (a.NonNormal.NormalisedVariance |> Array.truncate a.NonNormal.FirstTVariance.Length)
                if n > 0 then
                    yield { Name = $"{a.Trace.Label}: whole series, median of {n} weights"; X = iterations t; Y = (GradientAnalysis.band whole).Median; Band = None }
                    yield { Name = $"{a.Trace.Label}: first t (notebook), median of {n} weights"; X = iterations t; Y = (GradientAnalysis.band first).Median; Band = None } ]
        |> Figures.withAxes "iteration t" ""
        |> Figures.withLogY "normalised variance Var*[m_t ψ_t]·σ̂²"
        |> Chart.withSize (1100, 460)

    let private comparisonFigure (analyses: OptimizerAnalysis list) =
        Figures.bands true
            [ for a in analyses do
                let all = Array.append a.Normal.NormalisedVariance a.NonNormal.NormalisedVariance
                if all.Length > 0 then yield band a.Trace.Label a.Trace.Iterations (GradientAnalysis.band all) ]
        |> Figures.withAxes "iteration t" ""
        |> Figures.withLogY "normalised variance of the adaptive learning rate"
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
          Columns = [ "run"; "neuron"; "points"; "component"; "weight"; "mean"; "std"; "KS distance"; "converged"; "EM iterations"; "BIC"; "note" ]
          Rows =
            [ for a in analyses do
                for m in a.Mixtures do
                    match m.Fit with
                    | None -> yield [ a.Trace.Label; string m.Neuron; string m.Points; "–"; "–"; "–"; "–"; "–"; "–"; "–"; "–"; m.Note ]
                    | Some fit ->
                        let p = fit.Parameters
                        let order = Array.init p.Means.Length id |> Array.sortBy (fun j -> p.Means.[j])
                        for rank, j in Array.indexed order ->
                            [ a.Trace.Label; string m.Neuron; string m.Points; string (rank + 1); inv p.Weights.[j]; inv p.Means.[j]; inv (sqrt p.Variances.[j])
                              f4 m.KsDistance; string fit.Converged; string fit.Iterations; fit.Bic.ToString("F1", CultureInfo.InvariantCulture)
                              (if rank = 0 then m.Note else "") ] ]
          CsvName = Some "mixtures.csv" }

    let private varianceTable (options: AnalysisOptions) (analyses: OptimizerAnalysis list) =
        let w = options.EarlyWindow
        { Title = $"Normalised variance of the adaptive learning rate, mean over t = {fst w}..{snd w} (median [10%%, 90%%] over weights)"
          Columns = [ "run"; "multiplier m_t"; "group"; "weights"; "median"; "10%"; "90%"; "theory (mean over window)"; "dropped (ψ unbounded)"
                      "first-t weights"; "first-t median"; "note" ]
          Rows =
            [ for a in analyses do
                for g in [ a.Normal; a.NonNormal ] ->
                    let v = g.NormalisedVariance |> Array.map (GradientAnalysis.windowMean w)
                    [ a.Trace.Label; a.MultiplierText; g.Group; string g.WeightIndices.Length
                      g6 (Quantile.median v); g6 (Quantile.ofFinite 0.1 v); g6 (Quantile.ofFinite 0.9 v)
                      g6 (GradientAnalysis.windowMean w a.Theory); string g.DroppedUnbounded
                      string g.FirstTVariance.Length; g6 (Quantile.median (g.FirstTVariance |> Array.map (GradientAnalysis.windowMean w))); g.Remark ] ]
          CsvName = Some "adaptive-lr-variance.csv" }

    /// The study's figures and tables, in reading order.
    let blocks (options: AnalysisOptions) (analyses: OptimizerAnalysis list) : ReportBlock list =
        [ yield Heading(2, "Training")
          if analyses |> List.exists (fun a -> a.Trace.Loss.Length > 0) then
              yield Figure("Training loss per iteration (same initial weights and batch order for every optimizer).",
                           scalarFigure (fun t -> t.Loss) "training loss (batch mean cross-entropy)" 420 analyses)
          else yield Paragraph "The traces hold no loss series."
          if analyses |> List.exists (fun a -> a.Trace.LearningRate.Length > 0) then
              yield Figure("Learning rate per iteration.", scalarFigure (fun t -> t.LearningRate) "learning rate" 320 analyses)
          yield Heading(2, "Are the gradients normal?")
          yield Table(summaryTable analyses)
          yield Table(perNeuronTable analyses)
          yield Heading(2, "Mixtures of the pooled gradients")
          for a in analyses do
              let left = a.Mixtures |> Array.sumBy (fun m -> m.ConstantLeftOut)
              let leftText = if left > 0 then $" Weights whose series is constant (an input that is never active) are left out of the pool ({left} constant series left out in all)." else ""
              yield Figure($"{a.Trace.Label}: histogram of each output neuron's pooled gradients (its {a.Trace.Inputs} weights × {a.Trace.Iterations} iterations) with the fitted {options.MixtureComponents}-component mixture density.{leftText}{panelsNote a}", mixtureFigure a)
              let notes = [ for m in a.Mixtures do if m.Fit.IsNone || m.BicByComponents.Length < options.MixtureComponents then yield m.Note ]
              if not notes.IsEmpty then yield Paragraph($"{a.Trace.Label}: " + String.Join("; ", notes) + ".")
          yield Table(mixtureTable analyses)
          yield Heading(2, "Variance of the adaptive learning rate")
          yield Paragraph($"For each weight, the gradient series g_1..g_T is resampled with replacement {options.BootstrapResamples} times and ψ_t is computed on the first t values of each resample, t = 1..T; the variance over resamples, multiplied by the optimizer's factor m_t² and by σ̂² = mean(g²), is scale-free and comparable with Liu et al.'s ρ_t/(2(ρ_t−2)(ρ_t−4)). Up to {options.WeightsPerGroup} weights per group are drawn with the seed; bands show the median and the 10–90%% range over weights, not one weight picked at random.")
          yield Paragraph(
              "Two bootstrap schemes, which estimate different things. Resampling t gradients from the whole series (the figures per optimizer below, the strategies' comparison, "
              + "the variance table's median columns, and every claim: bootstrap-follows-theory, non-normal-higher-variance, radam-reduces-variance, radam-reduction-equal, "
              + "warmup-reduces-variance) estimates Var[ψ_t] when the t gradients are independent draws from the weight's gradients over the whole window: that is "
              + "Liu et al.'s setting, the one their formula describes, and it compares optimizers and groups at the same t under one distribution per weight. The notebook's "
              + "per-t bootstrap of the first t gradients (for each t afresh, t draws from g_1..g_t) estimates how uncertain ψ_t is given the gradients seen up to t; "
              + $"at small t it reflects how few values there are (it is 0 at t = 1), and it meets the other scheme at t = T. It is shown for comparison with the notebook "
              + $"only, in the figure 'the two bootstrap schemes' and the table's first-t columns, on the first {options.FirstTWeights} weights of each group (it costs T/2 times more).")
          for a in analyses do
              yield Figure($"{a.Trace.Label}: normalised bootstrap variance of m_t·ψ_t, m_t = {a.MultiplierText}; normal vs non-normal weights and theory.", varianceFigure a)
              let remarks = [ for g in [ a.Normal; a.NonNormal ] do if g.Remark <> "" then yield g.Remark ]
              if not remarks.IsEmpty then yield Paragraph($"{a.Trace.Label}: " + String.Join("; ", remarks) + "; the claims that need these groups are inconclusive.")
          yield Figure("The three strategies side by side: median and 10–90% band over all analysed weights.", comparisonFigure analyses)
          yield Figure("The two bootstrap schemes: resampling t gradients from the whole series (used by every claim) and the notebook's per-t bootstrap of the first t gradients (shown for comparison), median over the weights that got both.", schemesFigure analyses)
          yield Table(varianceTable options analyses) ]
