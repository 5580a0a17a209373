/// The regularisation study's training (Core, Studies/Regularisation): the overfitting demo as MSE
/// regression through the toolkit's loop (its data, the lecture's eval-mode bug, early stopping that
/// restores the best epoch, Monte Carlo dropout), the sigmoid MLP's matched penalties and BatchNorm's
/// running-mean check, and the CNN experiment's runs on small data.
module Research.Tests.RegularisationStudyTests

open System
open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Models
open Research.Core.Training
open Research.Core.Studies.Regularisation
open Research.Tests

/// The demo at a tenth of its length: 150 full-batch epochs, curves every 50, 200 MC passes.
let private shortDemo = RegressionExperimentConfig(Epochs = 150, SnapshotEvery = 50, McPasses = 200, Patience = 20)

let private demo = lazy (OverfittingDemo.Run(shortDemo, [| 5L |]))

let private run (net: RegressionNet) = demo.Value.Runs |> Array.find (fun r -> r.Net = net)

[<Tests>]
let regression =
    testSequenced <| testList "Studies.Regularisation.OverfittingDemo" [
        testCase "data: train and test x = linspace(−1, 1, 50), independent noise, sd 0.3, seeded" <| fun () ->
            let a = OverfittingDemo.Data(shortDemo, 5L)
            let b = OverfittingDemo.Data(shortDemo, 5L)
            Expect.equal a.TrainY b.TrainY "reproducible"
            Expect.equal a.TrainX a.TestX "the same x"
            Expect.floatClose Accuracy.veryHigh a.TrainX.[0] -1.0 "from −1"
            Expect.floatClose Accuracy.veryHigh a.TrainX.[49] 1.0 "to 1"
            Expect.notEqual a.TrainY a.TestY "independent noise"
            let residual = Array.map2 (-) a.TrainY a.TrainX
            let sd = sqrt ((residual |> Array.sumBy (fun r -> r * r)) / 50.0)
            Expect.isTrue (sd > 0.2 && sd < 0.4) $"noise sd {sd} ≈ 0.3"

        testCase "MSE regression in the loop: the plain net's train MSE falls; final MSE = last epoch's" <| fun () ->
            let r = run RegressionNet.Plain
            Expect.equal r.Epochs.Length 150 "every epoch"
            Expect.isLessThan r.Epochs.[149].TrainEvalLoss r.Epochs.[0].TrainEvalLoss "train MSE falls"
            Expect.floatClose Accuracy.high r.TrainMse r.Epochs.[149].TrainEvalLoss "final eval-mode train MSE"
            Expect.equal r.SnapshotEpochs [| 0; 50; 100; 150 |] "curves before training and every 50 epochs"
            Expect.equal r.Curves.[0].Length 101 "on the 101-point grid"

        testCase "the lecture's bug: eval() without train() turns Dropout off after epoch 0" <| fun () ->
            let asRun = run RegressionNet.DropoutAsRun
            // full batch: the train-mode loss of epoch e is taken at the weights the eval loss of e − 1 saw
            for e in 2 .. 149 do
                let trainMode, evalMode = asRun.Epochs.[e].TrainLoss, asRun.Epochs.[e - 1].TrainEvalLoss
                Expect.floatClose Accuracy.medium trainMode evalMode $"epoch {e}"
            let dropout = run RegressionNet.Dropout
            let gap e = abs (dropout.Epochs.[e].TrainLoss - dropout.Epochs.[e - 1].TrainEvalLoss)
            let gaps = [ for e in 2 .. 149 -> gap e ]
            Expect.isGreaterThan (List.max gaps) 1e-3 "with Dropout on, the train-mode loss differs"

        testCase "early stopping on the validation MSE stops after its patience, restores the best epoch" <| fun () ->
            let r = run RegressionNet.EarlyStopped
            Expect.isNotNull r.StopReason "stopped early"
            Expect.isLessThan r.Epochs.Length 150 "before the last epoch"
            let best = r.Epochs |> Array.minBy (fun e -> e.TestLoss) // the validation MSE for this net
            Expect.equal (r.Epochs.Length - 1 - best.Epoch) 20 "patience 20 epochs after the best"
            Expect.floatClose Accuracy.high r.TrainMse best.TrainEvalLoss "the best epoch's weights"

        testCase "MC dropout on the demo: [passes, grid + test points, 1]; the passes differ" <| fun () ->
            let r = run RegressionNet.Dropout
            let mc = r.McPredictions
            Expect.equal (mc.GetLength 0, mc.GetLength 1, mc.GetLength 2) (200, 151, 1) "shape"
            let at j = Array.init 200 (fun t -> float mc.[t, j, 0])
            let spread = Array.max (at 50) - Array.min (at 50)
            Expect.isGreaterThan spread 0.01 "passes differ"
            Expect.isNull (run RegressionNet.Plain).McPredictions "no MC for a net without Dropout"
            Check.throws<ArgumentOutOfRangeException> (fun () ->
                RegularisationNetworks.Regression(10, [| 0.5; 1.0 |]) |> ignore)
            |> Check.messageHas [ "drop2"; "1" ]
    ]

