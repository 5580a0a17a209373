/// The regularisation study: its claims on a small deterministic configuration (RegularisationStudy.small,
/// seed 1) through the runner with pinned verdicts, its statistics on constructed inputs (predictive
/// entropy, certainty split, MC band and coverage, relative error, moving average), and its options'
/// errors, each one line naming the option.
module Research.Tests.Studies.RegularisationTests

open System
open System.IO
open Expecto
open Research.Analysis
open Research.Analysis.Studies.Regularisation
open Research.Analysis.Studies.Regularisation.RegularisationAnalysis
open Research.Tests

let private realMnist = lazy (Research.Core.Data.Mnist.IsPresent())

/// What the small configuration gives at seed 1 with real MNIST. It trains on a few hundred images for
/// three epochs: these pin the machinery (data, training, statistics, rules), not the notebooks' findings.
let smallExpectations : Map<string, Verdict option> =
    if realMnist.Value then
        Map.ofList
            [ "dropout-beats-dropconnect", Some Holds
              "dropout-beats-dropconnect-all-layers", Some Inconclusive
              "dropconnect-worse-than-baseline", Some Holds
              "dropconnect-all-layers-worse-than-baseline", Some Holds
              "batchnorm-layernorm-equivalent", Some Inconclusive
              "batchnorm-better-than-layernorm", Some Inconclusive
              "normalised-nets-saturate-by-epoch-2", Some Refuted
              "dropout-train-loss-exceeds-test", Some Holds
              "batchnorm-allows-high-lr", Some Refuted
              "regression-overfits-without-dropout", Some Inconclusive
              "dropout-lowers-test-mse", Some Inconclusive
              "mc-band-coverage", Some Refuted
              "mc-uncertain-less-accurate", Some Inconclusive
              "l1-sparser-than-l2", Some Holds
              "running-mean-within-5-percent", Some Inconclusive
              "written-out-dropout-no-gain", Some Inconclusive ]
    else
        // generated blobs: only what the mechanisms guarantee is expected
        Map.ofList [ for c in RegularisationClaims.all Map.empty -> c.Id, None ]
        |> Map.add "l1-sparser-than-l2" (Some Holds)

let private settings (root: string) (seed: int64) =
    { RunSettings.Default with
        Seed = seed; OutputRoot = root; BrowserCheck = false; Log = TextWriter.Null
        Mnist = Some(fun () -> AdamVsRAdamTests.mnistForTests.Value) }

let private small =
    lazy
        (let root = Path.Combine(Path.GetTempPath(), $"regularisation-{Guid.NewGuid():N}")
         let prepared = Study.prepare Tier.Quick RegularisationStudy.small RegularisationStudy.study
         match Runner.run (settings root 1L) prepared with
         | Ok r -> r
         | Error e -> failtest e)

[<Tests>]
let claims =
    testSequenced
    <| ClaimTests.ofResults "Studies.Regularisation.SmallConfiguration claims (seed 1)" smallExpectations
        (lazy small.Value.Claims) [ for c in RegularisationClaims.all Map.empty -> c.Id ]

[<Tests>]
let study =
    testSequenced <| testList "Studies.Regularisation" [
        testCase "the runner writes the report, its tables and result.json" <| fun () ->
            let r = small.Value
            Expect.isTrue (File.Exists r.Report) "report.html"
            let tables = r.Tables |> List.map Path.GetFileName |> List.sort
            for csv in [ "claims.csv"; "cnn-heads.csv"; "cnn-variants.csv"; "sigmoid-mlp.csv"; "penalties.csv"
                         "running-mean.csv"; "overfitting-demo.csv"; "mc-dropout-mnist.csv" ] do
                Expect.contains tables csv $"writes {csv}"
            let html = File.ReadAllText r.Report
            for needle in [ "Where the notebooks were wrong"; "dropconnect-as-run"; "model.train()"; "batch-wide"
                            "LayerStatistics.Measure"; "random stream regularisation" ] do
                Expect.stringContains html needle $"report mentions {needle}"
            Expect.isEmpty (Runner.verify r.Directory) "every file matches its recorded hash"
            let steps = [ for s, _ in r.Steps -> s ]
            let expected =
                [ "CNN heads and variants"; "sigmoid MLP"; "overfitting demo"; "analysis"; "report"; "browser check" ]
            Expect.equal steps expected "the runner timed every step"
    ]

