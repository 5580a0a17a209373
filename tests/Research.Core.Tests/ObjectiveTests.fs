/// The training loop over objectives: MSE regression, a function of the parameters alone, train
/// accuracy and per-batch test losses, early stopping, divergence and stop requests, bad input.
module Research.Tests.ObjectiveTests

open System
open System.Collections.Generic
open Expecto
open TorchSharp
open TorchSharp.Modules
open Research.Core.Runtime
open Research.Core.Data
open Research.Core.Models
open Research.Core.Optim
open Research.Core.Training
open Research.Tests

let private values (t: torch.Tensor) = t.detach().``to``(torch.ScalarType.Float64).data<float>().ToArray()

/// y = 2x + 1 on 64 points of [−1, 1].
let private line () =
    let xs = Array2D.init 64 1 (fun i _ -> float32 (-1.0 + 2.0 * float i / 63.0))
    let ys = Array2D.init 64 1 (fun i _ -> 2.0f * xs.[i, 0] + 1.0f)
    TensorDataset.ForRegression(xs, ys, "y = 2x + 1")

/// Ten-class blobs (TestData.generated) as a data set.
let private blobs (n: int) (seed: int) = TensorDataset.FromMnist(TestData.generated n seed)

/// Copies of every state_dict tensor's bytes.
let private snapshot (model: Network) =
    [ for kv in model.state_dict() -> kv.Key, kv.Value.detach().contiguous().bytes.ToArray() ] |> Map.ofList

/// Feeds a constructed per-epoch sequence to an observer as its metric: value of epoch e.
let private constructed (sequence: float[]) = fun (s: EpochSummary) -> sequence.[s.Epoch]

/// Copies the weights at every epoch end.
type private EpochWeights(model: Network) =
    inherit TrainingObserver()
    member val ByEpoch = Dictionary<int, Map<string, byte[]>>()
    override this.OnEpochEnd(summary) = this.ByEpoch.[summary.Epoch] <- snapshot model