[<Tests>]
let sigmoid =
    testSequenced <| testList "Studies.Regularisation.SigmoidMlp" [
        testCase "matched L2: λ₂·Σw₀² = λ₁·Σ|w₀|; mean of BatchNorm's input = W₁·mean(x)" <| fun () ->
            let split, _ = TestData.trainingSplit 640
            let runs =
                [| SigmoidRun("bn", "BatchNorm, weights kept", Normalization.BatchNorm, 1e-2, KeepWeights = true)
                   SigmoidRun.Lecture |> Array.find (fun r -> r.Id = "l2-lr-0.1") |]
            let config = SigmoidExperimentConfig(Runs = runs, Epochs = 1, GradientBatches = 3, Device = "cpu")
            let results = SigmoidMlpExperiment.Run(config, [| 3L |], split, split.Take 200)
            let bn, l2 = results.[0], results.[1]
            TorchRuntime.Seed 3L
            use initial = RegularisationNetworks.SigmoidMlp(config.Widths, runs.[1])
            let l1Mass = WeightPenalty.Magnitude(initial, PenaltyNorm.L1)
            let l2Mass = WeightPenalty.Magnitude(initial, PenaltyNorm.L2)
            Expect.floatClose Accuracy.high (l2.PenaltyStrength * l2Mass) (1e-4 * l1Mass) "equal penalties at the start"
            Expect.isNotNull l2.FinalWeights "weights kept"
            Expect.equal l2.FinalWeights.Length (784 * 100 + 100 * 100 + 100 * 100 + 100 * 10) "every weight entry"
            let check = bn.RunningMean
            Expect.equal check.Batches 20 "640 / 32 batches stored"
            Expect.equal check.RunningMean.Length 100 "one per feature"
            Expect.equal bn.GradientsAtStart.Length 3 "three gradient batches"
            let layers = [ for l in bn.GradientsAtStart.[0].Layers -> l.Name ]
            Expect.equal layers [ "fc1"; "fc2"; "fc3"; "fc4" ] "every Linear layer"
            // fc1 has no bias before BatchNorm: the mean of its output over the data is W₁·mean(x)
            let pixel j = [| for i in 0 .. 639 -> float split.Images.[i * 784 + j] |]
            let meanX = Array.init 784 (pixel >> Array.average)
            let w1 i j = float bn.FinalWeights.[i * 784 + j]
            let expected = Array.init 100 (fun i -> Seq.sum (seq { for j in 0 .. 783 -> w1 i j * meanX.[j] }))
            let gap = Array.map2 (fun a b -> abs (a - b)) expected check.PopulationMean |> Array.max
            Expect.isLessThan gap 1e-4 "population mean"
            Expect.equal bn.StepLoss.Length 20 "one loss per step"
            Expect.isNull l2.RunningMean "no BatchNorm, no check"
    ]

[<Tests>]
let cnn =
    testSequenced <| testList "Studies.Regularisation.Cnn" [
        testCase "every head on every seed, variants and sensitivity on theirs, MC dropout on Dropout" <| fun () ->
            let train, _ = TestData.trainingSplit 300
            let config =
                CnnExperimentConfig(Epochs = 1, VariantSeeds = 1, SensitivityBatchSizes = [| 64 |],
                                    SensitivitySeeds = 1,
                                    McPasses = 4, McTestExamples = 50, Device = "cpu",
                                    Variants = [| CnnVariant.NormalizationVariants.[4] |],
                                    SensitivityHeads = [| "batchnorm-wide"; "seminar-layernorm" |])
            let r = CnnExperiment.Run(config, [| 1L; 2L |], train, train.Take 100)
            Expect.equal r.Heads.Length 12 "six heads × two seeds"
            let ids = [ for v in CnnVariant.SeminarHeads -> v.Id ]
            Expect.equal [ for h in r.Heads.[0 .. 5] -> h.Variant ] ids "in order"
            Expect.equal r.Variants.Length 1 "one variant on one seed"
            let sensitivity = [ for s in r.Sensitivity -> s.Variant, s.BatchSize ]
            Expect.equal sensitivity [ "batchnorm-wide", 64; "seminar-layernorm", 64 ] "sensitivity"
            Expect.equal r.McDropout.Length 2 "one per seed"
            let logits = r.McDropout.[0].Logits
            Expect.equal (logits.GetLength 0, logits.GetLength 1) (4, 50) "passes × images"
            let e = r.Heads.[0].Epochs.[0]
            Expect.isTrue (Double.IsFinite e.TrainEvalLoss && Double.IsFinite e.TestAccuracy) "eval-mode losses"
            let asRun = r.Heads |> Array.find (fun h -> h.Variant = "dropconnect-as-run")
            let convs = (2L * 1L * 9L + 2L) + (4L * 2L * 9L + 4L)
            Expect.equal asRun.Parameters (convs + 196L * 10L + 10L) "the convolutions and one 196→10 layer"
    ]
