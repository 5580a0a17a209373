/// The optimizers study's Core half: each notebook variant's update rule against a step computed by
/// hand, the 2-D harness against closed-form gradients, the notes' central differences against autograd,
/// the minima search, the MNIST protocols, schedules and the range test, and bad input.
module Research.Tests.OptimizersStudyTests

open System
open Expecto
open TorchSharp
open TorchSharp.Modules
open Research.Core.Optim
open Research.Core.Runtime
open Research.Core.Training
open Research.Core.Studies.Optimizers
open Research.Tests

let private close = { absolute = 0.0; relative = 1e-15 }

/// A float64 parameter holding the values.
let private parameter (values: float[]) =
    TorchRuntime.EnsureNative()
    new Parameter(torch.tensor(values, dtype = torch.float64))

let private values (p: Parameter) = p.detach().data<float>().ToArray()

/// Sets the gradient and takes one step.
let private stepWith (opt: IOptimizer) (p: Parameter) (grad: float[]) =
    p.grad <- torch.tensor(grad, dtype = torch.float64)
    opt.Step()

let private expectValues (actual: float[]) (expected: float[]) (what: string) =
    Expect.equal actual.Length expected.Length $"{what}: length"
    Array.iteri2 (fun i a e -> Expect.floatClose close a e $"{what}[{i}]") actual expected

