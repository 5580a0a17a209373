/// The initialisation seminar: per-layer spread of activations and gradients of deep MLPs under
/// different initialisations, against ../shared/reference/init_variance.json (PyTorch 1.13.1,
/// Debian python3-torch, CPU, float32). TorchSharp's CPU generator reproduces PyTorch's draws
/// (the input batch's first values and the weights are the same numbers), so the statistics are
/// compared as values, not only as a pattern: every per-layer std and the loss to 1e-5 relative
/// (seen: at most 8.2e-7, for gradients through 33 ReLU layers; the worst is printed per config).
module Research.Tests.InitVarianceTests

open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Models
open Research.Core.Init
open Research.Tests.Reference

let private initOf (name: string) =
    match name with
    | "normal0.1" -> WeightInit(InitScheme.Normal, Std = 0.1)
    | "normal0.01" -> WeightInit(InitScheme.Normal, Std = 0.01)
    | "xavier_uniform" -> WeightInit(InitScheme.XavierUniform, Gain = 1.0)
    | "xavier_uniform_gain_tanh" -> WeightInit(InitScheme.XavierUniform, Gain = Initializers.CalculateGain "tanh")
    | "kaiming_normal_fanout" -> WeightInit(InitScheme.KaimingNormal, Mode = FanMode.FanOut, Nonlinearity = "relu")
    | other -> failwithf "init_variance.json: unknown weight_init '%s'" other

let private std (t: torch.Tensor) =
    use d = t.detach().``to``(torch.ScalarType.Float64)
    d.std(unbiased = false).item<float>()

/// Per Linear layer: (input std, input-gradient std, pre-activation std), and the loss.
let private measure (widths: int[]) (activation: Activation) (init: WeightInit) =
    use scope = torch.NewDisposeScope()
    use net = Architectures.Mlp(MlpOptions(widths, activation))
    net.CaptureLayerTensors <- true
    net.CaptureInputGradient <- true
    torch.manual_seed 0L |> ignore
    init.Apply net |> ignore
    torch.manual_seed 1L |> ignore
    let x = torch.randn(100L, 784L)
    let y = torch.arange(100L).remainder(torch.tensor 10L)
    let loss = torch.nn.functional.nll_loss(torch.nn.functional.log_softmax(net.call x, 1L), y)
    loss.backward()
    let layers = [ for c in net.Captured do if c.Kind = "Linear" then yield std c.Input, std c.Input.grad, std c.Output ]
    layers, float (loss.item<float32>())

let private relErr (a: float) (b: float) = abs (a - b) / abs b

let private activationOf (name: string) =
    match name with
    | "relu" -> Activation.ReLU
    | "tanh" -> Activation.Tanh
    | other -> failwithf "init_variance.json: activation '%s' is not handled by these tests (relu, tanh)" other

/// The configurations the file holds, or the reason it cannot be read (then one failing test).
let private configNames : Result<System.Text.Json.JsonElement * string list, string> =
    try
        let reference = load "init_variance.json"
        Ok(reference, [ for p in (prop "configs" reference).EnumerateObject() -> p.Name ])
    with e -> Error $"init_variance.json cannot be read: {e.Message}"

[<Tests>]
let tests =
    testSequenced <| testList "Init.Variance (init_variance.json, PyTorch 1.13.1)" [
        match configNames with
        | Error why -> testCase "init_variance.json loads" <| fun () -> failtest why
        | Ok (reference, names) ->
          for name in names do
            testCase name <| fun () ->
                TorchRuntime.EnsureNative()
                let c = prop "configs" reference |> prop name
                let widths = [| for w in (prop "widths" c).EnumerateArray() -> w.GetInt32() |]
                let activation = activationOf ((prop "activation" c).GetString())
                let layers, loss = measure widths activation (initOf ((prop "weight_init" c).GetString()))
                let expected = [ for l in (prop "layers_seed0" c).EnumerateArray() -> num (prop "forward_input_std" l), num (prop "backward_input_grad_std" l), num (prop "preactivation_std" l) ]
                Expect.equal layers.Length expected.Length "Linear layers"
                let mutable worstGrad = 0.0
                for i, ((a, g, p), (ea, eg, ep)) in List.indexed (List.zip layers expected) do
                    Expect.isLessThanOrEqual (relErr a ea) 1e-5 $"layer {i}: input std {a} vs {ea}"
                    Expect.isLessThanOrEqual (relErr p ep) 1e-5 $"layer {i}: pre-activation std {p} vs {ep}"
                    worstGrad <- max worstGrad (relErr g eg)
                    Expect.isLessThanOrEqual (relErr g eg) 1e-5 $"layer {i}: input-gradient std {g} vs {eg}"
                Expect.isLessThanOrEqual (relErr loss (num (prop "loss_seed0" c))) 1e-5 "loss"
                printfn "init variance %s: %d layers, worst input-gradient deviation %.2e relative" name layers.Length worstGrad

        testCase "the pattern: N(0, 0.1) on the wide tanh net keeps activations (std ≈ 0.77) while gradients grow toward the input; N(0, 0.01) shrinks both" <| fun () ->
            TorchRuntime.EnsureNative()
            let widths = [| 784; 500; 500; 500; 500; 500; 500; 500; 500; 500; 500; 10 |]
            let big, _ = measure widths Activation.Tanh (WeightInit(InitScheme.Normal, Std = 0.1))
            let small, _ = measure widths Activation.Tanh (WeightInit(InitScheme.Normal, Std = 0.01))
            let inputs l = l |> List.map (fun (a, _, _) -> a)
            let grads l = l |> List.map (fun (_, g, _) -> g)
            for a in inputs big |> List.skip 2 do Expect.floatClose { absolute = 0.03; relative = 0.0 } a 0.77 "saturated tanh keeps std ≈ 0.77"
            Expect.isGreaterThan (grads big).Head ((grads big) |> List.last |> (*) 3.0) "gradients grow toward the input"
            let s = inputs small
            for i in 2 .. s.Length - 1 do Expect.isLessThan s[i] (0.3 * s[i - 1]) $"activations shrink ×0.22 per layer (layer {i})"
    ]
