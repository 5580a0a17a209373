/// The initialisation study: its statistics on hand-checked inputs, the embedded PyTorch reference,
/// its fast tier (small deterministic inputs) through the runner with pinned verdicts, its report in
/// headless Chromium and its command-line options.
module Research.Tests.Studies.InitialisationTests

open System
open System.IO
open Expecto
open Research.Core.Data
open Research.Core.Studies.Initialisation
open Research.Analysis
open Research.Analysis.Studies.Initialisation
open Research.Analysis.Tests.Support
open Research.Tests

let private realMnist = lazy (TestData.mnistPresent ())

/// The fast tier: every configuration with B = 5; the four sigmoid runs at lr 1e-3 and 0.1 for one
/// epoch of 3,200 images (100 steps), snapshots at steps 1 and 50 and the epoch's end.
let fastOptions : InitialisationOptions =
    let quick = InitialisationStudy.defaults Tier.Quick
    { quick with
        Batches = 5
        Training =
            InitialisationStudy.withTraining 1 [| 1e-3; 0.1 |] (Some 3200) "cpu" 1
                (SigmoidTrainingConfig(SnapshotIterations = [| 1L; 50L |]))
        Device = "cpu" }

/// MNIST for the runner: the real files when fetched, else generated blobs (recorded as a stand-in).
let private mnist : Lazy<MnistData> =
    lazy
        (if realMnist.Value then MnistData.load false (Mnist.DefaultDirectory())
         else
             MnistData.standIn "generated blobs (MNIST not fetched)" (TestData.generated 3200 3)
                 (TestData.generated 1000 4))

/// What the fast tier expects of each claim (seed 2) on real MNIST (B = 5 leaves the He claims'
/// intervals straddling their bounds, and 100 steps are too few for any net to learn, even at lr 0.1);
/// on generated blobs only what
/// theory guarantees for any input: orthogonal weights keep the norm of a linear stack exactly,
/// N(0, 0.01) shrinks a near-linear tanh layer by 0.01·√500, and the sigmoid net's backward factor
/// (1/4)·0.01·√100 per layer paralyses the first layer.
let fastExpectations : Map<string, Verdict option> =
    let ids = [ for c in InitialisationClaims.all Map.empty [ 1e-3; 0.1 ] -> c.Id ]
    let none = Map.ofList [ for id in ids -> id, None ]
    if realMnist.Value then
        none
        |> Map.add "xavier-tanh-deep-within-2" (Some Refuted)
        |> Map.add "he-relu-deep-stable" (Some Inconclusive)
        |> Map.add "he-fanout-relu-deep-stable" (Some Inconclusive)
        |> Map.add "xavier-relu-deep-shrinks" (Some Holds)
        |> Map.add "normal0.1-tanh-saturates" (Some Holds)
        |> Map.add "normal0.1-tanh-gradients-grow" (Some Holds)
        |> Map.add "normal0.01-tanh-shrinks-0.22" (Some Holds)
        |> Map.add "sigmoid-n3-paralysed" (Some Holds)
        |> Map.add "sigmoid-n3-xavier-not-paralysed" (Some Refuted)
        |> Map.add "orthogonal-linear-keeps-norm" (Some Holds)
        |> Map.add "sigmoid-n3-does-not-learn" (Some Holds)
        |> Map.add "sigmoid-n2-learns" (Some Refuted)
        |> Map.add "sigmoid-n3-xavier-learns" (Some Refuted)
        |> Map.add "sigmoid-n3-does-not-learn-lr0.1" (Some Holds)
        |> Map.add "sigmoid-n2-learns-lr0.1" (Some Refuted)
        |> Map.add "sigmoid-n3-xavier-learns-lr0.1" (Some Refuted)
    else
        none
        |> Map.add "orthogonal-linear-keeps-norm" (Some Holds)
        |> Map.add "normal0.01-tanh-shrinks-0.22" (Some Holds)
        |> Map.add "sigmoid-n3-paralysed" (Some Holds)

let private settings (root: string) =
    { RunSettings.Default with
        Seed = 2L; OutputRoot = root; BrowserCheck = false; Mnist = Some(fun () -> mnist.Value); Log = TextWriter.Null }

let private fast =
    lazy
        (let prepared = Study.prepare Tier.Quick fastOptions InitialisationStudy.study
         match Runner.run (settings (tempDirectory "init-study")) prepared with
         | Ok r -> r
         | Error e -> failtest e)

[<Tests>]
let claims =
    testSequenced
    <| ClaimTests.ofResults "Studies.Initialisation.FastTier claims (seed 2)" fastExpectations (lazy fast.Value.Claims)
        [ for c in InitialisationClaims.all Map.empty [ 1e-3; 0.1 ] -> c.Id ]