[<Tests>]
let variants =
    testList "Studies.Optimizers.variants (a step computed by hand)" [
        testCase "heavy-ball Momentum: v ← γv + lr·g, p ← p − v" <| fun () ->
            use p = parameter [| 1.0; -2.0 |]
            use opt = new HeavyBallMomentum([ p ], 0.1, 0.9)
            stepWith opt p [| 2.0; -4.0 |]
            expectValues (values p) [| 1.0 - 0.2; -2.0 + 0.4 |] "after step 1 (v = lr·g)"
            stepWith opt p [| 1.0; 1.0 |]
            // v2 = 0.9·(0.2, −0.4) + 0.1·(1, 1) = (0.28, −0.26)
            expectValues (values p) [| 0.8 - (0.9 * 0.2 + 0.1); -1.6 - (0.9 * -0.4 + 0.1) |] "after step 2"

        testCase "look-ahead NAG takes the gradient at p − γv and leaves p exact" <| fun () ->
            use p = parameter [| 1.0; -2.0 |]
            // f = x² + 3y², ∇f = (2x, 6y)
            let loss () = p.[0] * p.[0] + 3.0 * p.[1] * p.[1]
            use opt = new LookAheadNesterov([ p ], Func<_>(loss), 0.1, 0.9)
            opt.Step()
            expectValues (values p) [| 1.0 - 0.2; -2.0 + 1.2 |] "step 1: v = 0, so the gradient at p"
            opt.Step()
            // look-ahead (0.8 − 0.18, −0.8 + 1.08) = (0.62, 0.28); g = (1.24, 1.68); v = (0.304, −0.912)
            let v = [| 0.9 * 0.2 + 0.1 * (2.0 * (0.8 - 0.9 * 0.2)); 0.9 * -1.2 + 0.1 * (6.0 * (-0.8 + 0.9 * 1.2)) |]
            Expect.floatClose { absolute = 0.0; relative = 1e-14 } (values p).[0] (0.8 - v.[0]) "x after step 2"
            Expect.floatClose { absolute = 0.0; relative = 1e-13 } (values p).[1] (-0.8 - v.[1]) "y after step 2"

        testCase "seminar Adagrad: ε inside the root, so a tiny first gradient moves far less than lr" <| fun () ->
            use p = parameter [| 0.0; 0.0; 0.0 |]
            use opt = new SeminarAdagrad([ p ], 0.1, 1e-8)
            stepWith opt p [| 3.0; -4.0; 1e-6 |]
            let first =
                [| -0.1 * 3.0 / sqrt (9.0 + 1e-8); 0.1 * 4.0 / sqrt (16.0 + 1e-8); -0.1 * 1e-6 / sqrt (1e-12 + 1e-8) |]
            expectValues (values p) first "after step 1"
            Expect.isLessThan (abs (values p).[2]) 0.0011 "the 1e-6 gradient moves ≈ lr/100, not lr (PyTorch: √G + ε)"
            use q = parameter [| 0.0; 0.0; 0.0 |]
            use torchAdagrad = new Adagrad([ q ], 0.1)
            stepWith torchAdagrad q [| 3.0; -4.0; 1e-6 |]
            Expect.isGreaterThan (abs (values q).[2]) 0.099 "PyTorch's Adagrad moves that coordinate by ≈ lr"
            stepWith opt p [| 1.0; 0.0; 0.0 |]
            Expect.floatClose close (values p).[0] (first.[0] - 0.1 * 1.0 / sqrt (10.0 + 1e-8)) "step 2 with G = 10"

        testCase "seminar Adadelta: γ = 0.1 weights the past and lr is ignored" <| fun () ->
            let run (lr: float) =
                use p = parameter [| 1.0; -1.0 |]
                use opt = new SeminarAdadelta([ p ], lr, 0.1, 1e-6)
                stepWith opt p [| 2.0; -1.0 |]
                let s1 = values p
                stepWith opt p [| 1.0; 3.0 |]
                s1, values p
            let s1, s2 = run 0.1
            let g1, g2 = [| 2.0; -1.0 |], [| 1.0; 3.0 |]
            let eg1 = g1 |> Array.map (fun g -> 0.9 * g * g)
            let d1 = Array.map2 (fun e g -> -sqrt (0.0 + 1e-6) / sqrt (e + 1e-6) * g) eg1 g1
            let ed1 = d1 |> Array.map (fun d -> 0.9 * d * d)
            let eg2 = Array.map2 (fun e g -> 0.1 * e + 0.9 * g * g) eg1 g2
            let d2 = Array.map3 (fun ed e g -> -sqrt (ed + 1e-6) / sqrt (e + 1e-6) * g) ed1 eg2 g2
            expectValues s1 [| 1.0 + d1.[0]; -1.0 + d1.[1] |] "after step 1"
            Expect.floatClose { absolute = 0.0; relative = 1e-14 } s2.[0] (1.0 + d1.[0] + d2.[0]) "x after step 2"
            Expect.floatClose { absolute = 0.0; relative = 1e-14 } s2.[1] (-1.0 + d1.[1] + d2.[1]) "y after step 2"
            let other1, other2 = run 5.0
            Expect.equal (other1, other2) (s1, s2) "the same path for lr = 5 (lr is not used)"

        testCase "seminar Adam stores the bias-corrected moments, so v inflates and the step collapses" <| fun () ->
            use p = parameter [| 0.0; 0.0 |]
            use opt = new SeminarAdam([ p ], 0.1)
            stepWith opt p [| 2.0; -1.0 |]
            expectValues (values p) [| -0.1 * 2.0 / (2.0 + 1e-8); 0.1 * 1.0 / (1.0 + 1e-8) |] "step 1: m = g, v = g²"
            let before = values p
            stepWith opt p [| 2.0; -1.0 |]
            // m2 = (0.9·g + 0.1·g)/(1 − 0.9²) = g/0.19; v2 = (0.999·g² + 0.001·g²)/(1 − 0.999²) = g²/0.001999
            let m2, v2 = 2.0 / (1.0 - 0.81), 4.0 / (1.0 - 0.999 * 0.999)
            let stored = opt.GetState(p, "exp_avg_sq").[0].item<float>()
            Expect.floatClose { absolute = 0.0; relative = 1e-14 } stored v2 "stored v"
            let step = before.[0] - (values p).[0]
            Expect.floatClose { absolute = 0.0; relative = 1e-13 } step (0.1 * m2 / (sqrt v2 + 1e-8)) "step 2"
            Expect.isLessThan (0.1 * m2 / sqrt v2) (0.25 * 0.1) "the second step is under a quarter of lr"
            use torchAdam = new Adam([ p ], 0.1)
            Expect.equal torchAdam.Name "Adam" "PyTorch's Adam keeps m and v uncorrected (see OptimizerTests)"

        testCase "a learning rate ≤ 0 or a momentum outside [0, 1) is refused, naming the value" <| fun () ->
            use p = parameter [| 0.0 |]
            Check.throws<ArgumentException> (fun () -> new SeminarAdam([ p ], 0.0) |> ignore)
            |> Check.messageHas [ "lr"; "got 0" ]
            Check.throws<ArgumentException> (fun () -> new HeavyBallMomentum([ p ], -1.0) |> ignore)
            |> Check.messageHas [ "got -1" ]
            Check.throws<ArgumentException> (fun () -> new HeavyBallMomentum([ p ], 0.1, 1.0) |> ignore)
            |> Check.messageHas [ "momentum"; "got 1" ]
            Check.throws<ArgumentException> (fun () -> OptimizerRecipe("x", UpdateRule.Adam, -0.1) |> ignore)
            |> Check.messageHas [ "x: lr"; "got -0.1" ]
            Check.throws<ArgumentException> (fun () -> MnistOptimizer("SGD", OptimizerKind.SGD, 0.0) |> ignore)
            |> Check.messageHas [ "SGD: lr"; "got 0" ]
    ]

