namespace Research.Analysis.Studies.Regularisation

open System
open System.Globalization
open Research.Core.Studies.Regularisation
open Research.Analysis
open Research.Analysis.Studies.Regularisation.RegularisationAnalysis

/// <summary>What the claims of the regularisation study are evaluated on: everything it trained.</summary>
type RegularisationEvidence =
    { /// The seminar CNN's heads, variants, batch-size runs and Monte Carlo dropout.
      Cnn: CnnResults
      /// The sigmoid MLP's runs.
      Mlp: SigmoidMlpRun[]
      /// The overfitting demo.
      Regression: RegressionResults
      /// Bootstrap resamples of the intervals over seeds.
      Resamples: int
      /// Seeds of the claims' bootstrap intervals, by name ("claims/…").
      Stream: string -> int64 }

/// <summary>
/// The conclusions of the seminar "improving convergence" (parts 2–4) and the lecture "convergence and
/// overfitting" (parts 3–4), each as a claim with a decision rule fixed before the data is seen, on an
/// interval over seeds (the mean over seeds with its 95% percentile-bootstrap interval).
/// </summary>
module RegularisationClaims =

    let private seminar = "seminar \"improving convergence\", parts 2–4"
    let private lecture = "lecture \"convergence and overfitting\", parts 3–4"
    let private inv (x: float) = x.ToString("G4", CultureInfo.InvariantCulture)

    let private over (e: RegularisationEvidence) (id: string) (values: float[]) =
        summarise e.Resamples (e.Stream $"claims/{id}") values

    /// The final test accuracy of a minus b's, per seed (paired by seed).
    let private accuracyGap (e: RegularisationEvidence) (a: string) (b: string) =
        paired (fun x y -> (last x.Epochs).TestAccuracy - (last y.Epochs).TestAccuracy) (runsOf a e.Cnn.Heads)
            (runsOf b e.Cnn.Heads)

    /// The final test accuracy of a sigmoid-MLP run, per seed.
    let private mlpAccuracy (e: RegularisationEvidence) (id: string) =
        mlpRuns id e.Mlp |> Array.map (fun r -> (last r.Epochs).TestAccuracy)

    /// BatchNorm's final test accuracy minus the seminar LayerNorm's, per seed.
    let private bnMinusLn (e: RegularisationEvidence) = accuracyGap e "batchnorm-wide" "seminar-layernorm"

    /// Values per seed in one line, for an effect's details.
    let private perSeed (values: float[]) = String.Join(" ", values |> Array.map inv)

    let private create id statement source evidence rule (expectations: Map<string, Verdict option>) fallback compute =
        let expected = match expectations.TryFind id with Some v -> v | None -> fallback
        Claims.create id statement source evidence rule expected compute

    /// "Dropout beats DropConnect in final test accuracy" for one of the two DropConnect heads.
    let dropoutBeatsDropConnect (dropConnect: string) (what: string) expectations =
        let id =
            if dropConnect = "dropconnect-as-run" then "dropout-beats-dropconnect"
            else "dropout-beats-dropconnect-all-layers"
        create id $"Dropout beats DropConnect ({what}) in final test accuracy"
            $"{seminar}: the comparison of the Dropout and DropConnect runs"
            $"CNN heads dropout and {dropConnect}, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e ->
                let gaps = accuracyGap e "dropout" dropConnect
                effect "mean over seeds of test accuracy (Dropout − DropConnect)" (over e id gaps))

    /// "DropConnect is worse than the baseline" for one of the two DropConnect heads.
    let dropConnectWorseThanBaseline (dropConnect: string) (what: string) expectations =
        let id =
            if dropConnect = "dropconnect-as-run" then "dropconnect-worse-than-baseline"
            else "dropconnect-all-layers-worse-than-baseline"
        create id $"DropConnect ({what}) is worse than the baseline in final test accuracy"
            $"{seminar}: DropConnect against the baseline" $"CNN heads baseline and {dropConnect}, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e ->
                let gaps = accuracyGap e "baseline" dropConnect
                effect "mean over seeds of test accuracy (baseline − DropConnect)" (over e id gaps))

    /// "BatchNorm and LayerNorm differ little": equivalent within 0.5 percentage points.
    let batchNormLayerNormEquivalent expectations =
        let id = "batchnorm-layernorm-equivalent"
        create id ("BatchNorm and the seminar's LayerNorm are equivalent within 0.5 percentage points of final " +
                  "test accuracy")
            $"{seminar}: \"BatchNorm and LayerNorm differ little\"" ("CNN heads batchnorm-wide and " +
                                                                    "seminar-layernorm, every seed")
            (DecisionRule.intervalWithin -0.005 0.005) expectations None
            (fun e -> effect "mean over seeds of test accuracy (BatchNorm − LayerNorm)" (over e id (bnMinusLn e)))

    /// "BatchNorm is slightly better than LayerNorm."
    let batchNormBetterThanLayerNorm expectations =
        let id = "batchnorm-better-than-layernorm"
        create id "BatchNorm is the better of BatchNorm and the seminar's LayerNorm in final test accuracy"
            $"{seminar}: \"BatchNorm slightly better\"" "CNN heads batchnorm-wide and seminar-layernorm, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e -> effect "mean over seeds of test accuracy (BatchNorm − LayerNorm)" (over e id (bnMinusLn e)))

    /// "Normalised nets saturate after 1–2 epochs": 99% of the final test accuracy by epoch 2.
    let normalisedNetsSaturate expectations =
        let id = "normalised-nets-saturate-by-epoch-2"
        create id "The normalised nets (BatchNorm, LayerNorm) reach 99% of their final test accuracy by epoch 2"
            $"{seminar}: \"normalised nets saturate after 1–2 epochs\""
            "CNN heads batchnorm-wide and seminar-layernorm, every seed"
            (DecisionRule.intervalAbove 0.99) expectations None
            (fun e ->
                let ratios id = runsOf id e.Cnn.Heads |> Array.map (accuracyFraction 2)
                let bn, ln = ratios "batchnorm-wide", ratios "seminar-layernorm"
                let est, lo, hi =
                    Bootstrap.groupInterval (e.Stream $"claims/{id}") e.Resamples 0.95
                        (fun g -> min (Array.average g.[0]) (Array.average g.[1])) [| bn; ln |]
                let quantity = "smaller of the two nets' mean (test accuracy at epoch 2 / final)"
                { Effect.Interval(quantity, est, lo, hi, 0.95, bn.Length + ln.Length)
                    with Details = [ "BatchNorm per seed", perSeed bn; "LayerNorm per seed", perSeed ln ] })

    /// "Train quality is much worse than test": with Dropout the train-mode loss exceeds the test loss.
    let dropoutTrainLossExceedsTest expectations =
        let id = "dropout-train-loss-exceeds-test"
        create id "With Dropout, the training loss as trained (train mode) exceeds the test loss in the last epoch"
            $"{seminar}: \"train quality is much worse than test\"" "CNN head dropout, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e ->
                let runs = runsOf "dropout" e.Cnn.Heads
                let gaps = final (fun s -> s.TrainLoss - s.TestLoss) runs
                { effect "mean over seeds of (train-mode loss − test loss), last epoch" (over e id gaps) with
                    Details = [ "eval-mode train loss − test loss per seed",
                                perSeed (final (fun s -> s.TrainEvalLoss - s.TestLoss) runs) ] })

    /// "BatchNorm allows a higher learning rate": > 90% test accuracy at lr 1e-2, where lr 1e-4 stalls.
    let batchNormAllowsHighLearningRate expectations =
        let id = "batchnorm-allows-high-lr"
        create id ("BatchNorm lets the sigmoid MLP train at lr 1e-2 (test accuracy > 90%) where it stalls at lr " +
                  "1e-4 (below 90%)")
            $"{lecture}: \"BN allows a higher learning rate\"" "sigmoid MLP runs bn-lr-1e-2 and bn-lr-1e-4, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e ->
                let accuracy = mlpAccuracy e
                let high, low = accuracy "bn-lr-1e-2", accuracy "bn-lr-1e-4"
                let est, lo, hi =
                    Bootstrap.groupInterval (e.Stream $"claims/{id}") e.Resamples 0.95
                        (fun g -> min (Array.average g.[0] - 0.9) (0.9 - Array.average g.[1])) [| high; low |]
                let quantity = "min(mean accuracy at 1e-2 − 0.9, 0.9 − mean accuracy at 1e-4)"
                { Effect.Interval(quantity, est, lo, hi, 0.95, high.Length + low.Length)
                    with Details = [ "accuracy at lr 1e-2 per seed", perSeed high
                                     "accuracy at lr 1e-4 per seed", perSeed low ] })

    /// "Without Dropout the net overfits": test MSE > 1.5 × train MSE after the last epoch.
    let regressionOverfits expectations =
        let id = "regression-overfits-without-dropout"
        create id "Without Dropout the regression net overfits: test MSE > 1.5 × train MSE after the last epoch"
            $"{lecture}: the overfitting demo" "overfitting demo, net without Dropout, every seed"
            (DecisionRule.intervalAbove 1.5) expectations None
            (fun e ->
                let ratios =
                    regressionRuns RegressionNet.Plain e.Regression |> Array.map (fun r -> r.TestMse / r.TrainMse)
                effect "mean over seeds of test MSE / train MSE (eval mode)" (over e id ratios))

    /// "Dropout lowers the test MSE" of the regression net.
    let dropoutLowersTestMse expectations =
        let id = "dropout-lowers-test-mse"
        create id "Dropout lowers the regression net's test MSE after the last epoch"
            $"{lecture}: the overfitting demo" "overfitting demo, nets with and without Dropout, every seed"
            (DecisionRule.intervalAbove 0.0) expectations None
            (fun e ->
                let plain = regressionRuns RegressionNet.Plain e.Regression
                let dropout = regressionRuns RegressionNet.Dropout e.Regression
                let gaps = Array.map2 (fun (p: RegressionRun) (d: RegressionRun) -> p.TestMse - d.TestMse) plain dropout
                effect "mean over seeds of test MSE (without − with Dropout)" (over e id gaps))

    /// The coverage of the test points by the MC-dropout 95% band, per seed.
    let private mcCoverage (e: RegularisationEvidence) =
        [| for r in regressionRuns RegressionNet.Dropout e.Regression do
            let data = dataOf e.Regression r
            let b = band data.Grid.Length data.TestX.Length r.McPredictions
            yield coverage b data.TestY |]

    /// The coverage of the test points by mean ± 1.96·√(Var of the passes + σ̂²), σ̂² the train MSE.
    let private mcCoverageWithNoise (e: RegularisationEvidence) =
        [| for r in regressionRuns RegressionNet.Dropout e.Regression do
            let data = dataOf e.Regression r
            yield coverageWithNoise r.TrainMse data.Grid.Length data.TestX.Length r.McPredictions data.TestY |]

    /// "MC dropout gives a predictive interval": its 95% band covers 85–99% of the test points.
    let mcBandCoverage expectations =
        let id = "mc-band-coverage"
        create id "The MC-dropout 95% band (1,000 passes) covers between 85% and 99% of the test points"
            $"{lecture}: MC dropout on the overfitting demo" ("overfitting demo, Dropout net, Monte Carlo passes, " +
                                                             "every seed")
            (DecisionRule.intervalWithin 0.85 0.99) expectations None
            (fun e ->
                let inside = over e id (mcCoverage e)
                { effect "mean over seeds of the fraction of test points inside the band" inside with
                    Details = [ "with the noise added (σ̂² = train MSE), per seed", perSeed (mcCoverageWithNoise e) ] })

    /// "MC dropout flags the inputs the network is unsure about" on MNIST.
    let mcUncertainLessAccurate expectations =
        let id = "mc-uncertain-less-accurate"
        create id ("On MNIST the 10% of test images with the highest MC-dropout entropy are less accurate than the " +
                  "10% with the lowest")
            $"{lecture}: MC dropout flags uncertain inputs" ("CNN Dropout head, Monte Carlo passes over test " +
                                                            "images, every seed")
            (DecisionRule.intervalAbove 0.0) expectations (Some Holds)
            (fun e ->
                let gaps =
                    [| for m in e.Cnn.McDropout ->
                        let certain, uncertain = accuracyByCertainty 0.1 (classify m.Logits m.Labels)
                        certain - uncertain |]
                effect "mean over seeds of accuracy (most certain 10% − most uncertain 10%)" (over e id gaps))

    /// "L2 gives many small weights, L1 sparse ones."
    let l1SparserThanL2 expectations =
        let id = "l1-sparser-than-l2"
        create id ("An L1 penalty leaves a larger fraction of weights below 1e-3 in magnitude than an L2 penalty " +
                  "of matched strength")
            $"{lecture}: \"L2 gives many small weights, L1 sparse ones\""
            "sigmoid MLP runs l1-lr-0.1 and l2-lr-0.1, every seed"
            (DecisionRule.intervalAbove 0.0) expectations (Some Holds)
            (fun e ->
                let fraction id = mlpRuns id e.Mlp |> Array.map (fun r -> fractionBelow 1e-3 r.FinalWeights)
                let gaps = Array.map2 (-) (fraction "l1-lr-0.1") (fraction "l2-lr-0.1")
                effect "mean over seeds of the fraction |w| < 1e-3 (L1 − L2)" (over e id gaps))

    /// "The moving average estimates the mean accurately": within 5% after one epoch.
    let runningMeanAccurate expectations =
        let id = "running-mean-within-5-percent"
        create id ("BatchNorm's running mean is within 5% (median over features of the relative error) of the " +
                  "population mean after one epoch")
            $"{lecture}: \"the moving average estimates the mean accurately with far less memory\""
            "sigmoid MLP run bn-lr-1e-2: first BatchNorm layer after epoch 1, every seed"
            (DecisionRule.intervalBelow 0.05) expectations None
            (fun e ->
                let checks = mlpRuns "bn-lr-1e-2" e.Mlp |> Array.choose (fun r -> Option.ofObj r.RunningMean)
                let errors = checks |> Array.map (fun c -> medianRelativeError c.RunningMean c.PopulationMean)
                let stored = checks |> Array.map (fun c -> medianRelativeError c.MeanOfBatchMeans c.PopulationMean)
                { effect "mean over seeds of the median relative error of running_mean" (over e id errors) with
                    Details = [ "mean of all stored batch means, its error per seed", perSeed stored ] })

    /// "A hand-written Dropout gives no gain on MNIST" (the sigmoid MLP).
    let writtenOutDropoutNoGain expectations =
        let id = "written-out-dropout-no-gain"
        create id ("The hand-written Dropout gives the sigmoid MLP no gain: less than 0.5 percentage points of " +
                  "test accuracy")
            $"{lecture}: a hand-written Dropout on MNIST" "sigmoid MLP runs dropout-lr-0.1 and plain-lr-0.1, every seed"
            (DecisionRule.intervalBelow 0.005) expectations None
            (fun e ->
                let accuracy = mlpAccuracy e
                let gaps = Array.map2 (-) (accuracy "dropout-lr-0.1") (accuracy "plain-lr-0.1")
                effect "mean over seeds of test accuracy (with − without Dropout)" (over e id gaps))

    /// Every claim, in report order; <paramref name="expectations"/> overrides a claim's own expectation by id
    /// (the fast tier's pinned verdicts).
    let all (expectations: Map<string, Verdict option>) : Claim<RegularisationEvidence> list =
        [ dropoutBeatsDropConnect "dropconnect-as-run" "one layer, as the notebook ran it" expectations
          dropoutBeatsDropConnect "dropconnect-all-layers" "every layer, as intended" expectations
          dropConnectWorseThanBaseline "dropconnect-as-run" "one layer, as run" expectations
          dropConnectWorseThanBaseline "dropconnect-all-layers" "every layer" expectations
          batchNormLayerNormEquivalent expectations
          batchNormBetterThanLayerNorm expectations
          normalisedNetsSaturate expectations
          dropoutTrainLossExceedsTest expectations
          batchNormAllowsHighLearningRate expectations
          regressionOverfits expectations
          dropoutLowersTestMse expectations
          mcBandCoverage expectations
          mcUncertainLessAccurate expectations
          l1SparserThanL2 expectations
          runningMeanAccurate expectations
          writtenOutDropoutNoGain expectations ]
