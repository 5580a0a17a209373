namespace Research.Analysis.Studies.Initialisation

open System
open System.Globalization
open Research.Core.Capture
open Research.Analysis

/// What the claims of the initialisation study are evaluated on.
type InitialisationEvidence =
    { /// Every configuration measured at initialisation.
      Configurations: ConfigurationAnalysis list
      /// Every trained sigmoid net (each run at each learning rate).
      Training: TrainingAnalysis list
      /// The lecture's learning rate: the claims about training that carry an expected verdict use it.
      LectureLearningRate: float
      /// Seeds of the claims' bootstrap intervals, by name ("claims/…").
      Stream: string -> int64 }

/// <summary>
/// The conclusions of the two notebooks (seminar "improving convergence", part 1; lecture
/// "convergence and overfitting", parts 1–2), one small function per claim, each with a rule fixed
/// before the data is seen. Claims about the state at initialisation take a per-rerun quantity (fresh
/// weights and a fresh batch of MNIST, i.e. the notebook's cell run again) and decide on its median
/// over the B reruns with a percentile-bootstrap 95% interval; claims about training decide on a test
/// accuracy with its Wilson 95% interval. "First" and "last" layer of an activation ratio are h₁ (the
/// first hidden activation, input of the second Linear layer) and h_{L−1} (input of the last).
/// </summary>
module InitialisationClaims =

    let private inv (x: float) = x.ToString("G4", CultureInfo.InvariantCulture)
    let private resamples = 2000
    let private seminar = "seminar \"improving convergence\", part 1"
    let private lecture = "lecture \"convergence and overfitting\", parts 1-2"

    let private missing (quantity: string) (what: string) =
        { Effect.Point(quantity, nan, 0) with Details = [ "missing", what ] }

    let private configuration (id: string) (e: InitialisationEvidence) =
        e.Configurations |> List.tryFind (fun c -> c.Configuration.Id = id)

    /// max/min of positive values (NaN when a value is not positive and finite).
    let maxOverMin (xs: float[]) : float =
        if xs.Length = 0 || xs |> Array.exists (fun x -> not (x > 0.0 && Double.IsFinite x)) then nan
        else Array.max xs / Array.min xs

    /// The last value over the first.
    let lastOverFirst (xs: float[]) : float = if xs.Length = 0 then nan else xs.[xs.Length - 1] / xs.[0]

    /// The geometric mean of the factors between successive values: (last/first)^(1/(n − 1)).
    let perLayerFactor (xs: float[]) : float =
        if xs.Length < 2 then nan else lastOverFirst xs ** (1.0 / float (xs.Length - 1))

    /// The median over reruns of a quantity of each rerun, with a bootstrap 95% CI; the seminar's one
    /// batch and the 2.5–97.5% range of the reruns in the details.
    let private overReruns (claim: string) (id: string) (quantity: string) (f: NetworkStatistics -> float)
                           (e: InitialisationEvidence) =
        match configuration id e with
        | None -> missing quantity $"configuration {id} was not measured"
        | Some c ->
            let values = [| for s in c.Measurement.OverReruns -> f s |]
            let median (g: float[][]) = Quantile.median g.[0]
            let est, lo, hi = Bootstrap.groupInterval (e.Stream $"claims/{claim}") resamples 0.95 median [| values |]
            let range = InitialisationAnalysis.spread values
            let what = $"{quantity} ({c.Configuration.Id}), median over {values.Length} reruns"
            { Effect.Interval(what, est, lo, hi, 0.95, values.Length)
                with Details = [ "the seminar's one batch", inv (f c.Measurement.OneBatch)
                                 "2.5–97.5% of the reruns", $"[{inv range.Lower}, {inv range.Upper}]" ] }

    let private inputStd (l: LinearLayerStatistics) = l.InputStd
    let private gradientStd (l: LinearLayerStatistics) = l.InputGradientStd
    let private hiddenInputs = InitialisationAnalysis.hidden inputStd
    let private hiddenGradients = InitialisationAnalysis.hidden gradientStd

    let private firstOverLastWeightGradient (s: NetworkStatistics) =
        s.Layers.[0].WeightGradientMedianAbs / s.Layers.[s.Layers.Count - 1].WeightGradientMedianAbs

    let private create id statement source evidence rule (expect: string -> Verdict option -> Verdict option) expected
                       compute =
        Claims.create id statement source evidence rule (expect id expected) compute

    let private reruns (configurationId: string) (batch: int) =
        $"{configurationId} at initialisation, reruns on MNIST batches of {batch}"

    /// Xavier keeps the 33-layer tanh net's activations and input-gradients within a factor 2 across layers.
    let xavierTanhDeepWithin2 expect =
        let id = "xavier-tanh-deep-within-2"
        create id
            ("Xavier-uniform keeps the tanh activations and input-gradients of the 33-layer net within a factor 2 "
             + "across layers")
            $"{seminar}: \"use Xavier with tanh\"" (reruns "deep-tanh-xavier" 100)
            (DecisionRule.intervalBelow 2.0) expect (Some Holds)
            (overReruns id "deep-tanh-xavier" "max over h and ∂L/∂h of (max/min over layers of the std)"
                (fun s -> max (maxOverMin (hiddenInputs s)) (maxOverMin (hiddenGradients s))))

    let private reluStable (id: string) (configurationId: string) (scheme: string) expect =
        create id ($"{scheme} keeps the ReLU activations of the 33-layer net stable "
                   + "(last/first std ratio within [0.5, 2])")
            $"{seminar}: \"use He with ReLU\"" (reruns configurationId 100)
            (DecisionRule.intervalWithin 0.5 2.0) expect (Some Holds)
            (overReruns id configurationId "std(h_{L−1}) / std(h₁)" (hiddenInputs >> lastOverFirst))

    /// He (fan-in, the forward-preserving mode) keeps ReLU activations stable across the 33 layers.
    let heReluDeepStable expect = reluStable "he-relu-deep-stable" "deep-relu-he-fanin" "He (fan-in)" expect

    /// He with fan-out, the seminar's other He variant.
    let heFanOutReluDeepStable expect =
        reluStable "he-fanout-relu-deep-stable" "deep-relu-he-fanout" "He (fan-out)" expect

    /// Xavier with ReLU lets the activations of the 33-layer net shrink.
    let xavierReluDeepShrinks expect =
        let id = "xavier-relu-deep-shrinks"
        create id
            "Xavier-uniform with ReLU lets the activations of the 33-layer net shrink (last/first std ratio < 0.5)"
            $"{seminar}: Xavier is for tanh, not ReLU" (reruns "deep-relu-xavier" 100)
            (DecisionRule.intervalBelow 0.5) expect (Some Holds)
            (overReruns id "deep-relu-xavier" "std(h_{L−1}) / std(h₁)" (hiddenInputs >> lastOverFirst))

    /// N(0, 0.1) saturates the 500-wide tanh net: every hidden activation's std stays near 0.77.
    let normal01TanhSaturates expect =
        let id = "normal0.1-tanh-saturates"
        create id
            "N(0, 0.1) saturates the 500-wide tanh net: every hidden activation's std stays near 0.77 (within 15%)"
            $"{seminar}; init_variance.json's description (500·0.1² = 5 saturates tanh)"
            (reruns "wide-tanh-normal0.1" 100)
            (DecisionRule.intervalBelow 0.15) expect (Some Holds)
            (overReruns id "wide-tanh-normal0.1" "max over hidden layers of |std(h)/0.77 − 1|"
                (hiddenInputs >> Array.map (fun v -> abs (v / 0.77 - 1.0)) >> Array.fold max 0.0))

    /// ... while its input-gradients grow toward the input.
    let normal01TanhGradientsGrow expect =
        let id = "normal0.1-tanh-gradients-grow"
        create id "With N(0, 0.1) the 500-wide tanh net's input-gradients grow toward the input"
            $"{seminar}; init_variance.json's description" (reruns "wide-tanh-normal0.1" 100)
            (DecisionRule.intervalAbove 1.0) expect (Some Holds)
            (overReruns id "wide-tanh-normal0.1" "std(∂L/∂h₁) / std(∂L/∂h_{L−1})"
                (hiddenGradients >> fun g -> 1.0 / lastOverFirst g))

    /// N(0, 0.01) shrinks the activations by about ×0.22 per layer (0.01·√500 = 0.224 while tanh is linear).
    let normal001TanhShrinks expect =
        let id = "normal0.01-tanh-shrinks-0.22"
        create id
            ("N(0, 0.01) shrinks the 500-wide tanh net's activations by about ×0.22 per layer "
             + "(factor within [0.2, 0.25])")
            "init_variance.json's description; 0.01·√500 = 0.224 where tanh is linear"
            (reruns "wide-tanh-normal0.01" 100)
            (DecisionRule.intervalWithin 0.2 0.25) expect (Some Holds)
            (overReruns id "wide-tanh-normal0.01" "geometric mean over hidden layers of std(h_{l+1})/std(h_l)"
                (hiddenInputs >> perLayerFactor))

    /// The n = 3 sigmoid net with N(0, 0.01) is paralysed from the first step.
    let sigmoidDeepParalysed expect =
        let id = "sigmoid-n3-paralysed"
        create id
            ("The n = 3 sigmoid net with N(0, 0.01) is paralysed: the first layer's median |∂L/∂W| is below 1/10 of "
             + "the last layer's from the first step")
            $"{lecture}: box plots of |∂L/∂W| (\"network paralysis\")"
            "sigmoid-normal0.01 at initialisation (the first step), reruns on MNIST batches of 32"
            (DecisionRule.intervalBelow 0.1) expect (Some Holds)
            (overReruns id "sigmoid-normal0.01" "median |∂L/∂W₁| / median |∂L/∂W_L|" firstOverLastWeightGradient)

    /// Implied by the lecture: Xavier with the sigmoid gain lifts the first layer out of paralysis.
    let sigmoidXavierNotParalysed expect =
        let id = "sigmoid-n3-xavier-not-paralysed"
        create id
            ("With Xavier-normal and the sigmoid gain the first layer's median |∂L/∂W| is at least 1/10 of "
             + "the last layer's")
            $"{lecture} (implied: Xavier is its cure for the paralysis)" (reruns "sigmoid-xavier" 32)
            (DecisionRule.intervalAbove 0.1) expect None
            (overReruns id "sigmoid-xavier" "median |∂L/∂W₁| / median |∂L/∂W_L|" firstOverLastWeightGradient)

    /// Orthogonal initialisation keeps the activation norm across a linear stack.
    let orthogonalLinearKeepsNorm expect =
        let id = "orthogonal-linear-keeps-norm"
        create id "Orthogonal initialisation keeps the activation norm across a linear stack (ratio within [0.9, 1.1])"
            $"{lecture}; Saxe et al. 2014" "linear-orthogonal (784-256x10-10, no activation) at initialisation, reruns"
            (DecisionRule.intervalWithin 0.9 1.1) expect (Some Holds)
            (overReruns id "linear-orthogonal" "RMS(h_{L−1}) / RMS(h₁) (equal widths: the norm ratio)"
                (InitialisationAnalysis.hidden (fun l -> l.InputRms) >> lastOverFirst))

    let private lrText (lr: float) = lr.ToString("G3", CultureInfo.InvariantCulture)

    let private trainingRun (id: string) (lr: float) (e: InitialisationEvidence) =
        e.Training |> List.tryFind (fun t -> t.Result.Run.Id = id && t.Result.LearningRate = lr)

    /// Test accuracy after an epoch (None: the last) with its Wilson 95% interval.
    let private accuracy (epoch: int option) (runId: string) (lr: float) (e: InitialisationEvidence) =
        match trainingRun runId lr e with
        | None -> missing "test accuracy" $"run {runId} at lr {lrText lr} was not trained"
        | Some t ->
            let row =
                match epoch with
                | Some k when k <= t.Epochs.Length -> t.Epochs.[k - 1]
                | _ -> t.Epochs.[t.Epochs.Length - 1]
            let n = t.Result.TestExamples
            let k = int (Math.Round(row.TestAccuracy * float n))
            let lo, hi = Proportion.wilson 0.95 k n
            let what = $"test accuracy of {runId} at lr {lrText lr} after epoch {row.Epoch} (Wilson 95%% CI)"
            { Effect.Interval(what, row.TestAccuracy, lo, hi, 0.95, n)
                with Details = [ "correct", $"{k} of {n}"; "mean training loss of that epoch", inv row.LossMean
                                 "epochs trained", string t.Epochs.Length ] }

    /// A training claim at one learning rate: with its expected verdict at the lecture's, as a contrast
    /// (no expectation, id suffixed "-lr…") at the others.
    let private trainingClaim id statement rule epoch runId (lectureLr: float) expect expected (lr: float) =
        let id, expected =
            if lr = lectureLr then id, expect id expected
            else $"{id}-lr{lrText lr}", expect $"{id}-lr{lrText lr}" None
        Claims.create id $"{statement} (SGD, lr {lrText lr})" $"{lecture}: training curves and accuracy"
            $"{runId} trained at lr {lrText lr}" rule expected (accuracy epoch runId lr)

    /// The n = 3 net with N(0, 0.01) "does not learn at all": test accuracy after one epoch below 20%.
    let sigmoidDeepDoesNotLearn lectureLr expect lr =
        trainingClaim "sigmoid-n3-does-not-learn"
            "The n = 3 sigmoid net with N(0, 0.01) does not learn: test accuracy after epoch 1 below 20%"
            (DecisionRule.intervalBelow 0.2) (Some 1) "sigmoid-n3-normal0.01" lectureLr expect (Some Holds) lr

    /// The n = 2 net with N(0, 0.01) learns: test accuracy after one epoch above 80%.
    let sigmoidShallowLearns lectureLr expect lr =
        trainingClaim "sigmoid-n2-learns"
            "The n = 2 sigmoid net with N(0, 0.01) learns: test accuracy after epoch 1 above 80%"
            (DecisionRule.intervalAbove 0.8) (Some 1) "sigmoid-n2-normal0.01" lectureLr expect (Some Holds) lr

    /// With Xavier-normal and the sigmoid gain the n = 3 net learns: test accuracy after the last epoch above 80%.
    let sigmoidDeepXavierLearns lectureLr expect lr =
        trainingClaim "sigmoid-n3-xavier-learns"
            ("With Xavier-normal and the sigmoid gain the n = 3 net learns: test accuracy after the last epoch "
             + "trained above 80%")
            (DecisionRule.intervalAbove 0.8) None "sigmoid-n3-xavier" lectureLr expect (Some Holds) lr

    /// <summary>Every claim of the two notebooks. The training claims are made at each of
    /// <paramref name="learningRates"/>; the first is the lecture's, the rest are contrasts without
    /// expectations. <paramref name="expectations"/> overrides what a claim is expected to be, by id.</summary>
    let all (expectations: Map<string, Verdict option>) (learningRates: float list)
            : Claim<InitialisationEvidence> list =
        let expect id def = expectations |> Map.tryFind id |> Option.defaultValue def
        let lectureLr = List.head learningRates
        [ xavierTanhDeepWithin2 expect
          heReluDeepStable expect
          heFanOutReluDeepStable expect
          xavierReluDeepShrinks expect
          normal01TanhSaturates expect
          normal01TanhGradientsGrow expect
          normal001TanhShrinks expect
          sigmoidDeepParalysed expect
          sigmoidXavierNotParalysed expect
          orthogonalLinearKeepsNorm expect
          for lr in learningRates do
              sigmoidDeepDoesNotLearn lectureLr expect lr
              sigmoidShallowLearns lectureLr expect lr
              sigmoidDeepXavierLearns lectureLr expect lr ]