/// Closed-form gradients of the catalogue, derived by hand.
let private closedForm (kind: TestFunctionKind) (x: float) (y: float) : float * float =
    match kind with
    | TestFunctionKind.SeminarSaddle -> x / 5.0, -y / 5.0
    | TestFunctionKind.SeminarSine -> (2.0 * x * sin x + x * x * cos x) / 10.0, (2.0 * y * cos y - y * y * sin y) / 10.0
    | TestFunctionKind.SeminarSineAsTitled ->
        (2.0 * x * sin x + x * x * cos x) / 10.0, (2.0 * y * sin y + y * y * cos y) / 10.0
    | TestFunctionKind.SeminarSineSquared ->
        (2.0 * x * sin (x * x) + 2.0 * x ** 3.0 * cos (x * x)) / 10.0,
        (2.0 * y * cos (y * y) - 2.0 * y ** 3.0 * sin (y * y)) / 10.0
    | TestFunctionKind.SeminarSineSquaredAsTitled ->
        (2.0 * x * sin (x * x) + 2.0 * x ** 3.0 * cos (x * x)) / 10.0,
        (2.0 * y * sin (y * y) + 2.0 * y ** 3.0 * cos (y * y)) / 10.0
    | TestFunctionKind.Sphere -> 2.0 * x, 2.0 * y
    | TestFunctionKind.ElongatedQuadratic -> x / 10.0, 2.0 * y
    | TestFunctionKind.Rosenbrock -> -2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)
    | TestFunctionKind.Beale ->
        let a, b, c = 1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y ** 3.0
        2.0 * (a * (y - 1.0) + b * (y * y - 1.0) + c * (y ** 3.0 - 1.0)),
        2.0 * (a * x + b * 2.0 * x * y + c * 3.0 * x * y * y)
    | k -> failwith $"no closed form for {k}"

let private points = [ 8.0, 0.1; -7.0, 2.0; 1.3, -0.7; -1.2, 1.0; 0.25, 2.5 ]

