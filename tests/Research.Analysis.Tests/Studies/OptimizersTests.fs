/// The optimizers study: its measures against values computed by hand, its claims on a small
/// deterministic configuration (the fast tier) through the runner with pinned verdicts, its report,
/// and bad input at the command line.
module Research.Tests.Studies.OptimizersTests

open System
open System.IO
open Expecto
open Research.Core.Data
open Research.Core.Studies.Optimizers
open Research.Analysis
open Research.Analysis.Studies.Optimizers
open Research.Tests

let private tempDir (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

let private path (xs: float[]) (ys: float[]) =
    Trajectory("test", "test", GradientSource.Autograd, xs, ys, Array.zeroCreate xs.Length, false, Nullable(),
               xs.Length - 1, 0.0)

let private field (xs: float[]) (ys: float[]) (dx: float[][]) (dy: float[][]) =
    GradientField(xs, ys, dx, dy, GradientSource.Autograd)

[<Tests>]
let measures =
    testList "Studies.Optimizers.measures (computed by hand)" [
        testCase "sign changes of a coordinate's steps skip zero steps" <| fun () ->
            Expect.equal (Paths.signChanges [| 0.0; 1.0; 0.0; 1.0; 0.0 |]) 3 "+ − + −: three reversals"
            Expect.equal (Paths.signChanges [| 0.0; 1.0; 1.0; 0.0 |]) 1 "+, 0, −: the zero step is skipped"
            Expect.equal (Paths.signChanges [| 5.0; 4.0; 3.0 |]) 0 "monotone"
            Expect.equal (Paths.signChanges [| 1.0 |]) 0 "no step"

        testCase "distance increases, overshoot past a centre, travel, relative gap" <| fun () ->
            Expect.equal (Paths.increases [| 3.0; 2.0; 2.5; 1.0; 1.0 |]) 1 "one increase (2 → 2.5); equal is not an \
                increase"
            Expect.equal (Paths.overshoot 0.0 [| 8.0; 3.0; -2.0; -1.0; 0.5 |]) 2.0 "from the right, reaching −2"
            Expect.equal (Paths.overshoot 0.0 [| -8.0; -3.0; -1.0 |]) 0.0 "never crosses"
            let zigzag = path [| 0.0; 3.0; 3.0; 6.0 |] [| 0.0; 4.0; 8.0; 12.0 |]
            Expect.equal (Paths.travelAfter 1 zigzag) 9.0 "4 + 5 after step 1"
            let gap = Paths.relativeGap (path [| 1.0 |] [| 0.0 |]) (path [| 1.5 |] [| 0.0 |])
            Expect.floatClose Accuracy.high gap (0.5 / 2.5) "|Δ|/(1 + max)"
            let refs = [| StationaryPoint(0.0, 0.0, 0.0, "minimum"); StationaryPoint(3.0, 4.0, -1.0, "minimum") |]
            Expect.equal (Paths.distances refs (path [| 3.0; 0.0 |] [| 3.0; 1.0 |])) [| 1.0; 1.0 |] "to the nearest \
                of two minima"
            let m = Paths.measure refs (path [| 1.0; 0.5; 0.0001 |] [| 0.0; 0.0; 0.0 |])
            Expect.equal m.StepsToTolerance (Some 2) "below 1e-3 at step 2"

        testCase "the angle between −∇f and the direction to the target" <| fun () ->
            // at (1, 0): −∇f = (−1, 0) points at (0, 0): 0°; at (0, 1): −∇f = (1, 0) is perpendicular: 90°
            let zero = [| [| 0.0; 0.0 |]; [| 0.0; 0.0 |] |]
            let f = field [| 0.0; 1.0 |] [| 0.0; 1.0 |] [| [| 0.0; 1.0 |]; [| -1.0; 0.0 |] |] zero
            let a = GradientDirection.angles f (0.0, 0.0)
            Expect.isTrue (Double.IsNaN a.[0].[0]) "undefined at the target"
            Expect.floatClose Accuracy.high a.[0].[1] 0.0 "pointing at it"
            Expect.floatClose Accuracy.high a.[1].[0] 90.0 "perpendicular"
            Expect.equal (GradientDirection.countAway 10.0 f (0.0, 0.0)) (1, 2) "one of the two defined angles \
                exceeds 10°"

        testCase "spread over seeds pooled over epochs, late decrease, windows" <| fun () ->
            let spread = MnistMeasures.pooledSpread [| [| 1.0; 2.0 |]; [| 3.0; 4.0 |] |]
            Expect.floatClose Accuracy.high spread (sqrt 2.0) "variance 2 at each epoch"
            Expect.isTrue (Double.IsNaN (MnistMeasures.pooledSpread [| [| 1.0 |] |])) "one seed has no spread"
            let loss = [| 4.0; 4.0; 4.0; 4.0; 2.0; 2.0; 1.0; 1.0 |]
            Expect.floatClose Accuracy.high (MnistMeasures.lateDecrease loss) 0.5 "1 − mean(1, 1)/mean(2, 2)"
            Expect.equal (MnistMeasures.windowMeans 3 [| 1.0; 2.0; 3.0; 4.0 |]) [| 2.0; 4.0 |] "windows of 3 (last \
                shorter)"

        testCase "the range test's smoothing and both suggestions" <| fun () ->
            Expect.sequenceEqual (RangeTest.smooth 0.5 [| 2.0; 4.0; nan; 1.0 |]) [| 2.0; 2.5 / 0.75 |]
                "bias-corrected EMA over the finite prefix"
            // lr from 1e-6 to 1e1 over 700 steps; the loss falls steepest at 1e-3 and is lowest at 1e-1
            let lr = Array.init 701 (fun t -> 1e-6 * 10.0 ** (float t / 100.0))
            let curve (r: float) =
                let l = log10 r
                2.0 - 1.5 / (1.0 + exp (-3.0 * (l + 3.0))) + (if l > -1.0 then 5.0 * (l + 1.0) ** 2.0 else 0.0)
            let loss = lr |> Array.map curve
            let s = RangeTest.suggest 0.05 (RangeTestRun(lr, loss, false, "synthetic", 0.0))
            Expect.floatClose { absolute = 0.0; relative = 0.15 } s.ArgminLr 0.1 "argmin near 1e-1 (smoothing lags a \
                little)"
            Expect.floatClose Accuracy.high s.LectureMax (s.ArgminLr / 10.0) "max_lr = argmin/10"
            Expect.floatClose Accuracy.high s.LectureMin (s.OnsetLr / 6.0) "min_lr = onset/6"
            Expect.isLessThan s.OnsetLr s.SteepestLr "the onset comes before the steepest descent"
            Expect.floatClose { absolute = 0.0; relative = 0.5 } s.SteepestLr 1e-3 "steepest descent near 1e-3"
            Expect.floatClose Accuracy.high s.RobustMin (s.RobustMax / 4.0) "min = max/4"
            let diverged = RangeTestRun([| 1.0 |], [| nan |], true, "x", 0.0)
            Check.throws<ArgumentException> (fun () -> RangeTest.suggest 0.05 diverged |> ignore)
            |> Check.messageHas [ "at least 10 finite losses, got 0" ]
    ]

let private realMnist = lazy (Mnist.IsPresent())

/// The fast tier (<c>OptimizersStudy.small</c>, what the script's --small runs): three functions at the
/// notebooks' steps, MNIST for 2 epochs of 1,280 images × 3 seeds, the regimes for 3 epochs. Generated
/// blobs stand in for MNIST when it is absent.
let fastOptions : OptimizersOptions = OptimizersStudy.small

/// What the fast tier gives for each claim at seed 1 (real MNIST). The 2-D and weight-decay claims are
/// deterministic; MNIST claims rest on 3 seeds and are pinned as they came out.
let fastExpectations : Map<string, Verdict option> =
    let deterministic =
        [ "gradient-misses-minimum", Some Holds; "sgd-zigzags", Some Holds; "momentum-arrives-sooner", Some Refuted
          "momentum-keeps-oscillating", Some Holds; "adagrad-no-oscillation", Some Holds
          "momentum-overshoots-saddle", Some Holds; "central-difference-matches-autograd", Some Holds
          "heavy-ball-equals-sgd-momentum", Some Holds; "seminar-adam-stalls", Some Holds
          "sgd-l2-equals-weight-decay", Some Holds; "adam-l2-differs-from-adamw", Some Holds ]
    let data =
        [ "mlp-adam-most-stable", Some Inconclusive; "mlp-adagrad-lower-loss", Some Holds
          "cnn-adadelta-stalls", Some Refuted; "cnn-sgd-least-stable", Some Inconclusive
          "sequential-changes-rankings", Some Holds
          "range-test-max-lr-near-1e-2", Some Refuted; "cyclic-last-not-best", Some Holds ]
    Map.ofList (deterministic @ (if realMnist.Value then data else [ for id, _ in data -> id, None ]))

/// The fast tier through the runner at seed 1, once for every test that reads it.
let private fast =
    lazy
        (let data =
            if realMnist.Value then MnistData.load false (Mnist.DefaultDirectory())
            else
                MnistData.standIn "generated blobs (MNIST not fetched)" (TestData.generated 1280 3)
                    (TestData.generated 500 4)
         let run = { RunSettings.Default with Seed = 1L; OutputRoot = tempDir "optimizers-fast"; BrowserCheck = false
                                              Mnist = Some(fun () -> data); Log = TextWriter.Null }
         Runner.run run (Study.prepare Tier.Quick fastOptions OptimizersStudy.study) |> Result.defaultWith failtest)

[<Tests>]
let claims =
    testSequenced
    <| ClaimTests.ofResults "Studies.Optimizers.FastTier claims (seed 1)" fastExpectations (lazy fast.Value.Claims)
        [ for c in OptimizersClaims.all Map.empty -> c.Id ]

/// Runs the command line; returns (exit code, standard error).
let private cli (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = CommandLine.run (Array.ofList args) out err
    code, err.ToString()

[<Tests>]
let study =
    testSequenced <| testList "Studies.Optimizers" [
        testCase "the runner writes the report, its tables and the corrections; every file is hashed" <| fun () ->
            let r = fast.Value
            Expect.isTrue (File.Exists r.Report) "report.html"
            let tables = r.Tables |> List.map Path.GetFileName |> Set.ofList
            for t in [ "claims.csv"; "mnist.csv"; "paths-notes-quadratic.csv"; "range-test.csv"; "schedules.csv"
                       "variants.csv"; "weight-decay.csv" ] do
                Expect.isTrue (tables.Contains t) $"{t} written"
            let html = File.ReadAllText r.Report
            for needle in [ "Where the notebooks were wrong"; "sequential"; "cycle_momentum"; "seminar Adam"
                            "Methods and provenance"; "random stream optimizers" ] do
                Expect.stringContains html needle $"report mentions {needle}"
            let notes = File.ReadAllLines(Path.Combine(r.Directory, "paths-notes-quadratic.csv"))
            Expect.equal notes.Length (1 + 13 + 3 + 3) "13 seminar/PyTorch runs, 3 notes runs, 3 central-difference \
                repeats"
            Expect.isEmpty (Runner.verify r.Directory) "every file matches its recorded hash"

        testCase "a divergent 2-D run is marked diverged in the report; the other rows are kept" <| fun () ->
            let o = { fastOptions with Functions = [ TestFunctionKind.Rosenbrock ] }
            let result = OptimizersStudy.runFunction o ignore TestFunctionKind.Rosenbrock
            let diverged = result.Runs |> List.filter (fun r -> r.Path.Diverged)
            Expect.isNonEmpty diverged "GD at lr 0.1 diverges on Rosenbrock"
            Expect.equal result.Runs.Length 13 "every optimizer's run is kept"
            for r in diverged do
                Expect.isLessThan r.Path.Steps r.Path.PlannedSteps $"{r.Recipe.Label} stopped early"
            let evidence =
                { Functions = [ result ]; NotesField = None; Mnist = []; MnistEpochs = 1; WeightDecay = []; Range = None
                  Schedules = []; Stream = fun _ -> 1L }
            let table = OptimizersReport.blocks None evidence
            let rows =
                [ for b in table do
                    match b with
                    | Table t when t.CsvName = Some "paths-rosenbrock.csv" -> yield! t.Rows
                    | _ -> () ]
            Expect.equal rows.Length 13 "one row per optimizer"
            let marked = rows |> List.filter (fun row -> (List.last row).StartsWith "yes, at step")
            Expect.equal marked.Length diverged.Length "marked"

        testCase "the report opens in headless Chromium with every chart drawn and no console errors" <| fun () ->
            Research.Analysis.Tests.Support.requireBrowser ()
            let shot = Path.Combine(Path.GetTempPath(), $"shot-{Guid.NewGuid():N}.png")
            let check = BrowserCheck.checkSized (1280, 9000) shot fast.Value.Report
            Expect.equal check.ChartsDrawn check.Charts $"all {check.Charts} charts drawn"
            Expect.isGreaterThanOrEqual check.Charts 15 "3 functions × 3, quiver, weight decay, MNIST, regimes"
            Expect.isEmpty check.ConsoleErrors "no console errors"

        testCase "bad input at the command line is one line naming the value, and nothing runs" <| fun () ->
            for args, fragment in
                [ [ "optimizers"; "--lr"; "0" ], "--lr: expected a finite learning rate > 0, got 0"
                  [ "optimizers"; "--lr=-0.5" ], "got -0.5"
                  [ "optimizers"; "--range-start"; "10"; "--range-end"; "1" ], "expected finite rates 0 < start < \
                      end, got start 10 and end 1"
                  [ "optimizers"; "--range-start"; "1"; "--range-end"; "1" ], "got start 1 and end 1"
                  [ "optimizers"; "--functions"; "beale"; "--start=1e200,1e200" ], "beale: start: f(1E+200, 1E+200) \
                      = Infinity"
                  [ "optimizers"; "--start=nan,1" ], "--start: expected two finite numbers x,y"
                  [ "optimizers"; "--functions"; "rosenbrok" ], "got 'rosenbrok'"
                  [ "optimizers"; "--epochs"; "0" ], "--epochs: expected a whole number ≥ 1, got 0" ] do
                let code, err = cli args
                Expect.equal code 2 $"usage error for {args}"
                Expect.stringContains err fragment $"{args}"
                Expect.equal (err.Trim().Split('\n').Length) 1 "one line"

        testCase "options change the identity; the study is registered after adam-vs-radam" <| fun () ->
            let facts o = (Study.prepare Tier.Quick o OptimizersStudy.study).Facts
            let id o = Runner.identity OptimizersStudy.Name (facts o) []
            Expect.notEqual (id fastOptions) (id { fastOptions with LearningRate = 0.05 }) "another lr, another folder"
            let tier t = id (OptimizersStudy.defaults t)
            Expect.notEqual (tier Tier.Quick) (tier Tier.Full) "tiers differ"
            let names = [ for s in StudyRegistry.all -> s.Name ]
            let place name = List.findIndex ((=) name) names
            Expect.isGreaterThan (place "optimizers") (place "adam-vs-radam") "registry order"
    ]
