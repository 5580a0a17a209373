namespace Research.Analysis

open System

/// The outcome of checking a claim against its pre-registered decision rule.
type Verdict =
    /// The rule's condition for "holds" is met.
    | Holds
    /// The rule's condition for "refuted" is met.
    | Refuted
    /// Neither: the evidence does not decide (e.g. an interval straddles the threshold).
    | Inconclusive

    /// Lower-case word for tables.
    override v.ToString() =
        match v with
        | Holds -> "holds"
        | Refuted -> "refuted"
        | Inconclusive -> "inconclusive"

/// An effect with its uncertainty, as a claim's computation returns it.
type Effect =
    { /// What the number is ("BH rejections − Holm rejections", "Var ratio Adam/RAdam at t=10..30" …).
      Quantity: string
      /// Point estimate.
      Estimate: float
      /// Lower bound of the confidence interval (NaN when not applicable).
      Lower: float
      /// Upper bound of the confidence interval (NaN when not applicable).
      Upper: float
      /// Confidence level of [Lower, Upper] (e.g. 0.95; NaN when no interval).
      Level: float
      /// A p-value, when the computation is a test (NaN otherwise).
      PValue: float
      /// Sample size behind the estimate (weights, series, resamples …).
      N: int
      /// Further numbers worth showing next to the verdict.
      Details: (string * string) list }

    /// An effect with just an estimate.
    static member Point(quantity, estimate, n) =
        { Quantity = quantity; Estimate = estimate; Lower = nan; Upper = nan; Level = nan; PValue = nan; N = n; Details = [] }

    /// An effect with a confidence interval.
    static member Interval(quantity, estimate, lower, upper, level, n) =
        { Quantity = quantity; Estimate = estimate; Lower = lower; Upper = upper; Level = level; PValue = nan; N = n; Details = [] }

    /// <summary>Why an effect cannot be judged, if it cannot: an estimate that is infinite, or an
    /// interval whose lower bound exceeds its upper bound or only one of whose bounds is a number.
    /// (A NaN estimate is the usual "not computed" and is judged inconclusive by every rule.)</summary>
    member e.Problem : string option =
        let shown (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
        if Double.IsInfinity e.Estimate then Some $"the estimate is {shown e.Estimate}, not a finite number"
        elif Double.IsNaN e.Lower <> Double.IsNaN e.Upper then Some $"the interval [{shown e.Lower}, {shown e.Upper}] has only one bound"
        elif e.Lower > e.Upper then Some $"the interval's lower bound {shown e.Lower} exceeds its upper bound {shown e.Upper}"
        elif not (Double.IsNaN e.Lower) && Double.IsNaN e.Estimate then
            Some $"the interval [{shown e.Lower}, {shown e.Upper}] has no estimate (NaN)"
        else None

/// A decision rule fixed before the data is seen: a sentence for people and a function of the effect.
type DecisionRule =
    { /// The rule in words, e.g. "holds if the lower 95% bound > 1; refuted if the upper bound < 1".
      Text: string
      /// The rule as code.
      Decide: Effect -> Verdict }

/// Ready-made decision rules. Every rule judges an effect that cannot be judged (<c>Effect.Problem</c>:
/// an infinite estimate, a reversed or half-open interval) inconclusive, never "holds".
module DecisionRule =

    /// The rule's verdict, or Inconclusive for an effect that cannot be judged.
    let private guarded (decide: Effect -> Verdict) (e: Effect) = if e.Problem.IsSome then Inconclusive else decide e

    /// Holds when the interval lies above the threshold, refuted when it lies below, else inconclusive.
    let intervalAbove (threshold: float) : DecisionRule =
        { Text = $"holds if the whole confidence interval is above {threshold:G4}; refuted if it is wholly below; otherwise inconclusive"
          Decide =
            guarded <| fun e ->
                if Double.IsNaN e.Lower || Double.IsNaN e.Upper then Inconclusive
                elif e.Lower > threshold then Holds
                elif e.Upper < threshold then Refuted
                else Inconclusive }

    /// Holds when the interval lies below the threshold, refuted when it lies above, else inconclusive.
    let intervalBelow (threshold: float) : DecisionRule =
        { Text = $"holds if the whole confidence interval is below {threshold:G4}; refuted if it is wholly above; otherwise inconclusive"
          Decide =
            guarded <| fun e ->
                if Double.IsNaN e.Lower || Double.IsNaN e.Upper then Inconclusive
                elif e.Upper < threshold then Holds
                elif e.Lower > threshold then Refuted
                else Inconclusive }

    /// Holds when the interval lies inside [low, high] (equivalence), refuted when it lies wholly outside.
    let intervalWithin (low: float) (high: float) : DecisionRule =
        { Text = $"holds if the whole confidence interval is inside [{low:G4}, {high:G4}]; refuted if it is wholly outside; otherwise inconclusive"
          Decide =
            guarded <| fun e ->
                if Double.IsNaN e.Lower || Double.IsNaN e.Upper then Inconclusive
                elif e.Lower >= low && e.Upper <= high then Holds
                elif e.Upper < low || e.Lower > high then Refuted
                else Inconclusive }

    /// A deterministic comparison of the estimate (for exact quantities such as counts).
    let estimateAtLeast (threshold: float) : DecisionRule =
        { Text = $"holds if the estimate is ≥ {threshold:G4}; refuted otherwise"
          Decide = guarded <| fun e -> if Double.IsNaN e.Estimate then Inconclusive elif e.Estimate >= threshold then Holds else Refuted }

    /// Holds when the estimate exceeds the threshold, refuted when it is at most the threshold.
    let estimateAbove (threshold: float) : DecisionRule =
        { Text = $"holds if the estimate is > {threshold:G4}; refuted otherwise"
          Decide = guarded <| fun e -> if Double.IsNaN e.Estimate then Inconclusive elif e.Estimate > threshold then Holds else Refuted }

/// A conclusion a study draws, written so it can be checked again on every run.
type Claim<'Evidence> =
    { /// Short stable identifier ("bh-at-least-holm").
      Id: string
      /// The conclusion in the study's words.
      Statement: string
      /// Where it comes from (notebook, paper and section).
      Source: string
      /// What evidence it needs (which traces or runs).
      Evidence: string
      /// Computes the effect and its uncertainty from the evidence.
      Compute: 'Evidence -> Effect
      /// The rule fixed before the data is seen.
      Rule: DecisionRule
      /// What the study expects (for tests: a claim expected to hold fails its test when refuted;
      /// None records the claim without an expectation).
      Expected: Verdict option }

/// The result of checking one claim.
type ClaimResult =
    { Id: string
      Statement: string
      Source: string
      Evidence: string
      Rule: string
      Effect: Effect
      Verdict: Verdict
      Expected: Verdict option
      /// Seeds, hyperparameters, trace hashes, versions: what produced the evidence.
      Provenance: (string * string) list }

    /// True when an expectation was recorded and the verdict differs from it.
    member r.Surprising = match r.Expected with Some e -> e <> r.Verdict | None -> false

/// Claims: evaluate, tabulate and test conclusions (see README for an example).
module Claims =

    /// Builds a claim.
    let create id statement source evidence (rule: DecisionRule) (expected: Verdict option) (compute: 'E -> Effect) : Claim<'E> =
        if String.IsNullOrWhiteSpace id then invalidArg (nameof id) "expected a non-empty claim id"
        { Id = id; Statement = statement; Source = source; Evidence = evidence; Compute = compute; Rule = rule; Expected = expected }

    /// Evaluates a claim on its evidence. An exception in the computation is not hidden: it propagates.
    /// An effect that cannot be judged (<c>Effect.Problem</c>) is inconclusive whatever the rule (even
    /// a claim's own), and the reason is added to its details.
    let evaluate (provenance: (string * string) list) (evidence: 'E) (claim: Claim<'E>) : ClaimResult =
        let computed = claim.Compute evidence
        let effect =
            match computed.Problem with
            | Some why -> { computed with Details = computed.Details @ [ "cannot be judged", why ] }
            | None -> computed
        { Id = claim.Id
          Statement = claim.Statement
          Source = claim.Source
          Evidence = claim.Evidence
          Rule = claim.Rule.Text
          Effect = effect
          Verdict = (if effect.Problem.IsSome then Inconclusive else claim.Rule.Decide effect)
          Expected = claim.Expected
          Provenance = provenance }

    let private fmt (x: float) =
        if Double.IsNaN x then "–"
        elif x = 0.0 then "0"
        elif abs x >= 1e4 || abs x < 1e-3 then x.ToString("0.###e+0", Globalization.CultureInfo.InvariantCulture)
        else x.ToString("0.####", Globalization.CultureInfo.InvariantCulture)

    /// The effect in one line: "estimate [lower, upper] (95%), p = …, n = …".
    let describe (e: Effect) : string =
        let ci = if Double.IsNaN e.Lower then "" else $" [{fmt e.Lower}, {fmt e.Upper}] ({fmt (100.0 * e.Level)}%%)"
        let p = if Double.IsNaN e.PValue then "" else $", p = {fmt e.PValue}"
        $"{e.Quantity} = {fmt e.Estimate}{ci}{p}, n = {e.N}"

    /// A report table of results with the numbers behind each verdict.
    let toTable (title: string) (csvName: string option) (results: ClaimResult list) : ReportTable =
        { Title = title
          Columns = [ "claim"; "statement"; "source"; "effect"; "decision rule"; "verdict"; "expected" ]
          Rows =
            [ for r in results ->
                [ r.Id; r.Statement; r.Source; describe r.Effect; r.Rule; string r.Verdict
                  (match r.Expected with Some e -> string e | None -> "–") ] ]
          CsvName = csvName }

    /// Report blocks: the table, then one verdict line per claim (good news when as expected).
    let toBlocks (title: string) (csvName: string option) (results: ClaimResult list) : ReportBlock list =
        [ yield Table(toTable title csvName results)
          for r in results ->
            let positive =
                match r.Expected with
                | Some e -> Some(e = r.Verdict)
                | None -> None
            Verdict($"{r.Id}: {r.Verdict}", positive, $" {r.Statement} — {describe r.Effect}") ]

    /// Checks a result against its expectation: Ok, or Error with a message that says what was
    /// expected, what came out and the numbers behind it.
    let check (r: ClaimResult) : Result<unit, string> =
        match r.Expected with
        | Some e when e <> r.Verdict ->
            Error $"claim '{r.Id}' ({r.Statement}) was expected to be {e} but is {r.Verdict}: {describe r.Effect}; rule: {r.Rule}"
        | _ -> Ok()