[<Tests>]
let statistics =
    testList "Studies.Regularisation.Statistics" [
        testCase "predictive entropy of the mean softmax: ln K for uniform passes, 0 for a certain one" <| fun () ->
            // image 0: logits equal in every pass (uniform, entropy ln 3); image 1: one class by a huge margin
            let logits = Array3D.init 4 2 3 (fun _ i k -> if i = 0 then 0.0f elif k = 2 then 50.0f else 0.0f)
            let m = classify logits [| 0; 2 |]
            Expect.floatClose Accuracy.veryHigh m.Entropy.[0] (log 3.0) "uniform: ln 3"
            Expect.isLessThan m.Entropy.[1] 1e-12 "certain: 0"
            Expect.equal m.Predicted.[1] 2 "arg-max of the mean"
            // disagreeing passes: each pass certain, but of different classes → the mean is uncertain
            let split = Array3D.init 2 1 2 (fun t _ k -> if k = t then 50.0f else 0.0f)
            let disagreeing = (classify split [| 0 |]).Entropy.[0]
            Expect.floatClose Accuracy.high disagreeing (log 2.0) "mean of (1,0) and (0,1): ln 2"

        testCase "accuracy on the most and least certain fraction; MC band quantiles and coverage" <| fun () ->
            let m = { Entropy = [| 0.1; 0.9; 0.2; 0.8; 0.5 |]; Predicted = Array.create 5 1
                      Labels = [| 1; 0; 1; 1; 0 |] }
            Expect.equal (accuracyByCertainty 0.4 m) (1.0, 0.5) "two most certain right; of the two least, one"
            // 101 passes of one input: values 0..100, so the 2.5% and 97.5% quantiles are 2.5 and 97.5 (numpy)
            let p = Array3D.init 101 1 1 (fun t _ _ -> float32 t)
            let b = band 0 1 p
            Expect.equal (b.Mean.[0], b.Lower.[0], b.Upper.[0]) (50.0, 2.5, 97.5) "mean and 2.5–97.5% quantiles"
            Expect.equal (coverage b [| 2.5 |]) 1.0 "inclusive"
            Expect.equal (coverage b [| 98.0 |]) 0.0 "outside"
            // with a noise variance the interval widens: sd of the passes 29.3, plus σ = 100 → wider than 97.5
            Expect.equal (coverageWithNoise 10000.0 0 1 p [| 200.0 |]) 1.0 "noise widens the band"

        testCase "relative error, fraction below a threshold, moving average, per-seed summary" <| fun () ->
            let error = medianRelativeError [| 1.1; 2.0; -3.3 |] [| 1.0; 2.0; -3.0 |]
            Expect.floatClose Accuracy.veryHigh error 0.1 "median of 0.1, 0, 0.1"
            Expect.floatClose Accuracy.veryHigh (fractionBelow 1e-3 [| 0.0f; 5e-4f; -2e-3f; 1.0f |]) 0.5 "two of four"
            Expect.equal (movingAverage 2 [| 1.0; 3.0; 5.0 |]) [| 1.0; 2.0; 4.0 |] "windows of two, shorter first"
            let s = summarise 500 7L [| 0.1; 0.2; 0.3 |]
            Expect.floatClose Accuracy.veryHigh s.Mean 0.2 "mean"
            let inside = s.Lower >= 0.1 && s.Upper <= 0.3 && s.Lower < s.Upper
            Expect.isTrue inside $"interval inside the range: {s.Lower}, {s.Upper}"
            let two = summarise 500 7L [| 0.1; 0.3 |]
            Expect.isTrue (Double.IsNaN two.Lower) "no interval from two seeds"
            Expect.floatClose Accuracy.veryHigh two.Mean 0.2 "but the mean"
    ]

[<Tests>]
let options =
    testList "Studies.Regularisation.Options" [
        testCase "bad option values are one line naming the option; the tiers' settings are described" <| fun () ->
            for args, fragment in
                [ [ "regularisation"; "--replicates"; "2" ], "--replicates: expected a whole number ≥ 3, got 2"
                  [ "regularisation"; "--cnn-epochs"; "0" ], "--cnn-epochs: expected a whole number ≥ 1, got 0"
                  [ "regularisation"; "--cnn-train-examples"; "1" ], "--cnn-train-examples: expected 2 ≤ N ≤ 60,000"
                  [ "regularisation"; "--mc-passes"; "-1" ], "--mc-passes: expected a whole number ≥ 1, got -1" ] do
                use out = new StringWriter()
                use err = new StringWriter()
                let code = CommandLine.run (Array.ofList args) out err
                Expect.equal code 2 $"usage error for {args}"
                Expect.stringContains (err.ToString()) fragment $"{args}"
            let facts = RegularisationStudy.describe (RegularisationStudy.defaults Tier.Quick) |> Map.ofList
            Expect.stringContains facts.["CNN"] "3 epochs, 2500 training and 1000 test images" "the quick tier's CNN"
            let full = RegularisationStudy.describe (RegularisationStudy.defaults Tier.Full) |> Map.ofList
            Expect.stringContains full.["CNN"] "20 epochs, all training" "the notebooks' scale"
            Expect.stringContains full.["batch-size sensitivity"] "at batch 8, 32" "the full tier's batch sizes"
    ]