[<Tests>]
let statistics =
    testList "Studies.Initialisation.Analysis" [
        testCase "exponential smoothing: s₁ = x₁, s_t = β s_{t−1} + (1 − β) x_t; NaN keeps the last value" <| fun () ->
            let s = InitialisationAnalysis.smoothed 0.9 [| 2.0; 1.0; nan; 3.0 |]
            allClose 1e-15 "smoothed" [| 2.0; 1.9; 1.9; 0.9 * 1.9 + 0.3 |] s
            throwsArg "beta" [ "expected 0 ≤ β < 1"; "got 1" ] (fun () -> InitialisationAnalysis.smoothed 1.0 [| 1.0 |])

        testCase "spread: mean and the 2.5% and 97.5% quantiles (numpy's linear method) of finite values" <| fun () ->
            // numpy.quantile(np.arange(1, 21), [0.025, 0.975]) = [1.475, 19.525]
            let s = InitialisationAnalysis.spread (Array.append (Array.init 20 (fun i -> float (i + 1))) [| nan |])
            close 1e-12 "mean" 10.5 s.Mean
            close 1e-12 "2.5%" 1.475 s.Lower
            close 1e-12 "97.5%" 19.525 s.Upper
            Expect.equal s.Count 20 "finite values"

        testCase "box summary: quartiles as numpy, Tukey whiskers at the furthest values within 1.5 IQR" <| fun () ->
            // numpy.quantile([1..9, 100], [0.25, 0.5, 0.75]) = [3.25, 5.5, 7.75]; IQR 4.5, upper fence 14.5
            let b = InitialisationAnalysis.box (Array.append (Array.init 9 (fun i -> float32 (i + 1))) [| 100.0f |])
            allClose 1e-12 "min, whisker, q1, median, q3, whisker, max" [| 1.0; 1.0; 3.25; 5.5; 7.75; 9.0; 100.0 |]
                [| b.Min; b.LowerWhisker; b.Q1; b.Median; b.Q3; b.UpperWhisker; b.Max |]
            Expect.equal b.Count 10 "values"

        testCase "the claims' ratios: max/min, last/first and the per-layer factor" <| fun () ->
            for name, value, expected in
                [ "max/min", InitialisationClaims.maxOverMin [| 2.0; 0.5; 1.0 |], 4.0
                  "last/first", InitialisationClaims.lastOverFirst [| 2.0; 3.0; 0.5 |], 0.25
                  "per-layer factor", InitialisationClaims.perLayerFactor [| 1.0; 0.5; 0.25; 0.125 |], 0.5 ] do
                close 1e-15 name expected value
            Expect.isTrue (Double.IsNaN(InitialisationClaims.maxOverMin [| 1.0; 0.0 |])) "a zero std has no ratio"

        testCase "Figures.groupedBoxPlots: a trace per series, grouped, thinned to n order statistics" <| fun () ->
            let values = Array.init 1000 float
            let series = [ "step 1", [ "fc1", values; "fc2", values ]; "step 2", [ "fc1", values; "fc2", values ] ]
            let json = Plotly.NET.GenericChart.toFigureJson (Figures.groupedBoxPlots 50 false series)
            let doc = Text.Json.JsonDocument.Parse json
            let traces = [ for t in doc.RootElement.GetProperty("data").EnumerateArray() -> t ]
            Expect.equal traces.Length 2 "one trace per series"
            for t in traces do
                Expect.equal (t.GetProperty("y").GetArrayLength()) 100 "50 order statistics for each of two groups"
                Expect.isFalse (t.GetProperty("showlegend").GetBoolean()) "legend off when asked"
            let mode = doc.RootElement.GetProperty("layout").GetProperty("boxmode").GetString()
            Expect.equal mode "group" "side by side"
            throwsArg "points" [ "at least 2 order statistics"; "got 1" ] (fun () ->
                Figures.groupedBoxPlots 1 true series)

        testCase "the embedded init_variance.json is the shared reference file, byte for byte" <| fun () ->
            use s = typeof<Spread>.Assembly.GetManifestResourceStream "Research.Analysis.init_variance.json"
            use copy = new MemoryStream()
            s.CopyTo copy
            let shared = File.ReadAllBytes(Path.Combine(Reference.dir (), "init_variance.json"))
            Expect.isTrue (copy.ToArray() = shared)
                "Studies/Initialisation/init_variance.json differs: copy it again from ../shared/reference"
            Expect.equal InitialisationAnalysis.reference.Value.Count 8 "eight configurations"
            for c in InitialisationConfigurations.All do
                match c.ReferenceKey with
                | null -> ()
                | key ->
                    let found = InitialisationAnalysis.reference.Value.ContainsKey key
                    Expect.isTrue found $"{c.Id}: '{key}' is in the file"

        testCase "a file that is not init_variance.json is refused, naming it" <| fun () ->
            use s = new MemoryStream(Text.Encoding.UTF8.GetBytes """{"meta": {}}""")
            Check.throws<InvalidDataException> (fun () -> InitialisationAnalysis.readReference "other.json" s |> ignore)
            |> Check.messageHas [ "other.json"; "not init_variance.json's layout" ]
    ]