[<Tests>]
let regression =
    testSequenced <| testList "Training.objectives" [
        testCase "MSE regression learns y = 2x + 1 with a 1→1 linear net; its loss falls and Evaluate equals a direct MSE" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use data = line ()
            Expect.equal data.TargetKind TargetKind.Values "float targets are values"
            use model = Architectures.Mlp(MlpOptions([| 1; 1 |]))
            use sgd = new Sgd(model.parameters(), 0.1)
            let h = Trainer.Fit(model, sgd, DataObjective.MeanSquaredError, data, TrainOptions(BatchSize = 16, Epochs = 60), test = data)
            let first, last = h.Epochs.[0].TrainLoss, h.Epochs.[59].TrainLoss
            Expect.isLessThan last (1e-4 * first) $"train loss falls: {first} → {last}"
            Expect.floatClose { absolute = 1e-3; relative = 0.0 } (values (model.get_parameter "fc1.weight")).[0] 2.0 "slope 2"
            Expect.floatClose { absolute = 1e-3; relative = 0.0 } (values (model.get_parameter "fc1.bias")).[0] 1.0 "intercept 1"
            let e = Trainer.Evaluate(model, DataObjective.MeanSquaredError, data)
            let direct =
                use _ = torch.no_grad()
                model.eval()
                let out = values (model.call data.Inputs)
                model.train()
                let y = values data.Targets
                Array.map2 (fun o t -> (o - t) * (o - t)) out y |> Array.average
            Expect.floatClose { absolute = 1e-9; relative = 1e-4 } e.Loss direct "Evaluate = mean over elements of (output − y)²"
            Expect.isTrue (Double.IsNaN e.Accuracy) "no accuracy for regression"
            Expect.equal h.Epochs.[59].TestLoss e.Loss "the epoch's test loss is Evaluate's"
            Expect.isTrue (Double.IsNaN h.Epochs.[59].TrainAccuracy) "no train accuracy for regression"
            // The loss of a step is nn.functional.mse_loss of its batch (mean over the batch's elements).
            let loss = h.StepLoss.[h.StepLoss.Count - 1]
            Expect.isTrue (Double.IsFinite loss && loss >= 0.0) "step loss recorded"

        testCase "train accuracy equals a direct count over the batches as trained; the legacy Fit is cross-entropy" <| fun () ->
            TorchRuntime.Initialize(5L) |> ignore
            use data = blobs 200 4
            use model = Architectures.Mlp(MlpOptions([| 784; 32; 10 |]))
            use sgd = new Sgd(model.parameters(), 0.05)
            let counts = Dictionary<int, int64 * int64>()
            let spy =
                { new TrainingObserver() with
                    override _.OnAfterBackward(step) =
                        // An independent forward pass of the same batch with the parameters before the step.
                        use _ = torch.no_grad()
                        let logits = model.call step.Inputs
                        let correct = logits.argmax(1L).eq(step.Targets).sum().item<int64>()
                        let c, n = match counts.TryGetValue step.Epoch with | true, v -> v | _ -> (0L, 0L)
                        counts.[step.Epoch] <- (c + correct, n + step.Targets.shape.[0]) }
            let h = Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 32, Epochs = 3, Seed = 1L), observers = [ spy ])
            for s in h.Epochs do
                let c, n = counts.[s.Epoch]
                Expect.equal n 200L "every example seen once per epoch"
                Expect.equal s.TrainAccuracy (float c / float n) $"epoch {s.Epoch}: train accuracy"
            Expect.isGreaterThan h.Epochs.[2].TrainAccuracy h.Epochs.[0].TrainAccuracy "it learns"

        testCase "per-batch test losses average (weighted by batch size) to the test loss; train-set evaluation in eval mode" <| fun () ->
            TorchRuntime.Initialize(6L) |> ignore
            use train = blobs 256 7
            use test300 = blobs 300 8
            use test250 = blobs 250 9
            use model = Architectures.Mlp(MlpOptions([| 784; 16; 10 |], Dropout = 0.5))
            use sgd = new Sgd(model.parameters(), 0.05)
            let options = TrainOptions(BatchSize = 64, Epochs = 2, RecordTestBatchLosses = true, EvaluationBatchSize = 100, EvaluateTrainingSet = true)
            let h = Trainer.Fit(model, sgd, train, options, test = test300)
            for s in h.Epochs do
                let b = s.TestBatchLosses
                Expect.equal b.Count 3 "300 examples in batches of 100"
                Expect.floatClose { absolute = 0.0; relative = 1e-12 } (Seq.average b) s.TestLoss $"epoch {s.Epoch}: mean of batch losses"
            let last = h.Epochs.[1]
            let struct (directLoss, directAccuracy) = Trainer.Evaluate(model, train, 100)
            Expect.equal last.TrainEvalLoss directLoss "eval-mode training loss after the last epoch"
            Expect.equal last.TrainEvalAccuracy directAccuracy "eval-mode training accuracy"
            Expect.notEqual last.TrainEvalLoss last.TrainLoss "dropout: train-mode and eval-mode losses differ"
            let e = Trainer.Evaluate(model, DataObjective.CrossEntropy, test250, 100, batchLosses = true)
            let weighted = (100.0 * e.BatchLosses.[0] + 100.0 * e.BatchLosses.[1] + 50.0 * e.BatchLosses.[2]) / 250.0
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } weighted e.Loss "250 = 100 + 100 + 50: weighted mean"
            let plain = Trainer.Fit(model, sgd, train, TrainOptions(BatchSize = 64), test = test300)
            Expect.isNull plain.Epochs.[0].TestBatchLosses "batch losses only when asked"
            Expect.isTrue (Double.IsNaN plain.Epochs.[0].TrainEvalLoss) "train-set evaluation only when asked"

        testCase "a function of the parameters alone: SGD lr 0.1 on f = x² + y² follows x_{k+1} = 0.8·x_k to 1e-12; observers see every step" <| fun () ->
            TorchRuntime.EnsureNative()
            let start = [| 1.5; -0.75 |]
            use xy = new Parameter(torch.tensor(start, dtype = torch.float64))
            let sphere = FunctionObjective.TwoDimensional("x² + y²", xy, fun x y -> x * x + y * y)
            use sgd = new Sgd([ xy ], 0.1)
            let path = TrajectoryRecorder()
            let seen = ResizeArray<int64 * float * float[]>()
            let spy = { new TrainingObserver() with override _.OnAfterStep(s) = seen.Add((s.Iteration, s.Loss, s.ParameterValues())) }
            let h = Trainer.Minimize(sphere, sgd, 60, [ path; spy ])
            Expect.isFalse h.Diverged "converges"
            Expect.isNull h.StopReason "ran all its steps"
            Expect.equal h.StepLoss.Count 60 "f per step"
            Expect.equal path.Points.Count 61 "start and 60 steps"
            for k in 0 .. 60 do
                let expected = start |> Array.map (fun v -> v * Math.Pow(0.8, float k))
                for i in 0 .. 1 do
                    Expect.floatClose { absolute = 1e-300; relative = 1e-12 } path.Points.[k].[i] expected.[i] $"point {k}[{i}] = 0.8^k·start"
                if k < 60 then
                    let f = expected.[0] * expected.[0] + expected.[1] * expected.[1]
                    Expect.floatClose { absolute = 1e-300; relative = 1e-12 } h.StepLoss.[k] f $"f before step {k + 1}"
            Expect.equal [ for (i, _, _) in seen -> i ] [ 1L .. 60L ] "iterations 1..60"
            let i, v, p = seen.[9]
            Expect.equal v h.StepLoss.[9] "the value observers see is f before the step"
            Expect.sequenceEqual p path.Points.[10] "and the parameters after it"

        testCase "any toolkit optimizer minimises a 2-D function; f decreases for every kind" <| fun () ->
            TorchRuntime.EnsureNative()
            for kind in Enum.GetValues<OptimizerKind>() do
                use xy = new Parameter(torch.tensor([| 1.0; 2.0 |], dtype = torch.float64))
                let f = FunctionObjective.TwoDimensional("(x − 0.5)² + 3y²", xy, fun x y -> (x - 0.5) * (x - 0.5) + 3.0 * y * y)
                use opt = Optimizers.Create(kind, [ xy ], dict [ "lr", box 0.05 ])
                let h = Trainer.Minimize(f, opt, 40)
                Expect.isLessThan h.StepLoss.[39] h.StepLoss.[0] $"{kind}: f decreases"

        testCase "a run whose f becomes infinite stops there and is marked diverged (a flag, not an exception)" <| fun () ->
            TorchRuntime.EnsureNative()
            use x = new Parameter(torch.tensor([| 2.0 |], dtype = torch.float64))
            let quartic = FunctionObjective("x⁴", x, fun p -> (p * p * p * p).sum())
            use sgd = new Sgd([ x ], 1.0)
            let mutable observed = 0
            let spy = { new TrainingObserver() with override _.OnAfterStep(_) = observed <- observed + 1 }
            let h = Trainer.Minimize(quartic, sgd, 100, [ spy ])
            Expect.isTrue h.Diverged "diverged"
            let k = h.DivergedAtIteration.Value
            Expect.isLessThan k 10L $"within a few steps (x → x − 4x³ blows up): step {k}"
            Expect.equal h.StepLoss.Count (int k) "f recorded up to the step that diverged"
            Expect.isFalse (Double.IsFinite h.StepLoss.[int k - 1]) "the last f is not finite"
            Expect.equal observed (int k - 1) "no observer call for the diverged step"
            Expect.stringContains h.StopReason "diverged" "stop reason"

        testCase "a diverging data run is flagged; with StopOnDivergence it stops at that step" <| fun () ->
            TorchRuntime.Initialize(14L) |> ignore
            use data = blobs 512 5
            let run (stopOnDivergence: bool) =
                TorchRuntime.Seed 14L
                use model = Architectures.Mlp(MlpOptions([| 784; 64; 10 |]))
                use sgd = new Sgd(model.parameters(), 10.0)
                Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 32, Epochs = 3, MaxSteps = Nullable 40L, StopOnDivergence = stopOnDivergence))
            let going = run false
            Expect.isTrue going.Diverged "flagged"
            Expect.equal going.StepLoss.Count 40 "keeps training by default"
            let stopped = run true
            let k = stopped.DivergedAtIteration.Value
            Expect.equal k going.DivergedAtIteration.Value "same step"
            Expect.equal stopped.StepLoss.Count (int k) "stops at the diverged step"
            Expect.stringContains stopped.StopReason "diverged" "reason"

        testCase "StepContext.RequestStop ends the run after that step, with the reason" <| fun () ->
            TorchRuntime.Initialize(3L) |> ignore
            use data = blobs 256 3
            use model = Architectures.Mlp(MlpOptions([| 784; 16; 10 |]))
            use sgd = new Sgd(model.parameters(), 0.05)
            let stopper = ScheduleObserver(fun s -> if s.Iteration = 7L then s.RequestStop "seven steps are enough")
            let h = Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 16, Epochs = 5), observers = [ stopper ])
            Expect.equal h.StepLoss.Count 7 "7 steps"
            Expect.equal h.StopReason "seven steps are enough" "reason"
            Expect.equal h.Epochs.Count 1 "the partial epoch is summarised"
            Expect.equal sgd.StepCount 7L "the 7th step was applied"
    ]