[<Tests>]
let harness =
    testList "Studies.Optimizers.harness" [
        testCase "autograd gradients of every test function equal the closed forms (1e-12)" <| fun () ->
            for kind in TestFunctions.Kinds do
                let f = TestFunctions.Of kind
                for x, y in points do
                    let struct (dx, dy) = f.Gradient(x, y)
                    let ex, ey = closedForm kind x y
                    let tol = { absolute = 1e-12; relative = 1e-12 }
                    Expect.floatClose tol dx ex $"{f.Key} ∂f/∂x at ({x}, {y})"
                    Expect.floatClose tol dy ey $"{f.Key} ∂f/∂y at ({x}, {y})"

        testCase "the notes' central differences (h = 1e-4) agree with autograd to 1e-6 relative" <| fun () ->
            for kind in TestFunctions.Kinds do
                let f = TestFunctions.Of kind
                for x, y in points do
                    let struct (ax, ay) = f.Gradient(x, y)
                    let struct (cx, cy) = CentralDifference.Gradient(f, x, y)
                    let scale = 1.0 + abs ax + abs ay
                    Expect.isLessThan (abs (cx - ax) / scale) 1e-6 $"{f.Key} x at ({x}, {y}): {cx} vs {ax}"
                    Expect.isLessThan (abs (cy - ay) / scale) 1e-6 $"{f.Key} y at ({x}, {y}): {cy} vs {ay}"
            let q = TestFunctions.Of TestFunctionKind.ElongatedQuadratic
            let field = q.GradientGrid(5, GradientSource.CentralDifference)
            Expect.floatClose { absolute = 1e-9; relative = 0.0 } field.Dx.[0].[0] (field.Xs.[0] / 10.0) "grid ∂f/∂x \
                = x/10"
            Expect.floatClose { absolute = 1e-9; relative = 0.0 } field.Dy.[4].[0] (2.0 * field.Ys.[4]) "grid ∂f/∂y \
                = 2y"

        testCase "a run with central differences sees exactly the numerical gradient and f's own value" <| fun () ->
            let q = TestFunctions.Of TestFunctionKind.ElongatedQuadratic
            let sgd = OptimizerRecipe("SGD", UpdateRule.Sgd, 1.0)
            let t = FunctionRuns.Run(q, sgd, PlanePoint(-7.0, 2.0), 1, GradientSource.CentralDifference)
            let struct (cx, cy) = CentralDifference.Gradient(q, -7.0, 2.0)
            Expect.equal (t.X.[1], t.Y.[1]) (-7.0 - cx, 2.0 - cy) "p1 = p0 − 1·g_cd, bit for bit"
            Expect.equal t.F.[0] (q.Value(-7.0, 2.0)) "the recorded f is f"

        testCase "SGD on x² + y² follows p_k = (1 − 2·lr)^k·p_0; the path, f and steps are recorded" <| fun () ->
            let s = TestFunctions.Of TestFunctionKind.Sphere
            let t = FunctionRuns.Run(s, OptimizerRecipe("SGD", UpdateRule.Sgd, 0.1), PlanePoint(8.0, 0.1), 20)
            Expect.equal (t.Steps, t.X.Length, t.F.Length, t.Diverged) (20, 21, 21, false) "20 steps, 21 points"
            for k in 0 .. 20 do
                Expect.floatClose { absolute = 0.0; relative = 1e-13 } t.X.[k] (8.0 * 0.8 ** float k) $"x_{k}"
                let f = t.X.[k] ** 2.0 + t.Y.[k] ** 2.0
                Expect.floatClose { absolute = 0.0; relative = 1e-12 } t.F.[k] f $"f_{k}"

        testCase "the heavy ball and PyTorch's SGD momentum give one path at a constant rate (1e-12)" <| fun () ->
            let q = TestFunctions.Of TestFunctionKind.ElongatedQuadratic
            let run label rule = FunctionRuns.Run(q, OptimizerRecipe(label, rule, 0.1, 0.95), q.Start, 300)
            let a = run "notes Momentum" UpdateRule.HeavyBall
            let b = run "SGD momentum" UpdateRule.Momentum
            let gap = Array.map2 (fun u v -> abs (u - v)) (Array.append a.X a.Y) (Array.append b.X b.Y) |> Array.max
            Expect.isLessThan gap 1e-12 "max coordinate difference"

        testCase "the minima search finds the known minima and only minima" <| fun () ->
            for kind, (x, y) in [ TestFunctionKind.Sphere, (0.0, 0.0); TestFunctionKind.ElongatedQuadratic, (0.0, 0.0)
                                  TestFunctionKind.Rosenbrock, (1.0, 1.0); TestFunctionKind.Beale, (3.0, 0.5) ] do
                let refs = (TestFunctions.Of kind).ReferencePoints
                Expect.equal refs.Count 1 $"{kind}: one minimum"
                Expect.floatClose { absolute = 1e-9; relative = 0.0 } refs.[0].X x $"{kind} x*"
                Expect.floatClose { absolute = 1e-9; relative = 0.0 } refs.[0].Y y $"{kind} y*"
            let sine = TestFunctions.Of TestFunctionKind.SeminarSine
            Expect.isGreaterThan sine.ReferencePoints.Count 3 "x²/10·sin x + y²/10·cos y has several minima in [−10, \
                10]²"
            for m in sine.ReferencePoints do
                let struct (dx, dy) = sine.Gradient(m.X, m.Y)
                Expect.isLessThan (sqrt (dx * dx + dy * dy)) 1e-8 $"∇f vanishes at ({m.X}, {m.Y})"
                Expect.isLessThan m.F (sine.Value(m.X + 1e-3, m.Y) |> min (sine.Value(m.X, m.Y - 1e-3))) "a minimum"
            let saddle = TestFunctions.Of TestFunctionKind.SeminarSaddle
            Expect.equal [ for p in saddle.ReferencePoints -> p.Kind ] [ "saddle" ]
                "the saddle has no minimum; its stationary point is declared"

        testCase "a divergent run stops at the first non-finite f and is marked; others are unaffected" <| fun () ->
            let r = TestFunctions.Of TestFunctionKind.Rosenbrock
            let t = FunctionRuns.Run(r, OptimizerRecipe("GD", UpdateRule.Sgd, 0.1), r.Start, 500)
            Expect.isTrue t.Diverged "GD at lr 0.1 on Rosenbrock diverges"
            Expect.isLessThan t.Steps 500 "it stopped early"
            Expect.isFalse (Double.IsFinite t.F.[t.F.Length - 1]) "the last f is the non-finite one"
            Expect.isTrue (Array.forall Double.IsFinite t.F.[.. t.F.Length - 2]) "every earlier f is finite"
            let ok = FunctionRuns.Run(r, OptimizerRecipe("Adam", UpdateRule.Adam, 0.01), r.Start, 50)
            Expect.isFalse ok.Diverged "Adam at 0.01 does not"

        testCase "a start where f is not finite, or a non-finite start, is refused naming the point" <| fun () ->
            let b = TestFunctions.Of TestFunctionKind.Beale
            Check.throws<ArgumentException> (fun () -> FunctionRuns.CheckStart(b, PlanePoint(1e200, 1e200)))
            |> Check.messageHas [ "beale"; "f(1E+200, 1E+200) = Infinity"; "Choose a start inside" ]
            Check.throws<ArgumentException> (fun () ->
                FunctionRuns.Run(b, OptimizerRecipe("SGD", UpdateRule.Sgd, 0.1), PlanePoint(nan, 1.0), 10) |> ignore)
            |> Check.messageHas [ "expected finite coordinates"; "NaN" ]
            Check.throws<ArgumentException> (fun () -> TestFunctions.Parse "rosenbrok" |> ignore)
            |> Check.messageHas [ "rosenbrock"; "got 'rosenbrok'" ]

        testCase "for SGD, L2 in the loss and weight_decay give one path; Adam's L2 differs from AdamW" <| fun () ->
            let runs = WeightDecayComparison.Run(0.1, 0.5, 0.1, 200)
            let path o f = (runs |> Seq.find (fun r -> r.Optimizer = o && r.Form = f)).Path
            let gap (a: Trajectory) (b: Trajectory) =
                Array.map2 (fun u v -> abs (u - v)) (Array.append a.X a.Y) (Array.append b.X b.Y) |> Array.max
            let between (o1, f1) (o2, f2) = gap (path o1 f1) (path o2 f2)
            Expect.isLessThan (between ("SGD", DecayForm.L2InLoss) ("SGD", DecayForm.WeightDecay)) 1e-12 "SGD"
            Expect.isLessThan (between ("Adam", DecayForm.L2InLoss) ("Adam", DecayForm.WeightDecay)) 1e-12
                "Adam's two L2 forms"
            Expect.isGreaterThan (between ("Adam", DecayForm.WeightDecay) ("AdamW", DecayForm.Decoupled)) 1e-3
                "Adam vs AdamW"
    ]

