namespace Research.Analysis.Studies.Optimizers

open System
open System.Globalization
open Research.Core.Studies.Optimizers
open Research.Analysis

/// <summary>What the claims of the optimizers study are evaluated on.</summary>
type OptimizersEvidence =
    { Functions: FunctionResult list
      /// The notes' −∇f on a grid over x²/20 + y², by central differences (None when that function was not run).
      NotesField: GradientField option
      Mnist: MnistRun list
      /// The MNIST comparison's epochs per optimizer.
      MnistEpochs: int
      WeightDecay: DecayRun list
      Range: (RangeTestRun * RangeSuggestion) option
      Schedules: ScheduleRun list
      /// Seeds of the claims' bootstrap intervals, by name ("claims/…").
      Stream: string -> int64 }

/// <summary>The conclusions of the seminar, the self-study notes and the lecture as claims with rules
/// fixed before the runs; one function per claim.</summary>
module OptimizersClaims =

    let private g4 (x: float) = x.ToString("G4", CultureInfo.InvariantCulture)

    let private missing quantity what =
        { Effect.Point(quantity, nan, 0) with Details = [ "missing", $"no {what} among the runs" ] }

    /// A point estimate with details.
    let private point quantity (estimate: float) n details =
        { Effect.Point(quantity, estimate, n) with Details = details }

    /// The largest of per-run values, each in the details.
    let private largest (quantity: string) (what: string) (values: (string * float) list) =
        if values.IsEmpty then missing quantity what
        else point quantity (values |> List.map snd |> List.max) values.Length [ for k, v in values -> k, g4 v ]

    /// Holds when the estimate is at most the threshold, refuted above it.
    let private estimateAtMost (threshold: float) : DecisionRule =
        { Text = $"holds if the estimate is ≤ {g4 threshold}; refuted otherwise"
          Decide =
            fun e ->
                if Double.IsNaN e.Estimate then Inconclusive
                elif e.Estimate <= threshold then Holds
                else Refuted }

    let private functionOf (kind: TestFunctionKind) (e: OptimizersEvidence) =
        e.Functions |> List.tryFind (fun f -> f.Kind = kind)

    let private runOf (group: PathGroup) (rule: UpdateRule) (gradient: GradientSource) (f: FunctionResult) =
        f.Runs |> List.tryFind (fun r -> r.Group = group && r.Recipe.Rule = rule && r.Path.Gradient = gradient)

    let private autograd group rule f = runOf group rule GradientSource.Autograd f

    let private notesRun rule e =
        functionOf TestFunctionKind.ElongatedQuadratic e |> Option.bind (autograd PathGroup.Notes rule)

    let private notes = "the self-study notes (Deep Learning from Scratch, ch. 6)"
    let private seminar = "the optimization-methods seminar"
    let private lecture = "the lecture, parts 5–6"

    /// "−∇f points more than 10° away from the minimum at most grid points" (x²/20 + y², central differences).
    let gradientMissesMinimum : Claim<OptimizersEvidence> =
        Claims.create "gradient-misses-minimum"
            "On x²/20 + y², −∇f points more than 10° away from the minimum (0, 0) at most grid points"
            $"{notes}: the quiver plot of −∇f"
            "the notes' central-difference gradient on a 21 × 21 grid over [−10, 10] × [−5, 5]"
            (DecisionRule.estimateAbove 0.5) (Some Holds)
            (fun e ->
                match e.NotesField with
                | None -> missing "fraction of grid points" "x²/20 + y²"
                | Some field ->
                    let away, total = GradientDirection.countAway 10.0 field (0.0, 0.0)
                    point "fraction of grid points where the angle exceeds 10°" (float away / float total) total
                        [ "points more than 10° away", string away; "points with a direction", string total ])

    /// "SGD (lr 0.95) zig-zags: its y-step changes sign at ≥ 25 of 30 steps".
    let sgdZigzags : Claim<OptimizersEvidence> =
        Claims.create "sgd-zigzags"
            "SGD (lr 0.95) zig-zags on x²/20 + y²: its y-step changes sign at 25 or more of its first 30 steps"
            $"{notes}: the SGD trajectory" "the notes' SGD run, first 30 steps"
            (DecisionRule.estimateAtLeast 25.0) (Some Holds)
            (fun e ->
                match notesRun UpdateRule.Sgd e with
                | None -> missing "sign changes" "notes SGD run"
                | Some r ->
                    let p = Paths.prefix 30 r.Path
                    point "sign changes of the y-step in 30 steps (at most 29)" (float (Paths.signChanges p.Y)) p.Steps
                        [ "x-step sign changes", string (Paths.signChanges p.X) ])

    /// The distance of each point of a run to (0, 0), the minimum of the notes' function.
    let private originDistance (r: PathRun) = Array.map2 (fun x y -> sqrt (x * x + y * y)) r.Path.X r.Path.Y

    let private stepsBelow (radius: float) (r: PathRun) =
        originDistance r |> Array.tryFindIndex (fun v -> v < radius)

    /// How often a notes run's distance to (0, 0) grew, with details of the run.
    let private growth (rule: UpdateRule) (what: string) (details: PathRun -> float[] -> (string * string) list) e =
        match notesRun rule e with
        | None -> missing "distance increases" what
        | Some r ->
            let d = originDistance r
            point "steps at which the distance to (0, 0) grew" (float (Paths.increases d)) r.Path.Steps (details r d)

    /// "Momentum reaches ‖x‖ &lt; 0.1 in fewer steps than SGD".
    let momentumArrivesSooner : Claim<OptimizersEvidence> =
        Claims.create "momentum-arrives-sooner"
            "Momentum (lr 0.1, μ 0.95) reaches ‖x‖ < 0.1 in fewer steps than SGD (lr 0.95)"
            $"{notes}: Momentum 'swings less and arrives sooner'" "the notes' SGD and Momentum runs (1,000 steps each)"
            (DecisionRule.estimateAbove 0.0) None
            (fun e ->
                match notesRun UpdateRule.Sgd e, notesRun UpdateRule.HeavyBall e with
                | Some sgd, Some momentum ->
                    let steps (r: PathRun) =
                        stepsBelow 0.1 r |> Option.map float |> Option.defaultValue (float r.Path.PlannedSteps + 1.0)
                    let s, m = steps sgd, steps momentum
                    point "steps(SGD) − steps(Momentum) to ‖x‖ < 0.1" (s - m) 2
                        [ "SGD steps", g4 s; "Momentum steps", g4 m; "never reached", "counted as planned steps + 1" ]
                | _ -> missing "step difference" "notes SGD and Momentum runs")

    /// "Momentum keeps oscillating around (0, 0): its distance is not monotone over 1,000 steps".
    let momentumKeepsOscillating : Claim<OptimizersEvidence> =
        Claims.create "momentum-keeps-oscillating"
            "Momentum keeps oscillating around (0, 0): its distance to (0, 0) grows again at some step of 1,000"
            $"{notes}: Momentum 'keeps oscillating'" "the notes' Momentum run (1,000 steps)"
            (DecisionRule.estimateAtLeast 1.0) None
            (growth UpdateRule.HeavyBall "notes Momentum run" (fun r _ ->
                [ "x-step sign changes", string (Paths.signChanges r.Path.X) ]))

    /// "AdaGrad approaches (0, 0) without oscillation (monotone distance over 10,000 steps)".
    let adagradNoOscillation : Claim<OptimizersEvidence> =
        Claims.create "adagrad-no-oscillation"
            "AdaGrad (lr 1.5, ε 1e-7) approaches (0, 0) without oscillation: its distance never grows in 10,000 steps"
            $"{notes}: AdaGrad 'converges without oscillation because its step shrinks'"
            "the notes' AdaGrad run (10,000 steps)"
            (estimateAtMost 0.0) None
            (growth UpdateRule.Adagrad "notes AdaGrad run" (fun r d ->
                [ "final distance", g4 d.[d.Length - 1]
                  "sign changes x, y", $"{Paths.signChanges r.Path.X}, {Paths.signChanges r.Path.Y}" ]))

    /// "On the saddle, Momentum overshoots more than plain GD".
    let momentumOvershootsSaddle : Claim<OptimizersEvidence> =
        Claims.create "momentum-overshoots-saddle"
            "On the saddle x²/10 − y²/10, Momentum overshoots the stationary point along x more than plain GD"
            $"{lecture}; {seminar}'s saddle"
            "the seminar's GD and Momentum (γ 0.9) runs on the saddle, lr 0.1, from (8, 0.1)"
            (DecisionRule.estimateAbove 0.0) None
            (fun e ->
                let f = functionOf TestFunctionKind.SeminarSaddle e
                let run rule = f |> Option.bind (autograd PathGroup.Seminar rule)
                match run UpdateRule.Sgd, run UpdateRule.HeavyBall with
                | Some gd, Some momentum ->
                    let og, om = Paths.overshoot 0.0 gd.Path.X, Paths.overshoot 0.0 momentum.Path.X
                    point "overshoot past x = 0: Momentum − GD" (om - og) 2
                        [ "GD overshoot", g4 og; "Momentum overshoot", g4 om ]
                | _ -> missing "overshoot difference" "seminar GD and Momentum runs on the saddle")

    /// "The notes' central differences give the same paths as autograd" (the study's side-by-side check).
    let centralDifferenceMatchesAutograd : Claim<OptimizersEvidence> =
        Claims.create "central-difference-matches-autograd"
            "The notes' central-difference gradient (h = 1e-4) gives the same paths as autograd (relative gap ≤ 1e-6)"
            $"{notes}: numerical_gradient in place of backpropagation"
            "every run on x²/20 + y² with both gradient sources"
            (estimateAtMost 1e-6) None
            (fun e ->
                match functionOf TestFunctionKind.ElongatedQuadratic e with
                | None -> missing "gap" "x²/20 + y² run"
                | Some f ->
                    let repeats = f.Runs |> List.filter (fun r -> r.Path.Gradient = GradientSource.CentralDifference)
                    largest "largest relative coordinate gap, central differences vs autograd" "central-difference run"
                        [ for cd in repeats do
                            match autograd cd.Group cd.Recipe.Rule f with
                            | Some ad when ad.Recipe.Label = cd.Recipe.Label ->
                                yield cd.Recipe.Label, Paths.relativeGap ad.Path cd.Path
                            | _ -> () ])

    /// "The seminar's Momentum is PyTorch's SGD momentum at a constant rate" (a finding about the variants).
    let heavyBallEqualsSgdMomentum : Claim<OptimizersEvidence> =
        Claims.create "heavy-ball-equals-sgd-momentum"
            "At a constant rate the seminar's Momentum (heavy ball) and PyTorch's SGD(momentum=0.9) follow one path \
             (relative gap ≤ 1e-10)"
            $"{seminar}: hand-written Momentum vs torch.optim.SGD"
            "seminar Momentum and PyTorch SGD momentum on x² + y² and x²/20 + y²"
            (estimateAtMost 1e-10) None
            (fun e ->
                largest "largest relative coordinate gap" "x² + y² or x²/20 + y² run"
                    [ for kind in [ TestFunctionKind.Sphere; TestFunctionKind.ElongatedQuadratic ] do
                        match functionOf kind e with
                        | Some f ->
                            match autograd PathGroup.Seminar UpdateRule.HeavyBall f,
                                  autograd PathGroup.PyTorch UpdateRule.Momentum f with
                            | Some a, Some b -> yield f.Function.Key, Paths.relativeGap a.Path b.Path
                            | _ -> ()
                        | None -> () ])

    /// "The seminar's Adam stands still after a few steps" (a consequence of storing the bias correction).
    let seminarAdamStalls : Claim<OptimizersEvidence> =
        Claims.create "seminar-adam-stalls"
            "The seminar's Adam (bias correction stored in place) travels less than 1e-6 in total after its 10th step, \
             on every function"
            $"{seminar}: hand-written Adam" "the seminar's Adam runs on every test function"
            (estimateAtMost 1e-6) None
            (fun e ->
                largest "largest distance travelled after step 10" "seminar Adam run"
                    [ for f in e.Functions do
                        match autograd PathGroup.Seminar UpdateRule.SeminarAdam f with
                        | Some r -> yield f.Function.Key, Paths.travelAfter 10 r.Path
                        | None -> () ])

    // ---- MNIST ---------------------------------------------------------------------------------

    let private resamples = 2000

    /// One optimizer's per-epoch loss curves on one network and protocol, seed by seed.
    let private curves (e: OptimizersEvidence) network protocol (optimizer: string) =
        MnistMeasures.select network protocol optimizer e.Mnist
        |> List.map (MnistMeasures.epochLoss e.MnistEpochs)
        |> Array.ofList

    let private optimizers (e: OptimizersEvidence) =
        e.Mnist |> List.map (fun r -> r.Optimizer) |> List.distinct

    /// A statistic of the seeds with its percentile bootstrap interval, resampling seeds jointly (paired
    /// design): the statistic gets the resampled seed indices.
    let private overSeeds (e: OptimizersEvidence) (name: string) (seeds: int) (statistic: int[] -> float) =
        let indices = Array.init seeds float
        let ofIndices (g: float[][]) = statistic (g.[0] |> Array.map int)
        Bootstrap.groupInterval (e.Stream $"claims/{name}") resamples 0.95 ofIndices [| indices |]

    let private protocolText (p: TrainingProtocol) =
        match p with
        | TrainingProtocol.Fresh -> "fresh model per optimizer"
        | _ -> "the seminar's sequential protocol"

    /// The spread of an optimizer over the given seed indices.
    let private spreadOf (e: OptimizersEvidence) network protocol (seeds: int[]) (optimizer: string) =
        let c = curves e network protocol optimizer
        if c.Length = 0 || seeds |> Array.exists (fun s -> s >= c.Length) then nan
        else MnistMeasures.pooledSpread (seeds |> Array.map (fun s -> c.[s]))

    let private seedCount (e: OptimizersEvidence) network protocol =
        match optimizers e |> List.map (fun o -> (curves e network protocol o).Length) with
        | [] -> 0
        | counts -> List.min counts

    /// Every optimizer's spread over all seeds, for the details.
    let private spreads (e: OptimizersEvidence) network protocol (n: int) =
        [ for o in optimizers e -> $"{o} spread", g4 (spreadOf e network protocol (Array.init n id) o) ]

    /// "Adam's per-epoch loss is the most stable on the MLP".
    let mlpAdamMostStable (protocol: TrainingProtocol) : Claim<OptimizersEvidence> =
        Claims.create "mlp-adam-most-stable"
            "On the MLP, Adam's per-epoch training loss is the most stable: the smallest spread over seeds and epochs"
            $"{seminar}: 'Adam is the most stable'" $"MNIST MLP runs, {protocolText protocol}"
            (DecisionRule.intervalAbove 0.0) None
            (fun e ->
                let spread s = spreadOf e SeminarNetwork.Mlp protocol s
                let others = optimizers e |> List.filter (fun o -> o <> "Adam")
                let stat (s: int[]) = (others |> List.map (spread s) |> List.min) - spread s "Adam"
                let n = seedCount e SeminarNetwork.Mlp protocol
                let est, lo, hi = overSeeds e $"mlp-adam-most-stable/{protocol}" n stat
                { Effect.Interval("min over others of the spread − Adam's spread (pooled SD of the epoch loss)",
                                  est, lo, hi, 0.95, n)
                    with Details = spreads e SeminarNetwork.Mlp protocol n })

    let private finalLoss (e: OptimizersEvidence) network protocol optimizer (seed: int) =
        let c = curves e network protocol optimizer
        if seed < c.Length && c.[seed].Length > 0 then c.[seed].[c.[seed].Length - 1] else nan

    /// "Adagrad reaches a lower final loss than Adam on the MLP".
    let mlpAdagradLowerLoss (protocol: TrainingProtocol) : Claim<OptimizersEvidence> =
        Claims.create "mlp-adagrad-lower-loss" "On the MLP, Adagrad reaches a lower final training loss than Adam"
            $"{seminar}: 'Adagrad and SGD reach lower values'"
            $"MNIST MLP runs, {protocolText protocol}: last epoch's mean training loss"
            (DecisionRule.intervalAbove 0.0) None
            (fun e ->
                let n = seedCount e SeminarNetwork.Mlp protocol
                let final o s = finalLoss e SeminarNetwork.Mlp protocol o s
                let diff s = final "Adam" s - final "Adagrad" s
                let est, lo, hi = overSeeds e $"mlp-adagrad-lower-loss/{protocol}" n (Array.averageBy diff)
                { Effect.Interval("final loss Adam − Adagrad, mean over seeds", est, lo, hi, 0.95, n)
                    with Details = [ for s in 0 .. n - 1 -> $"seed {s + 1}", g4 (diff s) ] })

    /// "Adadelta's loss stops decreasing on the CNN".
    let cnnAdadeltaStalls (protocol: TrainingProtocol) : Claim<OptimizersEvidence> =
        Claims.create "cnn-adadelta-stalls"
            "On the CNN, Adadelta's loss stops decreasing: it falls by less than 1% from the third to the last quarter \
             of training"
            $"{seminar}: 'Adadelta stops converging'" $"MNIST CNN runs, {protocolText protocol}: loss per step"
            (DecisionRule.intervalBelow 0.01) None
            (fun e ->
                let runs = MnistMeasures.select SeminarNetwork.Cnn protocol "Adadelta" e.Mnist |> Array.ofList
                let late = runs |> Array.map (fun r -> MnistMeasures.lateDecrease r.Curves.StepLoss)
                let mean (s: int[]) = s |> Array.averageBy (fun k -> late.[k])
                let est, lo, hi = overSeeds e $"cnn-adadelta-stalls/{protocol}" runs.Length mean
                { Effect.Interval("relative decrease of the loss, last vs third quarter of the steps",
                                  est, lo, hi, 0.95, runs.Length)
                    with Details = [ for s, v in Array.indexed late -> $"seed {s + 1}", g4 v ] })

    /// "SGD is the least stable on the CNN".
    let cnnSgdLeastStable (protocol: TrainingProtocol) : Claim<OptimizersEvidence> =
        Claims.create "cnn-sgd-least-stable"
            "On the CNN, SGD(0.01) is the least stable: the largest spread of the per-epoch loss over seeds and epochs"
            $"{seminar}: 'SGD is unstable'" $"MNIST CNN runs, {protocolText protocol}"
            (DecisionRule.intervalAbove 0.0) None
            (fun e ->
                let sgd = optimizers e |> List.tryFind (fun o -> o.StartsWith "SGD") |> Option.defaultValue "SGD(0.01)"
                let spread s = spreadOf e SeminarNetwork.Cnn protocol s
                let others = optimizers e |> List.filter (fun o -> o <> sgd)
                let stat (s: int[]) = spread s sgd - (others |> List.map (spread s) |> List.max)
                let n = seedCount e SeminarNetwork.Cnn protocol
                let est, lo, hi = overSeeds e $"cnn-sgd-least-stable/{protocol}" n stat
                { Effect.Interval("SGD's spread − max over others (pooled SD of the epoch loss)", est, lo, hi, 0.95, n)
                    with Details = spreads e SeminarNetwork.Cnn protocol n })

    /// The four MNIST claims of a protocol.
    let mnistClaims (protocol: TrainingProtocol) : Claim<OptimizersEvidence> list =
        [ mlpAdamMostStable protocol; mlpAdagradLowerLoss protocol; cnnAdadeltaStalls protocol
          cnnSgdLeastStable protocol ]

    /// The four rankings behind the MNIST claims: (name, the quantity of an optimizer under a protocol).
    let private rankings (e: OptimizersEvidence) : (string * (TrainingProtocol -> string -> float)) list =
        let all n p = Array.init (seedCount e n p) id
        let meanOver (network: SeminarNetwork) (value: MnistRun -> float) (p: TrainingProtocol) (o: string) =
            match MnistMeasures.select network p o e.Mnist |> List.map value |> List.filter Double.IsFinite with
            | [] -> nan
            | v -> List.average v
        let last (r: MnistRun) = let l = r.Curves.EpochTrainLoss in if l.Length = 0 then nan else l.[l.Length - 1]
        let late (r: MnistRun) = MnistMeasures.lateDecrease r.Curves.StepLoss
        [ "MLP spread of the epoch loss", (fun p o -> spreadOf e SeminarNetwork.Mlp p (all SeminarNetwork.Mlp p) o)
          "MLP final training loss", meanOver SeminarNetwork.Mlp last
          "CNN late decrease of the loss", meanOver SeminarNetwork.Cnn late
          "CNN spread of the epoch loss", (fun p o -> spreadOf e SeminarNetwork.Cnn p (all SeminarNetwork.Cnn p) o) ]

    /// "The notebook's sequential protocol changes at least one of these rankings".
    let sequentialChangesRankings : Claim<OptimizersEvidence> =
        Claims.create "sequential-changes-rankings"
            "The seminar's sequential protocol (one model, the optimizers in turn) changes at least one of the four \
             rankings behind the MNIST claims (MLP stability and final loss, CNN late decrease and stability)"
            $"{seminar}: its MNIST comparison trained one model with all four optimizers in turn"
            "MNIST runs of both protocols; each ranking orders the optimizers by the mean over seeds"
            (DecisionRule.estimateAtLeast 1.0) None
            (fun e ->
                let order (value: string -> float) =
                    optimizers e |> List.sortBy (fun o -> let v = value o in if Double.IsNaN v then infinity else v)
                let text (value: string -> float) =
                    String.Join(" < ", [ for o in order value -> $"{o} ({g4 (value o)})" ])
                let compared =
                    [ for name, value in rankings e ->
                        let fresh, sequential = value TrainingProtocol.Fresh, value TrainingProtocol.Sequential
                        name, order fresh <> order sequential, $"fresh: {text fresh}; sequential: {text sequential}" ]
                let changed = compared |> List.filter (fun (_, c, _) -> c) |> List.length
                if e.Mnist.IsEmpty then missing "rankings" "MNIST run"
                else
                    point "rankings that differ between the protocols" (float changed) compared.Length
                        [ for name, c, t in compared -> (if c then $"{name} (changed)" else $"{name} (unchanged)"), t ])

    // ---- weight decay, range test, CyclicLR ----------------------------------------------------

    let private decayPath (optimizer: string) (form: DecayForm) (e: OptimizersEvidence) =
        e.WeightDecay
        |> List.tryFind (fun r -> r.Optimizer = optimizer && r.Form = form)
        |> Option.map (fun r -> r.Path)

    /// "For SGD, L2 in the loss equals weight_decay".
    let sgdL2EqualsWeightDecay : Claim<OptimizersEvidence> =
        Claims.create "sgd-l2-equals-weight-decay"
            "For SGD, (λ/2)‖p‖² in the loss and weight_decay = λ give identical trajectories (to 1e-12)"
            $"{lecture}: L2 vs weight decay" "SGD runs on the fixed problem (x − 3)²/20 + (y − 2)², λ = 0.1"
            (estimateAtMost 1e-12) (Some Holds)
            (fun e ->
                match decayPath "SGD" DecayForm.L2InLoss e, decayPath "SGD" DecayForm.WeightDecay e with
                | Some a, Some b -> Effect.Point("largest relative coordinate gap", Paths.relativeGap a b, a.Steps)
                | _ -> missing "gap" "SGD weight-decay run")

    /// "For Adam, weight_decay (L2) differs from AdamW's decoupled decay".
    let adamL2DiffersFromAdamW : Claim<OptimizersEvidence> =
        Claims.create "adam-l2-differs-from-adamw"
            "For Adam, weight_decay (an L2 term in the gradient) is not AdamW's decoupled decay: their end points \
             differ by more than 1e-3"
            $"{lecture}: 'weight_decay in Adam is an L2 coefficient; decoupled decay is AdamW'"
            "Adam and AdamW runs on the fixed problem, λ = 0.1"
            (DecisionRule.estimateAbove 1e-3) (Some Holds)
            (fun e ->
                match decayPath "Adam" DecayForm.WeightDecay e, decayPath "AdamW" DecayForm.Decoupled e with
                | Some a, Some b ->
                    let n = min a.X.Length b.X.Length - 1
                    let d = sqrt ((a.X.[n] - b.X.[n]) ** 2.0 + (a.Y.[n] - b.Y.[n]) ** 2.0)
                    point "distance between the end points" d n
                        [ "Adam end", $"({g4 a.X.[n]}, {g4 a.Y.[n]})"; "AdamW end", $"({g4 b.X.[n]}, {g4 b.Y.[n]})" ]
                | _ -> missing "distance" "Adam or AdamW weight-decay run")

    /// "The range test's suggested max_lr lies within a factor 3 of 1e-2".
    let rangeTestMaxLr : Claim<OptimizersEvidence> =
        Claims.create "range-test-max-lr-near-1e-2"
            "The LR range test's suggested max_lr (argmin of the smoothed loss / 10) lies within a factor 3 of 1e-2"
            $"{lecture}: the range test's bounds read off the plot"
            "the range test (SGD, 1e-8 → 10 over two epochs, smoothing 0.05)"
            { Text = "holds if 1e-2/3 ≤ max_lr ≤ 3·1e-2; refuted otherwise"
              Decide =
                fun ef ->
                    if Double.IsNaN ef.Estimate then Inconclusive
                    elif ef.Estimate >= 1e-2 / 3.0 && ef.Estimate <= 3e-2 then Holds
                    else Refuted }
            None
            (fun e ->
                match e.Range with
                | None -> missing "max_lr" "range test"
                | Some(run, s) ->
                    point "suggested max_lr (lecture's rule)" s.LectureMax run.Loss.Length
                        [ "argmin lr", g4 s.ArgminLr; "min_lr (onset/6)", g4 s.LectureMin
                          "steepest-descent max_lr", g4 s.RobustMax; "diverged", string run.Diverged ])

    /// "With CyclicLR the last model is not necessarily the best".
    let cyclicLastNotBest : Claim<OptimizersEvidence> =
        Claims.create "cyclic-last-not-best"
            "With CyclicLR the last epoch's model is not the best (lowest test loss) in at least one seed"
            $"{lecture}: 'the last model is not necessarily the best'"
            "CyclicLR runs with PyTorch's default momentum cycling, one per seed"
            (DecisionRule.estimateAtLeast 1.0) None
            (fun e ->
                let runs = e.Schedules |> List.filter (fun r -> r.Kind = ScheduleKind.CyclicLR)
                let epochs (r: ScheduleRun) = r.Curves.EpochTrainLoss.Length
                let notLast (r: ScheduleRun) = r.BestEpoch.HasValue && r.BestEpoch.Value <> epochs r - 1
                let best (r: ScheduleRun) = if r.BestEpoch.HasValue then string (r.BestEpoch.Value + 1) else "none"
                if runs.IsEmpty then missing "count" "CyclicLR run"
                else
                    let count = (runs |> List.filter notLast).Length
                    point "seeds whose best epoch is not the last" (float count) runs.Length
                        [ for i, r in List.indexed runs -> $"seed {i + 1}", $"best epoch {best r} of {epochs r}" ])

    /// Every claim, in report order; <paramref name="expectations"/> overrides what each is expected to be (by id).
    let all (expectations: Map<string, Verdict option>) : Claim<OptimizersEvidence> list =
        [ gradientMissesMinimum; sgdZigzags; momentumArrivesSooner; momentumKeepsOscillating; adagradNoOscillation
          momentumOvershootsSaddle; centralDifferenceMatchesAutograd; heavyBallEqualsSgdMomentum; seminarAdamStalls ]
        @ mnistClaims TrainingProtocol.Fresh
        @ [ sequentialChangesRankings; sgdL2EqualsWeightDecay; adamL2DiffersFromAdamW; rangeTestMaxLr
            cyclicLastNotBest ]
        |> List.map (fun c -> match expectations.TryFind c.Id with Some e -> { c with Expected = e } | None -> c)
