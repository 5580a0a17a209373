/// The generic layers of the regularisation study (Models/): the seminar's batch-wide
/// LayerNormalization against its formula and against per-example layer normalisation, inverted
/// Dropout and DropConnect in training and evaluation, batch normalisation against TorchSharp's,
/// group normalisation and its two limits, Monte Carlo dropout with batch normalisation in eval
/// mode, the seminar CNN with any head; and each layer's refusal of bad input, naming the layer.
module Research.Tests.RegularisationLayerTests

open System
open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Models
open Research.Tests

let private values (t: torch.Tensor) = t.detach().``to``(torch.ScalarType.Float64).contiguous().data<float>().ToArray()

let private maxAbsDiff (a: torch.Tensor) (b: torch.Tensor) =
    Array.map2 (fun x y -> abs (x - y)) (values a) (values b) |> Array.max

[<Tests>]
let tests =
    testSequenced <| testList "Models.Regularisation" [
        testCase "seminar LayerNormalization is (x − mean(x)) / (std(x) + 1e-8) over the whole batch" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use ln = new SeminarLayerNormalization()
            use x = torch.randn(5L, 30L) * 3.0f + 1.0f
            let xs = values x
            // the formula, computed directly in float64 over all 150 entries
            let mean = Array.average xs
            let std = sqrt ((xs |> Array.sumBy (fun v -> (v - mean) ** 2.0)) / float (xs.Length - 1))
            let expected = xs |> Array.map (fun v -> (v - mean) / (std + 1e-8))
            use y = ln.call x
            Expect.equal y.shape [| 5L; 30L |] "shape kept"
            let diff = Array.map2 (fun a b -> abs (a - b)) expected (values y) |> Array.max
            Expect.isLessThan diff 1e-5 "float32 layer against the float64 formula"
            Expect.isEmpty (ln.parameters() |> List.ofSeq) "no learnable parameters"

        testCase "seminar LayerNormalization differs from per-example LayerNorm and mixes examples" <| fun () ->
            TorchRuntime.Initialize(1L) |> ignore
            use ln = new SeminarLayerNormalization()
            // examples with different means and scales: per-example statistics differ from the batch's
            use scale = torch.tensor([| 1.0f; 2.0f; 0.5f; 4.0f |]).unsqueeze(1L)
            use shift = torch.tensor([| 0.0f; 3.0f; -2.0f; 1.0f |]).unsqueeze(1L)
            use x = torch.randn(4L, 20L) * scale + shift
            use perExample = torch.nn.functional.layer_norm(x, [| 20L |], eps = 1e-5)
            use y = ln.call x
            Expect.isGreaterThan (maxAbsDiff y perExample) 0.5 "not nn.LayerNorm's per-example normalisation"
            // changing another example changes the first example's output (batch-wide statistics)
            use x2 = x.clone()
            x2.[3L].mul_(torch.tensor(10.0f)) |> ignore
            use y2 = ln.call x2
            Expect.isGreaterThan (maxAbsDiff (y.[0L]) (y2.[0L])) 1e-3 "example 0 depends on example 3"
            use p2 = torch.nn.functional.layer_norm(x2, [| 20L |], eps = 1e-5)
            Expect.isLessThan (maxAbsDiff (perExample.[0L]) (p2.[0L])) 1e-6 "per-example normalisation does not"

        testCase "inverted Dropout: identity in eval; training zeros a fraction p, the rest × 1/(1 − p)" <| fun () ->
            TorchRuntime.Initialize(2L) |> ignore
            use drop = new InvertedDropout(0.3, "drop1")
            use x = torch.ones(400L, 250L)
            drop.eval()
            use e = drop.call x
            Expect.equal (maxAbsDiff e x) 0.0 "eval: identity"
            drop.train()
            use t = drop.call x
            let v = values t
            let zeros = v |> Array.filter (fun a -> a = 0.0) |> Array.length
            let fraction = float zeros / float v.Length
            // 100,000 Bernoulli(0.3) draws: sd of the fraction 0.0014, so ±0.01 is 7 sd
            Expect.isLessThan (abs (fraction - 0.3)) 0.01 $"fraction zeroed {fraction}"
            let kept = v |> Array.filter (fun a -> a <> 0.0)
            Expect.isTrue (kept |> Array.forall (fun a -> abs (a - 1.0 / 0.7) < 1e-6)) "survivors scaled by 1/(1 − p)"
            Expect.isLessThan (abs (Array.average v - 1.0)) 0.015 "mean preserved"
            use t2 = drop.call x
            Expect.isGreaterThan (maxAbsDiff t t2) 0.0 "a fresh mask per pass"
            use none = new InvertedDropout(0.0)
            none.train()
            use n = none.call x
            Expect.equal (maxAbsDiff n x) 0.0 "p = 0: identity in training too"

        testCase "DropConnect given p: masks a fraction p of the weights in training, (1 − p)·W in eval" <| fun () ->
            TorchRuntime.Initialize(3L) |> ignore
            use layer = DropConnectLinear.WithDropProbability(200L, 100L, 0.2, hasBias = false, name = "fc1")
            Expect.floatClose Accuracy.veryHigh layer.KeepProbability 0.8 "keep = 1 − p"
            use eye = torch.eye(200L)
            layer.train()
            use masked = layer.call eye // row i = (M ⊙ W)[:, i]
            let w = values (layer.weight.t())
            let m = values masked
            let dropped = Array.map2 (fun a b -> if a = 0.0 && b <> 0.0 then 1 else 0) m w |> Array.sum
            let fraction = float dropped / float w.Length
            Expect.isLessThan (abs (fraction - 0.2)) 0.01 $"fraction of weights dropped {fraction}"
            Expect.isTrue (Array.forall2 (fun a b -> a = 0.0 || abs (a - b) < 1e-6) m w) "kept weights not rescaled"
            layer.eval()
            use expected = layer.weight.t() * 0.8f
            Expect.isLessThan (maxAbsDiff (layer.call eye) expected) 1e-6 "eval: the expectation (1 − p)·W"

        testCase "Dropout and DropConnect refuse p outside [0, 1), naming the layer and the value" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            for p in [ -0.1; 1.0; 1.5; nan ] do
                Check.throws<ArgumentOutOfRangeException> (fun () -> new InvertedDropout(p, "drop2") |> ignore)
                |> Check.messageHas [ "drop2"; string p; "0 ≤ p < 1" ]
                Check.throws<ArgumentOutOfRangeException> (fun () ->
                    DropConnectLinear.WithDropProbability(4L, 3L, p, name = "fc3") |> ignore)
                |> Check.messageHas [ "fc3"; string p; "0 ≤ p < 1" ]
            Check.throws<ArgumentOutOfRangeException> (fun () ->
                new DropConnectLinear(4L, 3L, 0.0, name = "fc2") |> ignore)
            |> Check.messageHas [ "fc2"; "4→3"; "keeping" ]

        testCase "BatchNormalization equals nn.BatchNorm1d/2d in training and eval, running statistics too" <| fun () ->
            TorchRuntime.Initialize(4L) |> ignore
            use ours = BatchNormalization.OfFeatures(6L, "norm1")
            use theirs = torch.nn.BatchNorm1d(6L)
            use ours2 = BatchNormalization.OfChannels(3L, "norm2")
            use theirs2 = torch.nn.BatchNorm2d(3L)
            for step in 1 .. 3 do
                use x = torch.randn(16L, 6L) * 2.0f + float32 step
                Expect.equal (maxAbsDiff (ours.call x) (theirs.call x)) 0.0 $"1d training output, step {step}"
                use im = torch.randn(5L, 3L, 4L, 4L) - 1.0f
                Expect.equal (maxAbsDiff (ours2.call im) (theirs2.call im)) 0.0 $"2d training output, step {step}"
            Expect.equal (values ours.running_mean) (values theirs.running_mean) "running mean"
            Expect.equal (values ours.running_var) (values theirs.running_var) "running variance"
            let buffers (m: torch.nn.Module) = [ for struct (n, _) in m.named_buffers() -> n ]
            Expect.equal (buffers ours) (buffers theirs) "buffer names"
            ours.eval()
            theirs.eval()
            use one = torch.randn(1L, 6L)
            Expect.equal (maxAbsDiff (ours.call one) (theirs.call one)) 0.0 "eval: a batch of one, running statistics"

        testCase "BatchNormalization refuses a batch of one in training, naming the layer and the shape" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use bn = BatchNormalization.OfFeatures(10L, "norm3")
            bn.train()
            Check.throws<ArgumentException> (fun () -> bn.call (torch.randn(1L, 10L)) |> ignore)
            |> Check.messageHas [ "norm3"; "[1, 10]"; "more than one value per channel" ]
            use bn2 = BatchNormalization.OfChannels(2L, "norm1")
            bn2.train()
            Check.throws<ArgumentException> (fun () -> bn2.call (torch.randn(1L, 2L, 1L, 1L)) |> ignore)
            |> Check.messageHas [ "norm1"; "[1, 2, 1, 1]" ]
            use image = bn2.call (torch.randn(1L, 2L, 3L, 3L)) // one image, nine values per channel: defined
            Check.throws<ArgumentException> (fun () -> bn.call (torch.randn(4L, 7L)) |> ignore)
            |> Check.messageHas [ "norm3"; "10 channels"; "[4, 7]" ]

        testCase "GroupNorm with G = 1 is LayerNorm of the feature map, with G = C InstanceNorm" <| fun () ->
            TorchRuntime.Initialize(5L) |> ignore
            use x = torch.randn(3L, 4L, 5L, 5L) * 2.0f + 0.5f
            use gLayer = GroupNormalization.For(ChannelNormalization.LayerNorm, 4L, "norm2")
            use layerNorm = torch.nn.functional.layer_norm(x, [| 4L; 5L; 5L |], eps = 1e-5)
            Expect.isLessThan (maxAbsDiff (gLayer.call x) layerNorm) 1e-5 "G = 1: per example over C, H, W"
            use gInstance = GroupNormalization.For(ChannelNormalization.InstanceNorm, 4L, "norm2")
            use instance = torch.nn.functional.instance_norm(x, eps = 1e-5)
            Expect.isLessThan (maxAbsDiff (gInstance.call x) instance) 1e-5 "G = C: per example and channel over H, W"
            Expect.isNull (GroupNormalization.For(ChannelNormalization.None, 4L, "norm2")) "none: no layer"

        testCase "GroupNorm refuses groups that do not divide the channels, naming the layer and both" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            for g in [ 3L; 0L; 5L ] do
                Check.throws<ArgumentOutOfRangeException> (fun () ->
                    GroupNormalization.Create(g, 4L, "norm2") |> ignore)
                |> Check.messageHas [ "norm2"; $"got {g} groups"; "4 channels" ]
            use ok = GroupNormalization.Create(2L, 4L, "norm2")
            // TorchSharp 0.107 leaves them uninitialised; the factory sets PyTorch's γ = 1, β = 0
            let expected = [ Array.create 4 1.0; Array.zeroCreate 4 ]
            Expect.equal [ for p in ok.parameters() -> values p ] expected "γ = 1, β = 0"

        testCase "MC dropout keeps Dropout active, BatchNorm in eval mode (statistics kept, batch of one)" <| fun () ->
            TorchRuntime.Initialize(6L) |> ignore
            use net = new Network("mc", "Linear-BN-ReLU-Dropout-Linear")
            let norm = BatchNormalization.OfFeatures(50L, "norm1")
            net.Add("fc1", torch.nn.Linear(3L, 50L)).Add("norm1", norm)
               .Add("act1", torch.nn.ReLU()).Add("drop1", new InvertedDropout(0.5, "drop1"))
               .Add("fc2", torch.nn.Linear(50L, 2L)) |> ignore
            net.train()
            for _ in 1 .. 5 do
                use b = torch.randn(32L, 3L) + 2.0f
                net.call b |> ignore
            let before = values norm.running_mean, values norm.running_var
            use one = torch.randn(1L, 3L)
            let predictions = MonteCarloDropout.Predict(net, one, 2000, seed = 11L)
            let shape = predictions.GetLength 0, predictions.GetLength 1, predictions.GetLength 2
            Expect.equal shape (2000, 1, 2) "[T, N, outputs]"
            Expect.equal (values norm.running_mean, values norm.running_var) before "running statistics untouched"
            Expect.isTrue net.training "mode restored (train)"
            let firstOutput = Array.init 2000 (fun t -> float predictions.[t, 0, 0])
            Expect.isGreaterThan (Array.max firstOutput - Array.min firstOutput) 1e-3 "passes differ: dropout active"
            net.eval()
            use plain = net.call one
            // E[inverted dropout] = identity and fc2 is linear, so the mean of the passes is the eval output
            let sd = sqrt ((firstOutput |> Array.sumBy (fun v -> (v - Array.average firstOutput) ** 2.0)) / 1999.0)
            let gap = abs (Array.average firstOutput - (values plain).[0])
            Expect.isLessThan gap (5.0 * sd / sqrt 2000.0) "mean of the passes ≈ eval output"
            let again = MonteCarloDropout.Predict(net, one, 3, seed = 11L)
            let column (p: float32[,,]) = Array.init 3 (fun t -> p.[t, 0, 1])
            Expect.equal (column again) (column predictions) "seeded: reproducible"
            Expect.isFalse net.training "mode restored (eval)"
            use noDropout = Architectures.Mlp(MlpOptions([| 3; 4; 2 |]))
            Check.throws<ArgumentException> (fun () -> MonteCarloDropout.Predict(noDropout, one, 5) |> ignore)
            |> Check.messageHas [ "no dropout layer" ]

        testCase "MLP options: BatchNorm before/after the activation, written-out Dropout, seminar LN" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            let names (o: MlpOptions) =
                use m = Architectures.Mlp o
                [ for struct (n, l) in m.Layers -> n, l.GetType().Name ]
            let sigmoidBn = MlpOptions([| 784; 100; 10 |], Activation.Sigmoid, Normalization.BatchNorm, Bias = false)
            let bn = "norm1", "BatchNormalization"
            let fc1, act1, fc2 = ("fc1", "Linear"), ("act1", "Sigmoid"), ("fc2", "Linear")
            Expect.equal (names sigmoidBn) [ fc1; bn; act1; fc2 ] "Linear → BN → Sigmoid"
            let after = MlpOptions([| 784; 100; 10 |], Activation.Sigmoid, Normalization.BatchNorm, Bias = false,
                                   NormalizationPlacement = NormalizationPlacement.AfterActivation)
            Expect.equal (names after) [ fc1; act1; bn; fc2 ] "Linear → Sigmoid → BN"
            let dropout = MlpOptions([| 784; 100; 10 |], Activation.Sigmoid, Dropout = 0.5, WrittenOutDropout = true)
            Expect.contains (names dropout) ("drop1", "InvertedDropout") "the hand-written layer"
            let seminar = MlpOptions([| 196; 128; 10 |], Normalization = Normalization.SeminarLayerNorm)
            Expect.contains (names seminar) ("norm1", "SeminarLayerNormalization") "the seminar's batch-wide layer"

        testCase "seminar CNN: 196 features into any head; a seed gives every head the same conv stack" <| fun () ->
            let build (head: unit -> (string * torch.nn.Module<torch.Tensor, torch.Tensor>) list) norm =
                TorchRuntime.Seed 7L
                let layers () = head () |> Seq.map (fun (n, l) -> struct (n, l))
                Architectures.SeminarCnn("test head", Func<_>(layers), norm)
            use a = build (fun () -> [ "fc", torch.nn.Linear(196L, 10L) ]) ChannelNormalization.None
            let deeper () : (string * torch.nn.Module<torch.Tensor, torch.Tensor>) list =
                [ "fc1", torch.nn.Linear(196L, 32L); "act", torch.nn.ReLU(); "fc2", torch.nn.Linear(32L, 10L) ]
            use b = build deeper ChannelNormalization.BatchNorm
            for name in [ "conv1.weight"; "conv2.weight" ] do
                Expect.equal (values (a.get_parameter name)) (values (b.get_parameter name)) $"same {name}"
            Expect.contains b.LayerNames "norm2" "a normalisation after conv2"
            use x = torch.randn(2L, 1L, 28L, 28L)
            Expect.equal (b.call x).shape [| 2L; 10L |] "logits"
            use plain = Architectures.SeminarCnn()
            let original = [ "conv1"; "pool1"; "act1"; "conv2"; "pool2"; "act2"; "flatten"; "fc" ]
            Expect.equal (List.ofSeq plain.LayerNames) original "the original layers"
    ]

