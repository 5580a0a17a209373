module Research.Tests.TrainingTests

open System
open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Data
open Research.Core.Models
open Research.Core.Training

let private sgd (model: Network) (lr: float) =
    TorchSharpOptimizer("SGD", torch.optim.SGD(model.parameters(), lr), readOnlyDict [ ("lr", box lr) ]) :> IOptimizer

/// Gradients of every parameter after `steps` SGD steps plus one more backward, from a fresh
/// seeded model: the bytes of each .grad.
let private gradientsAfter (seed: int64) (steps: int) (data: TensorDataset) =
    TorchRuntime.Initialize(seed) |> ignore
    use model = Architectures.Mlp(MlpOptions([| 784; 64; 32; 10 |]))
    let opt = sgd model 0.05
    let mutable grads = []
    let grab =
        { new TrainingObserver() with
            override _.OnAfterBackward(step) =
                if step.Iteration = int64 steps then
                    grads <- [ for (name, p) in model.named_parameters() -> name, p.grad.bytes.ToArray() ] }
    Trainer.Fit(model, opt, data, TrainOptions(BatchSize = 32, MaxSteps = Nullable(int64 steps), Seed = seed), observers = [ grab ]) |> ignore
    grads

[<Tests>]
let tests =
    testSequenced <| testList "Training" [
        testCase "an MLP's loss goes down over a few SGD steps (real MNIST when fetched, else generated)" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            let split, source = TestData.trainingSplit 2048
            use data = TensorDataset.FromMnist(split)
            use model = Architectures.Mlp(MlpOptions.AdamVsRAdam)
            let history = Trainer.Fit(model, sgd model 0.1, data, TrainOptions(BatchSize = 64, Epochs = 2, MaxSteps = Nullable 60L, Seed = 0L))
            let first = history.StepLoss |> Seq.take 5 |> Seq.average
            let last = history.StepLoss |> Seq.skip 55 |> Seq.average
            Expect.equal history.StepLoss.Count 60 "60 steps"
            Expect.isLessThan last (0.6 * first) $"loss on {source}: first five steps {first:F3}, last five {last:F3}"

        testCase "two runs with the same seed give bit-identical gradients on CPU; another seed differs" <| fun () ->
            let split, _ = TestData.trainingSplit 512
            use data = TensorDataset.FromMnist(split)
            let a = gradientsAfter 42L 6 data
            let b = gradientsAfter 42L 6 data
            let c = gradientsAfter 43L 6 data
            Expect.isNonEmpty a "gradients captured"
            for (na, ga), (nb, gb) in List.zip a b do
                Expect.equal na nb "same parameter"
                Expect.isTrue (ga.AsSpan().SequenceEqual(ReadOnlySpan gb)) $"{na}: identical bytes"
            Expect.isFalse (List.forall2 (fun (_, x: byte[]) (_, y: byte[]) -> x.AsSpan().SequenceEqual(ReadOnlySpan y)) a c)
                "a different seed gives different gradients"

        testCase "capture mode: output gradient of the last layer is (softmax - onehot)/B, input gradient is that times W" <| fun () ->
            TorchRuntime.Initialize(3L) |> ignore
            use model = Architectures.Mlp(MlpOptions([| 784; 32; 16; 10 |], Activation.Tanh))
            model.CaptureLayerTensors <- true
            model.CaptureInputGradient <- true
            use scope = torch.NewDisposeScope()
            let x = torch.randn(8L, 784L)
            let y = torch.tensor([| 0L; 1L; 2L; 3L; 4L; 5L; 6L; 7L |])
            let logits = model.call x
            let loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            let captured = model.Captured
            Expect.equal [ for c in captured -> c.Name ] [ "fc1"; "act1"; "fc2"; "act2"; "fc3" ] "layers in order"
            let last = captured[captured.Count - 1]
            let expectedOut = (torch.nn.functional.softmax(logits.detach(), 1L) - torch.nn.functional.one_hot(y, 10L).``to``(torch.ScalarType.Float32)) / 8.0f
            Expect.isTrue (torch.allclose(last.Output.grad, expectedOut, 1e-5, 1e-7)) "dL/dlogits"
            let w = model.get_parameter("fc3.weight")
            let expectedIn = expectedOut.matmul(w.detach())
            Expect.isTrue (torch.allclose(last.Input.grad, expectedIn, 1e-5, 1e-7)) "dL/d(input of fc3) = dL/dlogits · W"
            Expect.isNotNull captured[0].Input.grad "the network input's gradient exists when CaptureInputGradient"

        testCase "models: CNN maps [B,1,28,28] to [B,10] with 196 flattened features" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use cnn = Architectures.SeminarCnn()
            use x = torch.randn(3L, 1L, 28L, 28L)
            use y = cnn.call x
            Expect.equal y.shape [| 3L; 10L |] "logits shape"
            Expect.equal (cnn.get_parameter("fc.weight").shape) [| 10L; 196L |] "head 196→10"

        testCase "models: DropConnect masks weights in training and uses p·W at evaluation" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use layer = new DropConnectLinear(50L, 20L, 0.7)
            use x = torch.randn(4L, 50L)
            layer.eval()
            use expected = torch.nn.functional.linear(x, layer.weight * 0.7, layer.bias)
            Expect.isTrue (torch.allclose(layer.call x, expected, 1e-6, 1e-6)) "expectation at test time"
            layer.train()
            use a = layer.call x
            use b = layer.call x
            Expect.isFalse (torch.allclose(a, b)) "fresh masks per forward pass in training"
            Check.throws<ArgumentOutOfRangeException> (fun () -> new DropConnectLinear(2L, 2L, 1.5) |> ignore)
            |> Check.messageHas [ "keepProbability"; "1.5" ]

        testCase "models: the written-out per-example LayerNormalization equals nn.functional.layer_norm" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use ln = new LayerNormalization(30L)
            use x = torch.randn(5L, 30L) * 3.0f + 1.0f
            use expected = torch.nn.functional.layer_norm(x, [| 30L |], eps = 1e-5)
            Expect.isTrue (torch.allclose(ln.call x, expected, 1e-5, 1e-6)) "same normalisation"

        testCase "models: MLP options build the layers the seminars use" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use m = Architectures.Mlp(MlpOptions([| 784; 100; 10 |], Activation.Sigmoid, Normalization.BatchNorm, 0.2, false))
            Expect.equal (List.ofSeq m.LayerNames) [ "fc1"; "norm1"; "act1"; "drop1"; "fc2" ] "layer names"
            Expect.isFalse (m.named_parameters() |> Seq.exists (fun struct (n, _) -> n.EndsWith ".bias" && n.StartsWith "fc")) "no Linear bias"
            Check.throws<ArgumentException> (fun () -> Architectures.Mlp(MlpOptions([| 784 |])) |> ignore)
            |> Check.messageHas [ "Widths"; "[784]" ]
    ]