let private small = lazy (fst (TestData.trainingSplit 640), (TestData.generated 200 9))

[<Tests>]
let training =
    testSequenced <| testList "Studies.Optimizers.training" [
        testCase "sequential protocol: the first optimizer's run is the fresh one; later ones continue it" <| fun () ->
            let train, test = small.Value
            let config = MnistComparisonConfig(Networks = [| SeminarNetwork.Mlp |], Epochs = 1, Seeds = [| 3L |])
            let runs = MnistComparison.Run(config, train, test)
            let find p o = runs |> Seq.find (fun r -> r.Protocol = p && r.Optimizer = o)
            Expect.equal runs.Count 8 "4 optimizers × 2 protocols"
            let curves p o = (find p o).Curves
            let adam p = (curves p "Adam").StepLoss
            Expect.equal (adam TrainingProtocol.Sequential) (adam TrainingProtocol.Fresh) "Adam first: identical"
            let seq, fresh = curves TrainingProtocol.Sequential "Adagrad", curves TrainingProtocol.Fresh "Adagrad"
            Expect.isLessThan seq.StepLoss.[0] fresh.StepLoss.[0] "sequential Adagrad starts from Adam's trained model"
            Expect.equal (find TrainingProtocol.Sequential "SGD(0.01)").Position 3 "position in the sequence"

        testCase "a diverging MNIST run stops and is marked; the other optimizers' runs are kept" <| fun () ->
            let train, test = small.Value
            let config =
                MnistComparisonConfig(Networks = [| SeminarNetwork.Mlp |], Epochs = 2, Seeds = [| 4L |],
                    Protocols = [| TrainingProtocol.Fresh |],
                    Optimizers =
                        [| MnistOptimizer("SGD(1e6)", OptimizerKind.SGD, 1e6)
                           MnistOptimizer("Adam", OptimizerKind.Adam, 1e-3) |])
            let runs = MnistComparison.Run(config, train, test)
            Expect.isTrue runs.[0].Curves.Diverged "SGD at lr 1e6 diverges"
            let losses = runs.[0].Curves.StepLoss
            Expect.isFalse (Double.IsFinite losses.[losses.Length - 1]) "its last loss is not finite"
            Expect.isFalse runs.[1].Curves.Diverged "Adam is unaffected"
            Expect.equal runs.[1].Curves.EpochTrainLoss.Length 2 "Adam trains both epochs"

        testCase "CyclicLR gives the lecture's SGD a momentum cycling 0.9 → 0.8; without, it stays 0" <| fun () ->
            let train, test = small.Value
            let config =
                ScheduleConfig(Epochs = 2, BatchSize = 64, CyclicBaseLearningRate = 1e-3, CyclicMaxLearningRate = 1e-1)
            let cyc = ScheduleRuns.Run(config, ScheduleKind.CyclicLR, 1L, train, test)
            Expect.floatClose close cyc.StepMomentum.[0] 0.9 "momentum 0.9 at base_lr"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } (Array.min cyc.StepMomentum) 0.8 "0.8 at max_lr \
                (step 10 of 20)"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } (Array.max cyc.StepLearningRate) 0.1 "max_lr"
            Expect.isTrue cyc.BestEpoch.HasValue "the best epoch is known"
            let plain = ScheduleRuns.Run(config, ScheduleKind.CyclicLRWithoutMomentumCycling, 1L, train, test)
            Expect.isTrue (plain.StepMomentum |> Array.forall (fun m -> m = 0.0)) "momentum stays 0"
            Expect.equal plain.StepLearningRate cyc.StepLearningRate "the same rates"

        testCase "the range test's rate grows geometrically from start to end; start ≥ end is refused" <| fun () ->
            let train, _ = small.Value
            let config = ScheduleConfig(BatchSize = 64)
            let r = ScheduleRuns.RangeTest(config, 1e-6, 1.0, 2, 2L, train)
            Expect.floatClose close r.LearningRate.[0] 1e-6 "starts at 1e-6"
            let ratio = r.LearningRate.[1] / r.LearningRate.[0]
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } ratio (1e6 ** (1.0 / 20.0)) "factor per step (20 \
                steps)"
            Check.throws<ArgumentException> (fun () -> ScheduleRuns.RangeTest(config, 1.0, 1.0, 2, 2L, train) |> ignore)
            |> Check.messageHas [ "0 < start < end"; "start 1 and end 1" ]
            Check.throws<ArgumentException> (fun () -> ScheduleRuns.CheckRange(10.0, 1e-8))
            |> Check.messageHas [ "start 10" ]
    ]