/// Weight penalties in the training loop: one SGD step with the penalty observer equals one step on
/// the gradient of loss + λ·penalty computed by autograd.
[<Tests>]
let penalties =
    testSequenced <| testList "Training.WeightPenalty" [
        testCase "L1 and L2 add λ·sign(w) and 2λ·w to the gradients: autograd of loss + λ·penalty" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            for norm in [ Research.Core.Training.PenaltyNorm.L1; Research.Core.Training.PenaltyNorm.L2 ] do
                let build () =
                    TorchRuntime.Seed 9L
                    Architectures.Mlp(MlpOptions([| 6; 5; 3 |], Activation.Sigmoid))
                use x = torch.randn(8L, 6L)
                use y = torch.tensor([| 0L; 1L; 2L; 0L; 1L; 2L; 0L; 1L |])
                let lambda = 0.05
                // expected: autograd of cross-entropy + λ·Σ penalty over the weight matrices
                use manual = build ()
                let loss = torch.nn.functional.cross_entropy(manual.call x, y)
                let penalty =
                    [ for struct (_, w) in manual.Weights() ->
                        if norm = Research.Core.Training.PenaltyNorm.L1 then w.abs().sum() else w.square().sum() ]
                    |> List.reduce (+)
                (loss + penalty * lambda).backward()
                let step (p: torch.Tensor) = Array.map2 (fun w g -> w - 0.1 * g) (values p) (values p.grad)
                let expected = [ for p in manual.parameters() -> step p ]
                // the loop with the observer
                use model = build ()
                use data = new Research.Core.Data.TensorDataset(x.clone(), y.clone(), "eight examples")
                use sgd = new Research.Core.Optim.Sgd(model.parameters(), 0.1)
                let observer = Research.Core.Training.WeightPenalty(norm, lambda)
                let options = Research.Core.Training.TrainOptions(8, 1, Shuffle = false, EvaluateEachEpoch = false)
                Research.Core.Training.Trainer.Fit(model, sgd, data, options, observers = [ observer ]) |> ignore
                for e, p in List.zip expected (List.ofSeq (model.parameters())) do
                    let gap = Array.map2 (fun a b -> abs (a - b)) e (values p) |> Array.max
                    Expect.isLessThan gap 1e-6 $"{norm}: parameters after one step"
                let magnitude = Research.Core.Training.WeightPenalty.Magnitude(model, norm)
                Expect.isGreaterThan magnitude 0.0 $"{norm}: magnitude"
            Check.throws<ArgumentOutOfRangeException> (fun () ->
                Research.Core.Training.WeightPenalty(Research.Core.Training.PenaltyNorm.L1, -1.0) |> ignore)
            |> Check.messageHas [ "L1"; "-1" ]
    ]
