/// The initialisation study's capture: what its measurements hold, that a seed fixes them, which
/// iterations are kept for box plots, and the refusal of bad settings. Generated blobs stand in for
/// MNIST, so nothing here depends on the data.
module Research.Tests.InitialisationCaptureTests

open System
open Expecto
open Research.Core.Studies.Initialisation

let private config (id: string) = InitialisationConfigurations.All |> Array.find (fun c -> c.Id = id)

let private data = lazy (TestData.generated 512 7)

let private small (runs: SigmoidRun[]) =
    SigmoidTrainingConfig(Runs = runs, LearningRates = [| 0.1 |], TrainExamples = Nullable 256,
                          SnapshotIterations = [| 1L; 3L |], Device = "cpu")

let private measure (c: InitConfiguration) (options: InitMeasurementOptions) () =
    InitialisationCapture.Measure(c, data.Value, options) |> ignore

[<Tests>]
let tests =
    testSequenced <| testList "Studies.Initialisation.Capture" [
        testCase "one batch, B batches (same weights), B reruns (fresh weights); a seed fixes them" <| fun () ->
            let c = config "sigmoid-normal0.01"
            let options = InitMeasurementOptions(3, 11L, 12L, "cpu")
            let m = InitialisationCapture.Measure(c, data.Value, options)
            Expect.equal m.OverBatches.Count 3 "B batches"
            Expect.equal m.OverReruns.Count 3 "B reruns"
            Expect.equal m.FirstLayerWeights.Length (784 * 100) "first layer's weights [100, 784]"
            Expect.equal m.OneBatch.BatchSize 32 "the lecture's batch of 32"
            Expect.equal m.OneBatch.Layers.Count 4 "four Linear layers"
            let weightStd (s: Research.Core.Capture.NetworkStatistics) = s.Layers.[0].WeightStd
            for s in m.OverBatches do Expect.equal (weightStd s) (weightStd m.OneBatch) "same weights on every batch"
            for s in m.OverReruns do Expect.notEqual (weightStd s) (weightStd m.OneBatch) "fresh weights on every rerun"
            Expect.notEqual m.OverBatches.[0].Layers.[0].InputStd m.OneBatch.Layers.[0].InputStd "another batch"
            Expect.isNull m.ReferenceProtocol "no PyTorch reference for this configuration"
            let again = InitialisationCapture.Measure(c, data.Value, options)
            Expect.equal (List.ofSeq again.OneBatch.Layers) (List.ofSeq m.OneBatch.Layers) "a seed fixes the numbers"
            Expect.equal (List.ofSeq again.OverReruns.[2].Layers) (List.ofSeq m.OverReruns.[2].Layers) "reruns too"

        testCase "B < 2 and too few images are refused, naming the numbers" <| fun () ->
            let c = config "sigmoid-normal0.01"
            Check.throws<ArgumentException> (measure c (InitMeasurementOptions(1)))
            |> Check.messageHas [ "B ≥ 2"; "got 1" ]
            Check.throws<ArgumentException> (measure c (InitMeasurementOptions(20)))
            |> Check.messageHas [ "sigmoid-normal0.01"; "21 disjoint batches of 32 need 672 images"; "512" ]

        testCase "the iterations kept for box plots: the explicit ones within the run, each epoch's last" <| fun () ->
            let c = SigmoidTrainingConfig(Epochs = 2, SnapshotIterations = [| 1L; 10L; 50L |])
            let labels = InitialisationCapture.SnapshotLabels(c, 10)
            Expect.equal [ for KeyValue(t, l) in labels -> t, l ]
                [ 1L, "step 1"; 10L, "end of epoch 1 (step 10)"; 20L, "end of epoch 2 (step 20)" ]
                "iterations and labels"

        testCase "training records each step's train and test-batch loss, each epoch and the snapshots" <| fun () ->
            let runs = InitialisationConfigurations.SigmoidRuns.[0..1]
            let test = TestData.generated 100 8
            let results = InitialisationCapture.Train(small runs, data.Value, test, 5L, 6L)
            Expect.equal results.Count 2 "one result per run and learning rate"
            let r = results.[1]
            Expect.equal r.Run.HiddenLayers 3 "n = 3"
            Expect.equal r.StepsPerEpoch 8 "256 examples in batches of 32"
            Expect.equal r.TrainLoss.Length 8 "train loss per step"
            Expect.equal r.TestBatchLoss.Length 8 "test-batch loss per step"
            Expect.equal r.Epochs.Count 1 "one epoch"
            Expect.equal r.TestExamples 100 "accuracy on the whole test split"
            Expect.equal [ for s in r.Snapshots -> s.Iteration ] [ 1L; 3L; 8L ] "step 1, step 3 and the end of epoch 1"
            let first = r.Snapshots.[0]
            Expect.equal [ for l in first.Layers -> l.Layer ] [ "fc1"; "fc2"; "fc3"; "fc4" ] "every Linear layer"
            Expect.equal first.Layers.[0].Input.Length (32 * 784) "the batch's inputs"
            Expect.equal first.Layers.[1].WeightGradientAbs.Length (100 * 100) "|∂L/∂W| of fc2"
            let nonNegative (l: LayerSnapshot) = l.WeightGradientAbs |> Array.forall (fun g -> g >= 0.0f)
            Expect.isTrue (first.Layers |> Seq.forall nonNegative) "absolute values"
            let again = InitialisationCapture.Train(small runs, data.Value, test, 5L, 6L)
            Expect.equal again.[1].TrainLoss r.TrainLoss "the same seeds, the same losses"
            Expect.equal again.[1].TestBatchLoss r.TestBatchLoss "and test-batch losses"

        testCase "bad training settings are refused, naming the setting" <| fun () ->
            let test = TestData.generated 100 8
            let bad = SigmoidTrainingConfig(LearningRates = [| 0.1; 0.0 |])
            let train (c: SigmoidTrainingConfig) () = InitialisationCapture.Train(c, data.Value, test, 1L, 2L) |> ignore
            Check.throws<ArgumentException> (train bad)
            |> Check.messageHas [ "LearningRates"; "finite learning rates > 0"; "[0.1, 0]" ]
            let noRuns = SigmoidTrainingConfig(Runs = [||])
            Check.throws<ArgumentException> (train noRuns)
            |> Check.messageHas [ "Runs"; "at least one run" ]
            Check.throws<ArgumentException> (fun () -> Research.Core.Runtime.TorchThreads.Use 0 |> ignore)
            |> Check.messageHas [ "at least 1"; "got 0" ]
    ]
