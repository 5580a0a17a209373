namespace Research.Analysis.Studies.AdamVsRAdam

open System
open System.Globalization
open Research.Analysis

/// What the claims of the Adam-vs-RAdam study are evaluated on.
type AdamVsRAdamEvidence =
    { Analyses: OptimizerAnalysis list
      Options: AnalysisOptions
      /// Seeds of the claims' bootstrap intervals, by name ("claims/…").
      Stream: string -> int64 }

/// The conclusions of the Adam-vs-RAdam notebook (gradient distributions and the adaptive learning
/// rate), as claims with pre-registered rules.
module AdamVsRAdamClaims =

    let private inv (x: float) = x.ToString("G4", CultureInfo.InvariantCulture)

    let private byOptimizer (name: string) (e: AdamVsRAdamEvidence) =
        e.Analyses |> List.tryFind (fun a -> a.Trace.Optimizer = name)

    /// Adam's run: the one named "Adam" (else the first).
    let adam (e: AdamVsRAdamEvidence) = byOptimizer "Adam" e |> Option.orElse (List.tryHead e.Analyses)

    let private missing quantity what =
        { Effect.Point(quantity, nan, 0) with Details = [ "missing", $"no {what} trace among the analysed traces" ] }

    let private windowMeans (e: AdamVsRAdamEvidence) (g: VarianceGroup) =
        g.NormalisedVariance |> Array.map (GradientAnalysis.windowMean e.Options.EarlyWindow)

    let private allWindowMeans e (a: OptimizerAnalysis) = Array.append (windowMeans e a.Normal) (windowMeans e a.NonNormal)

    let private windowText (e: AdamVsRAdamEvidence) = let a, b = e.Options.EarlyWindow in $"t = {a}..{b}"

    /// The effect with a detail for each group that is empty or too small (its remark), and for an
    /// estimate that could not be computed.
    let private withRemarks (groups: (string * VarianceGroup) list) (effect: Effect) =
        let remarks = [ for label, g in groups do if g.Remark <> "" then yield label, g.Remark ]
        let missing = if Double.IsNaN effect.Estimate && not remarks.IsEmpty then [ "not computed", "a group has fewer than 3 weights" ] else []
        { effect with Details = effect.Details @ remarks @ missing }

    /// Resamples of the claims' bootstrap intervals.
    let private resamples = 2000

    let private medianRatio (e: AdamVsRAdamEvidence) (claim: string) (numerator: float[]) (denominator: float[]) =
        Bootstrap.groupInterval (e.Stream $"claims/{claim}") resamples 0.95 (fun g -> Quantile.median g.[0] / Quantile.median g.[1]) [| numerator; denominator |]

    /// Median normalised early variance of Adam over that of another optimizer, with a bootstrap CI.
    let private reductionVsAdam (claim: string) (optimizer: string) (label: string) (e: AdamVsRAdamEvidence) =
        match adam e, byOptimizer optimizer e with
        | Some a, Some o when a.Trace.Optimizer = "Adam" ->
            let est, lo, hi = medianRatio e claim (allWindowMeans e a) (allWindowMeans e o)
            Effect.Interval($"median normalised variance Adam / {label}, {windowText e}", est, lo, hi, 0.95, a.Normal.WeightIndices.Length + a.NonNormal.WeightIndices.Length)
            |> withRemarks [ "Adam normal", a.Normal; "Adam non-normal", a.NonNormal; $"{label} normal", o.Normal; $"{label} non-normal", o.NonNormal ]
        | _ -> missing "ratio" $"Adam and {optimizer}"

    /// Every claim of the notebook; <paramref name="expectations"/> overrides what each is expected to be
    /// (by id), e.g. to pin the fast tier's known outcomes.
    let all (expectations: Map<string, Verdict option>) : Claim<AdamVsRAdamEvidence> list =
        let expect id def = expectations |> Map.tryFind id |> Option.defaultValue def
        let src = "Adam-vs-RAdam notebook"
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
                    let lo, hi = Proportion.wilson 0.95 a.Rejected a.Tested
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
                    let fitted = a.Mixtures |> Array.filter (fun m -> m.Fit.IsSome)
                    let ks = fitted |> Array.map (fun m -> m.KsDistance)
                    { Effect.Point("max over neurons of the KS distance", (if ks.Length = 0 then nan else Array.max ks), ks.Length)
                        with Details = [ for m in a.Mixtures -> $"neuron {m.Neuron}", (if m.Fit.IsSome then inv m.KsDistance else m.Note) ] })

          Claims.create "mixture-five-by-bic" "Five components are preferred by BIC over one to four for every neuron"
            $"{src}: GaussianMixture(5) cell (k chosen by eye)" "Adam's trace: pooled gradients per output neuron"
            (DecisionRule.estimateAtLeast 1.0) (expect "mixture-five-by-bic" None)
            (fun e ->
                match adam e with
                | None -> missing "fraction of neurons" "Adam"
                | Some a ->
                    // only neurons fitted with every k up to MixtureComponents can prefer it
                    let full = a.Mixtures |> Array.filter (fun m -> m.BicByComponents.Length = e.Options.MixtureComponents && m.BicByComponents.Length >= 2)
                    let prefers (m: NeuronMixture) =
                        let b = m.BicByComponents
                        b.[b.Length - 1] < (b.[.. b.Length - 2] |> Array.min)
                    let k = full |> Array.filter prefers |> Array.length
                    let fraction = if full.Length = 0 then nan else float k / float full.Length
                    { Effect.Point($"fraction of neurons where BIC({e.Options.MixtureComponents}) < BIC(1..{e.Options.MixtureComponents - 1})", fraction, full.Length)
                        with Details =
                               [ for m in a.Mixtures ->
                                   if m.BicByComponents.Length = e.Options.MixtureComponents then
                                       $"neuron {m.Neuron} BIC k=1..", String.Join(" ", m.BicByComponents |> Array.map (fun b -> b.ToString("F0", CultureInfo.InvariantCulture)))
                                   else $"neuron {m.Neuron}", (if m.Note <> "" then m.Note else "fewer components fitted") ] })

          Claims.create "bootstrap-follows-theory" "For weights with normal gradients, the bootstrap variance of ψ_t follows Liu et al.'s Var[ψ_t] (within a factor of 2)"
            $"{src}: variance cell; Liu et al. 2020, Theorem 2" "Adam's trace: weights whose normality is not rejected"
            (DecisionRule.intervalWithin 0.5 2.0) (expect "bootstrap-follows-theory" None)
            (fun e ->
                match adam e with
                | None -> missing "median ratio" "Adam"
                | Some a ->
                    let perWeight = a.Normal.RatioToTheory |> Array.map (GradientAnalysis.windowMean (e.Options.EarlyWindow |> fst, a.Trace.Iterations))
                    let est, lo, hi = Bootstrap.groupInterval (e.Stream "claims/bootstrap-follows-theory") resamples 0.95 (fun g -> Quantile.median g.[0]) [| perWeight |]
                    Effect.Interval($"median over weights of mean bootstrap/theoretical Var[ψ_t], t = {fst e.Options.EarlyWindow}..{a.Trace.Iterations}", est, lo, hi, 0.95, perWeight.Length)
                    |> withRemarks [ "Adam normal", a.Normal ])

          Claims.create "non-normal-higher-variance" "Early on, weights with non-normal gradients have a higher variance of ψ than weights with normal gradients"
            $"{src}: variance cell" "Adam's trace: normalised bootstrap Var[ψ_t]·σ̂² of both groups"
            (DecisionRule.intervalAbove 1.0) (expect "non-normal-higher-variance" None)
            (fun e ->
                match adam e with
                | None -> missing "ratio" "Adam"
                | Some a ->
                    let est, lo, hi = medianRatio e "non-normal-higher-variance" (windowMeans e a.NonNormal) (windowMeans e a.Normal)
                    Effect.Interval($"median Var[ψ]σ̂² non-normal / normal, {windowText e}", est, lo, hi, 0.95, a.NonNormal.WeightIndices.Length + a.Normal.WeightIndices.Length)
                    |> withRemarks [ "Adam normal", a.Normal; "Adam non-normal", a.NonNormal ])

          Claims.create "radam-reduces-variance" "RAdam's rectification reduces the early variance of the adaptive learning rate"
            "Liu et al. 2020 (RAdam); the notebook's RAdam run" "Adam's and RAdam's traces: Var[ψ_t]σ̂² vs Var[r_t ψ_t]σ̂²"
            (DecisionRule.intervalAbove 1.0) (expect "radam-reduces-variance" (Some Holds))
            (reductionVsAdam "radam-reduces-variance" "RAdam" "RAdam")

          Claims.create "radam-reduction-equal" "RAdam reduces the variance about equally for normal and non-normal weights (ratio of reductions within [0.8, 1.25])"
            "the notebook's comparison of RAdam for normal and non-normal weights" "Adam's and RAdam's traces, both groups"
            (DecisionRule.intervalWithin 0.8 1.25) (expect "radam-reduction-equal" None)
            (fun e ->
                match adam e, byOptimizer "RAdam" e with
                | Some a, Some r when a.Trace.Optimizer = "Adam" ->
                    let groups = [| windowMeans e a.Normal; windowMeans e r.Normal; windowMeans e a.NonNormal; windowMeans e r.NonNormal |]
                    let med (x: float[]) = Quantile.median x
                    let est, lo, hi =
                        Bootstrap.groupInterval (e.Stream "claims/radam-reduction-equal") resamples 0.95
                            (fun g -> (med g.[0] / med g.[1]) / (med g.[2] / med g.[3])) groups
                    if Double.IsNaN est then
                        Effect.Point("reduction ratio normal / non-normal", nan, 0)
                        |> withRemarks [ "Adam normal", a.Normal; "RAdam normal", r.Normal; "Adam non-normal", a.NonNormal; "RAdam non-normal", r.NonNormal ]
                    else
                        Effect.Interval($"(Adam/RAdam for normal) / (Adam/RAdam for non-normal), {windowText e}", est, lo, hi, 0.95, groups |> Array.sumBy (Array.filter Double.IsFinite >> Array.length))
                | _ -> missing "ratio" "Adam and RAdam")

          Claims.create "warmup-reduces-variance" "Warmup with AdamW reduces the early variance of the adaptive learning rate too"
            "the notebook's AdamW-with-warmup run" "Adam's and AdamW+warmup's traces: Var[(lr_t/lr) ψ_t]σ̂²"
            (DecisionRule.intervalAbove 1.0) (expect "warmup-reduces-variance" (Some Holds))
            (reductionVsAdam "warmup-reduces-variance" "AdamW" "AdamW+warmup") ]