[<Tests>]
let study =
    testSequenced <| testList "Studies.Initialisation" [
        testCase "the runner writes the report, every table and result.json; PyTorch's values beside ours" <| fun () ->
            let r = fast.Value
            let tables = r.Tables |> List.map Path.GetFileName |> Set.ofList
            for t in [ "claims.csv"; "training-epochs.csv"; "box-quantiles.csv"; "one-batch-reliability.csv"
                       "layers-deep-tanh-xavier.csv"; "pytorch-wide-tanh-normal0.1.csv" ] do
                Expect.isTrue (tables.Contains t) $"{t} written"
            let count (prefix: string) = tables |> Set.filter (fun t -> t.StartsWith prefix) |> Set.count
            Expect.equal (count "layers-") 16 "one per-layer table per configuration"
            Expect.equal (count "pytorch-") 8 "one PyTorch table per reference configuration"
            let rows = File.ReadAllLines(Path.Combine(r.Directory, "layers-deep-tanh-xavier.csv"))
            Expect.equal rows.Length 34 "header and 33 Linear layers"
            let pytorch = File.ReadAllLines(Path.Combine(r.Directory, "pytorch-wide-tanh-normal0.1.csv"))
            // init_variance.json: net1_tanh_normal0.1 layer 1 forward_input_std 0.8535745753182646
            Expect.stringContains pytorch.[2] ",0.8536,0.8536," "layer 2's input std: ours beside PyTorch's"
            let epochs = File.ReadAllLines(Path.Combine(r.Directory, "training-epochs.csv"))
            Expect.equal epochs.Length 9 "header and one epoch of 4 runs at 2 learning rates"
            let html = File.ReadAllText r.Report
            for needle in [ "Where the notebooks were wrong or ambiguous"; "register_backward_hook"
                            "Histograms of the first layer"; "random stream initialisation/init/weights"
                            "xavier-tanh-deep-within-2"; "study time" ] do
                Expect.stringContains html needle $"report mentions {needle}"
            Expect.isEmpty (Runner.verify r.Directory) "every file matches its recorded hash"

        testCase "the report opens in headless Chromium with every chart drawn and no console errors" <| fun () ->
            requireBrowser ()
            let r = fast.Value
            let shot = Path.Combine(Path.GetTempPath(), $"shot-{Guid.NewGuid():N}.png")
            let check = BrowserCheck.checkSized (1280, 9000) shot r.Report
            Expect.equal check.ChartsDrawn check.Charts $"all {check.Charts} charts drawn"
            // 4 networks × (forward, backward), the histograms, and per learning rate curves and 2 box-plot grids
            Expect.equal check.Charts 15 "every figure"
            Expect.isEmpty check.ConsoleErrors "no console errors"
    ]

[<Tests>]
let commandLine =
    testList "Studies.Initialisation.CommandLine" [
        testCase "./run.sh list shows the study after adam-vs-radam" <| fun () ->
            let names = StudyRegistry.all |> List.map (fun s -> s.Name)
            Expect.equal (names |> List.take 2) [ "adam-vs-radam"; "initialisation" ] "registry order"

        testCase "its options are applied, and every bad value is one line naming it" <| fun () ->
            let study = Study.pack InitialisationStudy.study
            let args = [ "--batches"; "7"; "--epochs"; "2"; "--learning-rates"; "0.01"; "0.5" ]
            match study.Prepare(Tier.Quick, args) with
            | Error e -> failtest e
            | Ok p ->
                let facts = Map.ofList p.Facts
                Expect.equal facts.["batches and reruns B"] "7" "B"
                Expect.equal facts.["epochs"] "2" "epochs"
                Expect.equal facts.["learning rates (SGD, no momentum)"] "0.01, 0.5" "learning rates"
            for args, fragment in
                [ [ "--batches"; "1" ], "--batches: expected a number of batches B (an interval needs two) ≥ 2, got 1"
                  [ "--epochs"; "0" ], "--epochs: expected a number of epochs ≥ 1, got 0"
                  [ "--learning-rates"; "0.1"; "-1" ], "--learning-rates: expected finite learning rates > 0, got -1"
                  [ "--train-examples"; "10" ], "--train-examples: expected at least one batch (32 images), got 10"
                  [ "--threads"; "0" ], "--threads: expected a number of threads ≥ 1, got 0" ] do
                match study.Prepare(Tier.Quick, args) with
                | Ok _ -> failtest $"{args} was accepted"
                | Error e -> Expect.stringContains e fragment $"{args}"

        testCase "the full tier is the lecture's five epochs with PyTorch's default trained too" <| fun () ->
            let full = InitialisationStudy.defaults Tier.Full
            Expect.equal full.Training.Epochs 5 "five epochs"
            Expect.equal full.Training.Runs.Length 6 "n = 2, 3 × N(0, 0.01), Xavier, PyTorch default"
            Expect.equal (InitialisationStudy.defaults Tier.Quick).Batches 20 "B = 20"
    ]
