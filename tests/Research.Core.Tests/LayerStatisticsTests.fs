/// LayerStatistics.Measure, the per-layer statistics of any Network on any batch: against PyTorch
/// 1.13.1 for every configuration of ../shared/reference/init_variance.json (Debian python3-torch,
/// CPU, float32, statistics in float64), through the initialisation study's own configurations
/// and its reference protocol; and its refusals of bad input, each naming the problem.
module Research.Tests.LayerStatisticsTests

open System
open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Models
open Research.Core.Capture
open Research.Core.Studies.Initialisation
open Research.Tests.Reference

let private relErr (a: float) (b: float) = abs (a - b) / abs b

/// The reference's configurations (name, JSON), or why the file cannot be read.
let private cases : Result<(string * Text.Json.JsonElement) list, string> =
    try
        let configs = load "init_variance.json" |> prop "configs"
        Ok [ for p in configs.EnumerateObject() -> p.Name, p.Value ]
    with e -> Error $"init_variance.json cannot be read: {e.Message}"

/// The study's configuration for a reference case, or a failure that says how to add one.
let private configurationOf (key: string) =
    match InitialisationConfigurations.All |> Array.tryFind (fun c -> c.ReferenceKey = key) with
    | Some c -> c
    | None ->
        failtest ($"init_variance.json case '{key}' has no configuration in InitialisationConfigurations.All; "
                  + $"add one with ReferenceKey = \"{key}\"")

/// Per Linear layer: (name in the file, value from the file, ours).
let private compared (c: Text.Json.JsonElement) (ours: NetworkStatistics) =
    [ for l, o in Seq.zip ((prop "layers_seed0" c).EnumerateArray()) ours.Layers do
        let i = o.Index
        yield $"layer {i} input std", num (prop "forward_input_std" l), o.InputStd
        yield $"layer {i} input mean", num (prop "forward_input_mean" l), o.InputMean
        yield $"layer {i} pre-activation std", num (prop "preactivation_std" l), o.OutputStd
        yield $"layer {i} input-gradient std", num (prop "backward_input_grad_std" l), o.InputGradientStd
        yield $"layer {i} weight-gradient std", num (prop "weight_grad_std" l), o.WeightGradientStd
        yield $"layer {i} weight std", num (prop "weight_std_empirical" l), o.WeightStd ]

let private linearNet (layers: (string * torch.nn.Module<torch.Tensor, torch.Tensor>) list) =
    let net = new Network("test", "test net")
    for name, layer in layers do net.Add(name, layer) |> ignore
    net

let private throwsArg (f: unit -> unit) (fragments: string list) =
    let e = Check.throws<ArgumentException> f
    Check.messageHas fragments e

let private measure net (x: torch.Tensor) (y: torch.Tensor) () = LayerStatistics.Measure(net, x, y) |> ignore