[<Tests>]
let earlyStopping =
    testSequenced <| testList "Training.EarlyStopping" [
        testCase "stops after `patience` epochs without improvement on a constructed loss sequence and restores the best epoch's weights bit for bit" <| fun () ->
            TorchRuntime.Initialize(8L) |> ignore
            use data = blobs 128 6
            use model = Architectures.Mlp(MlpOptions([| 784; 16; 10 |]))
            use sgd = new Sgd(model.parameters(), 0.05)
            // Improvements at epochs 0, 1, 2; none at 3 and 4 → with patience 2 the run stops after epoch 4.
            let sequence = [| 5.0; 4.0; 3.0; 3.5; 3.2; 3.1; 2.0; 1.0 |]
            use stopper = new EarlyStopping("constructed loss", constructed sequence, MetricGoal.Minimize, patience = 2)
            let spy = EpochWeights(model)
            let h = Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 32, Epochs = 8), observers = [ spy; stopper ])
            Expect.equal h.Epochs.Count 5 "epochs 0..4"
            Expect.equal stopper.StoppedAfterEpoch (Nullable 4) "stopped after epoch 4"
            Expect.equal stopper.BestEpoch (Nullable 2) "best epoch 2"
            Expect.equal stopper.BestValue 3.0 "best value"
            Expect.isTrue stopper.Restored "restored"
            Expect.stringContains h.StopReason "early stopping" "reason"
            Expect.stringContains h.StopReason "epoch 2" "the reason names the best epoch"
            let now = snapshot model
            Expect.notEqual spy.ByEpoch.[4] spy.ByEpoch.[2] "training moved the weights after epoch 2"
            for kv in spy.ByEpoch.[2] do
                Expect.sequenceEqual now.[kv.Key] kv.Value $"{kv.Key}: the weights of epoch 2, bit for bit"

        testCase "min_delta: an improvement smaller than it does not count; KeepBest trains every epoch and keeps the best; accuracies are maximised" <| fun () ->
            TorchRuntime.Initialize(9L) |> ignore
            use data = blobs 128 6
            use model = Architectures.Mlp(MlpOptions([| 784; 16; 10 |]))
            use sgd = new Sgd(model.parameters(), 0.05)
            use delta = new EarlyStopping("constructed", constructed [| 1.0; 0.95; 0.94; 0.935; 0.5 |], MetricGoal.Minimize, 2, minDelta = 0.02)
            let h = Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 64, Epochs = 5), observers = [ delta ])
            Expect.equal (delta.BestEpoch, delta.StoppedAfterEpoch, h.Epochs.Count) (Nullable 1, Nullable 3, 4) "0.94 and 0.935 are within 0.02 of 0.95"
            use keep = EarlyStopping.KeepBest(EpochMetric.TrainLoss)
            let custom = new EarlyStopping("constructed", constructed [| 5.0; 4.0; 3.0; 3.5; 3.2; 3.1; 4.0; 4.0 |], MetricGoal.Minimize, Int32.MaxValue)
            use _ = custom
            let spy = EpochWeights(model)
            let h = Trainer.Fit(model, sgd, data, TrainOptions(BatchSize = 64, Epochs = 8), observers = [ spy; custom; keep ])
            Expect.equal h.Epochs.Count 8 "KeepBest never stops"
            Expect.isNull h.StopReason "no stop"
            Expect.equal custom.BestEpoch (Nullable 2) "best epoch of the sequence"
            Expect.equal keep.Patience Int32.MaxValue "KeepBest: patience = ∞"
            // Observers restore in order at the end: keep (train loss) restores last.
            let now = snapshot model
            for kv in spy.ByEpoch.[keep.BestEpoch.Value] do
                Expect.sequenceEqual now.[kv.Key] kv.Value $"{kv.Key}: weights of KeepBest's best epoch"
            Expect.equal (EarlyStopping(EpochMetric.TestAccuracy)).Goal MetricGoal.Maximize "accuracy: maximise"
            Expect.equal (EarlyStopping(EpochMetric.TestLoss)).Goal MetricGoal.Minimize "loss: minimise"

        testCase "EarlyStopping needs a network run; bad patience and min_delta are rejected with the value" <| fun () ->
            TorchRuntime.EnsureNative()
            use x = new Parameter(torch.tensor([| 1.0 |], dtype = torch.float64))
            use sgd = new Sgd([ x ], 0.1)
            let f = FunctionObjective("x²", x, fun p -> (p * p).sum())
            Check.throws<InvalidOperationException> (fun () -> Trainer.Minimize(f, sgd, 3, [ new EarlyStopping() ]) |> ignore)
            |> Check.messageHas [ "EarlyStopping"; "Minimize" ]
            Check.throws<ArgumentException> (fun () -> new EarlyStopping(patience = 0) |> ignore) |> Check.messageHas [ "patience"; "got 0" ]
            Check.throws<ArgumentException> (fun () -> new EarlyStopping(minDelta = -0.1) |> ignore) |> Check.messageHas [ "min_delta"; "-0.1" ]
    ]

[<Tests>]
let badInput =
    testSequenced <| testList "Training.bad input" [
        testCase "options, learning rate, objective/target and output/target mismatches get clear errors naming the value" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use classes = blobs 64 1
            use regression = line ()
            use mlp = Architectures.Mlp(MlpOptions([| 784; 8; 10 |]))
            use linear = Architectures.Mlp(MlpOptions([| 1; 2 |]))
            use sgd = new Sgd(mlp.parameters(), 0.1)
            use sgd2 = new Sgd(linear.parameters(), 0.1)
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, sgd, classes, TrainOptions(BatchSize = 0)) |> ignore)
            |> Check.messageHas [ "BatchSize"; "got 0" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, sgd, classes, TrainOptions(EvaluationBatchSize = -5)) |> ignore)
            |> Check.messageHas [ "EvaluationBatchSize"; "-5" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, sgd, classes, TrainOptions(Epochs = 0)) |> ignore)
            |> Check.messageHas [ "Epochs"; "got 0" ]
            let wrapped = TorchSharpOptimizer("SGD", torch.optim.SGD(mlp.parameters(), 0.1))
            wrapped.LearningRate <- nan
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, wrapped, classes, TrainOptions()) |> ignore)
            |> Check.messageHas [ "SGD"; "learning rate NaN" ]
            Check.throws<ArgumentException> (fun () -> new Sgd(mlp.parameters(), nan) |> ignore) |> Check.messageHas [ "lr"; "NaN" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, sgd, DataObjective.MeanSquaredError, classes, TrainOptions()) |> ignore)
            |> Check.messageHas [ "mse"; "ClassLabels"; "expected Values"; "DataObjective.CrossEntropy" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(linear, sgd2, regression, TrainOptions()) |> ignore)
            |> Check.messageHas [ "cross_entropy"; "Values"; "DataObjective.MeanSquaredError" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Evaluate(linear, regression) |> ignore)
            |> Check.messageHas [ "cross_entropy"; "Values" ]
            Check.throws<ArgumentException> (fun () ->
                Trainer.Fit(linear, sgd2, DataObjective.MeanSquaredError, regression, TrainOptions(BatchSize = 16)) |> ignore)
            |> Check.messageHas [ "mse"; "[16, 2]"; "[16, 1]"; "1 outputs" ]
            Check.throws<ArgumentException> (fun () -> Trainer.Fit(mlp, sgd, classes, TrainOptions(), test = regression) |> ignore)
            |> Check.messageHas [ "test data"; "Values" ]

        testCase "function objectives, regression data and Minimize reject bad input naming it" <| fun () ->
            TorchRuntime.EnsureNative()
            use xyz = new Parameter(torch.zeros(3L, dtype = torch.float64))
            Check.throws<ArgumentException> (fun () -> FunctionObjective.TwoDimensional("f", xyz, fun x y -> x + y) |> ignore)
            |> Check.messageHas [ "xy"; "2 elements"; "[3]" ]
            use xy = new Parameter(torch.zeros(2L, dtype = torch.float64))
            use sgd = new Sgd([ xy ], 0.1)
            let f = FunctionObjective.TwoDimensional("x + y", xy, fun x y -> x + y)
            Check.throws<ArgumentException> (fun () -> Trainer.Minimize(f, sgd, 0) |> ignore) |> Check.messageHas [ "steps"; "got 0" ]
            let vector = FunctionObjective("vector", xy, fun p -> p * 2.0)
            Check.throws<InvalidOperationException> (fun () -> Trainer.Minimize(vector, sgd, 1) |> ignore)
            |> Check.messageHas [ "vector"; "[2]"; "scalar" ]
            let constant = FunctionObjective("constant", xy, fun _ -> torch.tensor(1.0))
            Check.throws<InvalidOperationException> (fun () -> Trainer.Minimize(constant, sgd, 1) |> ignore)
            |> Check.messageHas [ "constant"; "does not depend on the parameters" ]
            use other = new Parameter(torch.zeros(2L, dtype = torch.float64))
            use otherSgd = new Sgd([ other ], 0.1)
            Check.throws<ArgumentException> (fun () -> Trainer.Minimize(f, otherSgd, 1) |> ignore)
            |> Check.messageHas [ "not one of the SGD optimizer's"; "objective.Parameters" ]
            Check.throws<ArgumentException> (fun () ->
                TensorDataset.ForRegression(Array2D.zeroCreate 4 1, Array2D.zeroCreate 3 1) |> ignore)
            |> Check.messageHas [ "targets"; "expected 4 rows"; "[3, 1]" ]
            Check.throws<ArgumentException> (fun () ->
                new TensorDataset(torch.zeros(4L, 1L), torch.zeros(4L), "vector targets") |> ignore)
            |> Check.messageHas [ "[N, d]"; "[4]"; "[N, 1]" ]
    ]