[<Tests>]
let tests =
    testSequenced <| testList "Capture.LayerStatistics" [
        testList "init_variance.json (PyTorch 1.13.1): every configuration, every Linear layer, to 1e-5 relative" [
            match cases with
            | Error why -> testCase "init_variance.json loads" <| fun () -> failtest why
            | Ok cases ->
                for key, c in cases ->
                    testCase key <| fun () ->
                        let config = configurationOf key
                        let widths = [| for w in (prop "widths" c).EnumerateArray() -> w.GetInt32() |]
                        Expect.equal config.Widths widths $"{config.Id}: the widths of the reference's network"
                        let activation = (string config.Activation.Value).ToLowerInvariant()
                        let expected = (prop "activation" c).GetString()
                        Expect.equal activation expected $"{config.Id}: the reference's activation"
                        let ours = InitialisationCapture.MeasureReferenceProtocol config
                        let layers = (prop "layers_seed0" c).GetArrayLength()
                        Expect.equal ours.Layers.Count layers "one entry per Linear layer"
                        Expect.equal ours.BatchSize 100 "the reference's batch of 100"
                        let rows = compared c ours
                        // a mean near 0 has no relative scale: it is compared to 1e-6 absolute instead
                        for what, expected, actual in rows do
                            if what.EndsWith "mean" then
                                Expect.floatClose { absolute = 1e-6; relative = 1e-5 } actual expected what
                            else
                                Expect.isLessThanOrEqual (relErr actual expected) 1e-5
                                    $"{what}: ours {actual}, PyTorch {expected}"
                        Expect.isLessThanOrEqual (relErr ours.Loss (num (prop "loss_seed0" c))) 1e-5 "loss"
                        let worst =
                            rows |> List.filter (fun (w, _, _) -> not (w.EndsWith "mean"))
                            |> List.map (fun (_, e, a) -> relErr a e) |> List.max
                        printfn "layer statistics %s: %d layers, worst deviation %.2e relative"
                            key ours.Layers.Count worst ]

        testCase "the input RMS is the norm per unit; the weight-gradient norm and median are of ∂L/∂W" <| fun () ->
            TorchRuntime.Seed 3L
            use net = Architectures.Mlp(MlpOptions([| 6; 5; 4 |], Activation.Tanh))
            use x = torch.randn(7L, 6L)
            use y = torch.tensor([| 0L; 1L; 2L; 3L; 0L; 1L; 2L |])
            let s = LayerStatistics.Measure(net, x, y)
            use x64 = x.``to``(torch.ScalarType.Float64)
            let rms = x64.square().mean().sqrt().item<float>()
            Expect.floatClose Accuracy.high s.Layers.[0].InputRms rms "RMS of the batch"
            let g = net.get_parameter("fc2.weight").grad
            use g64 = g.``to``(torch.ScalarType.Float64)
            let norm = g64.norm().item<float>()
            Expect.floatClose Accuracy.high s.Layers.[1].WeightGradientNorm norm "Frobenius norm of ∂L/∂W"
            let sorted = g.abs().flatten().data<float32>().ToArray() |> Array.sort
            let lowerMedian = float sorted.[(sorted.Length - 1) / 2]
            Expect.equal s.Layers.[1].WeightGradientMedianAbs lowerMedian "lower median of |∂L/∂W| (20 entries)"
            Expect.equal [ for l in s.Layers -> l.Name ] [ "fc1"; "fc2" ] "Linear layers only, in order"

        testCase "capture settings are restored and the weights are not changed" <| fun () ->
            TorchRuntime.Seed 4L
            use net = Architectures.Mlp(MlpOptions([| 6; 5; 3 |], Activation.ReLU))
            let before = net.get_parameter("fc1.weight").clone()
            use x = torch.randn(4L, 6L)
            use y = torch.tensor([| 0L; 1L; 2L; 0L |])
            LayerStatistics.Measure(net, x, y) |> ignore
            Expect.isFalse net.CaptureLayerTensors "capture mode off again"
            Expect.isFalse net.CaptureInputGradient "input gradient off again"
            Expect.isTrue (net.get_parameter("fc1.weight").allclose(before, 0.0, 0.0)) "weights unchanged"

        testCase "a network with no Linear layer is refused, naming its layers" <| fun () ->
            TorchRuntime.EnsureNative()
            use net = linearNet [ "act", torch.nn.ReLU() ]
            use x = torch.randn(4L, 6L)
            use y = torch.zeros(4L, dtype = torch.ScalarType.Int64)
            throwsArg (measure net x y) [ "has no Linear layer"; "act ReLU"; "at least one" ]

        testCase "a batch of one is refused, naming the shape and the fix" <| fun () ->
            TorchRuntime.EnsureNative()
            use net = Architectures.Mlp(MlpOptions([| 6; 3 |]))
            use x = torch.randn(1L, 6L)
            use y = torch.zeros(1L, dtype = torch.ScalarType.Int64)
            throwsArg (measure net x y) [ "at least 2 examples"; "[1, 6]"; "larger batch" ]

        testCase "NaN in a batch is refused, naming the example, the feature and the count" <| fun () ->
            TorchRuntime.EnsureNative()
            use net = Architectures.Mlp(MlpOptions([| 6; 3 |]))
            use x = torch.randn(4L, 6L)
            x.[2L, 5L] <- torch.tensor Double.NaN
            x.[3L, 0L] <- torch.tensor Double.PositiveInfinity
            use y = torch.zeros(4L, dtype = torch.ScalarType.Int64)
            throwsArg (measure net x y) [ "NaN at example 2, feature 5"; "2 non-finite" ]

        testCase "labels that do not fit the network are refused" <| fun () ->
            TorchRuntime.EnsureNative()
            use net = Architectures.Mlp(MlpOptions([| 6; 3 |]))
            use x = torch.randn(4L, 6L)
            use y = torch.tensor([| 0L; 1L; 2L; 3L |])
            throwsArg (measure net x y) [ "labels in 0..2"; "3 outputs"; "from 0 to 3" ]
            use short = torch.zeros(3L, dtype = torch.ScalarType.Int64)
            throwsArg (measure net x short) [ "one label per example"; "[4]" ]
    ]
