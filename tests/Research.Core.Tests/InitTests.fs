/// Tests of Research.Core.Init against /work/shared/reference/init.json (make_init_vectors.py with
/// Debian's python3-torch 1.13.1: torch.nn.init theory, calculate_gain, and the statistics of the
/// draws after torch.manual_seed(0), float32, statistics in float64).
module InitTests

open System
open System.Runtime.InteropServices
open Expecto
open TorchSharp
open Research.Core.Init
open Research.Core.Runtime
open Research.Tests

/// Population statistics of a tensor, in float64 (as the reference computes them).
type Stats =
    { N: float; Mean: float; Std: float; Min: float; Max: float; MaxAbs: float; Kurtosis: float; Rms: float }

/// Two passes over the float32 values in place (Tensor.bytes is the tensor's own memory), with
/// block-wise summation so that 4e6 terms lose no more than ~1e-15 relative.
let stats (w: torch.Tensor) =
    if w.dtype <> torch.float32 || not (w.is_contiguous()) || w.device_type <> DeviceType.CPU then
        invalidArg (nameof w) $"expected a contiguous float32 CPU tensor, got {w.dtype} on {w.device}"
    let span = MemoryMarshal.Cast<byte, float32>(w.bytes)
    let n = span.Length
    let block = 4096
    let mutable total = 0.0
    let mutable i = 0
    while i < n do
        let e = min n (i + block)
        let mutable s = 0.0
        for j in i .. e - 1 do s <- s + float span.[j]
        total <- total + s
        i <- e
    let mean = total / float n
    let mutable m2, m4, sq = 0.0, 0.0, 0.0
    let mutable lo, hi = Double.PositiveInfinity, Double.NegativeInfinity
    i <- 0
    while i < n do
        let e = min n (i + block)
        let mutable b2, b4, bsq = 0.0, 0.0, 0.0
        for j in i .. e - 1 do
            let x = float span.[j]
            let c = x - mean
            let c2 = c * c
            b2 <- b2 + c2
            b4 <- b4 + c2 * c2
            bsq <- bsq + x * x
            if x < lo then lo <- x
            if x > hi then hi <- x
        m2 <- m2 + b2
        m4 <- m4 + b4
        sq <- sq + bsq
        i <- e
    let nf = float n
    let m2, m4 = m2 / nf, m4 / nf
    { N = nf; Mean = mean; Std = sqrt m2; Min = lo; Max = hi; MaxAbs = max (abs lo) (abs hi)
      Kurtosis = m4 / (m2 * m2); Rms = sqrt (sq / nf) }

/// Standard error of the sample kurtosis: normal √(24/n); uniform √(1.3175/n) (delta method with the
/// moments 1/3, 1/5, 1/7, 1/9 of U(−1, 1): (μ8 − μ4²)/μ2⁴ − 4μ4(μ6 − μ2μ4)/μ2⁵ + 4μ4²(μ4 − μ2²)/μ2⁶ = 1.3175).
let kurtosisSe (family: string) (n: float) = if family = "uniform" then sqrt (1.3175 / n) else sqrt (24.0 / n)

/// Relative standard error of the sample std: ½√((κ − 1)/n) (the reference's sampling_error_hints).
let stdRelSe (kurtosis: float) (n: float) = 0.5 * sqrt ((kurtosis - 1.0) / n)

/// Below this many draws the kurtosis does not tell the families apart (at n = 256 its s.e. for a
/// normal is 0.31, half the gap 3.0 − 1.8), so the family check is skipped there.
let familyMinimumDraws = 5000.0

let private root = lazy (Reference.load "init.json")

/// One initialiser configuration of init.json.
type Config = { Name: string; Fn: string; Family: string; Kwargs: Text.Json.JsonElement; GainFrom: string option; Config: Text.Json.JsonElement }

/// Every configuration the file holds, each parsed on its own: one that cannot be read (or a file
/// that cannot be loaded) is an Error with the reason, which becomes one failing test, never an
/// exception while the test list is built.
let private parsedConfigs : Lazy<Result<Config, string * string> list> =
    lazy
        try
            [ for i, c in Seq.indexed ((root.Force() |> Reference.prop "configs").EnumerateArray()) ->
                try
                    Ok { Name = (Reference.prop "name" c).GetString(); Fn = (Reference.prop "fn" c).GetString()
                         Family = (Reference.prop "family" c).GetString(); Kwargs = Reference.prop "kwargs" c
                         GainFrom = Reference.tryProp "gain_from" c |> Option.map (fun g -> g.GetString()); Config = c }
                with e -> Error($"configs[{i}]", e.Message) ]
        with e -> [ Error("init.json", $"cannot be read: {e.Message}") ]

/// The configurations that could be read.
let configs = lazy [ for c in parsedConfigs.Force() do match c with Ok c -> yield c | Error _ -> () ]

/// The first configuration of initialiser `fn` with kwargs gain `gain` that has seed-0 draws of `shape`
/// (found by content, not by the configuration's name).
let private findConfig (fn: string) (gain: float) (shape: string) =
    configs.Force()
    |> List.tryFind (fun c ->
        c.Fn = fn
        && (match Reference.tryProp "gain" c.Kwargs with Some g -> g.GetDouble() = gain | None -> false)
        && (match Reference.tryProp "empirical_seed0" c.Config with Some e -> fst (e.TryGetProperty shape) | None -> false))
    |> Option.defaultWith (fun () -> failtestf "init.json holds no %s configuration with gain %g and seed-0 draws of %s" fn gain shape)

/// Applies our initialiser of a configuration with its kwargs.
let apply (c: Config) (w: torch.Tensor) (g: torch.Generator) =
    let k name = Reference.prop name c.Kwargs
    let mode () =
        match (k "mode").GetString() with
        | "fan_in" -> FanMode.FanIn
        | "fan_out" -> FanMode.FanOut
        | m -> failwithf "mode %s" m
    match c.Fn with
    | "xavier_uniform_" -> Initializers.XavierUniform(w, (k "gain").GetDouble(), g)
    | "xavier_normal_" -> Initializers.XavierNormal(w, (k "gain").GetDouble(), g)
    | "kaiming_uniform_" -> Initializers.KaimingUniform(w, (k "a").GetDouble(), mode (), (k "nonlinearity").GetString(), g)
    | "kaiming_normal_" -> Initializers.KaimingNormal(w, (k "a").GetDouble(), mode (), (k "nonlinearity").GetString(), g)
    | "orthogonal_" -> Initializers.Orthogonal(w, (k "gain").GetDouble(), g)
    | f -> failwithf "no initialiser for %s" f
    |> ignore

let private shapeOf (s: string) = s.Split('x') |> Array.map int64

/// Draws configuration c on a float32 tensor of the given shape from a CPU generator seeded 0.
let draw (c: Config) (shape: int64[]) =
    TorchRuntime.EnsureNative()
    use g = new torch.Generator(0UL, torch.CPU)
    let w = torch.empty(shape, dtype = torch.float32)
    apply c w g
    w

/// The statistics of the seed-0 draw equal those of PyTorch's own draw after torch.manual_seed(0)
/// (init.json empirical_seed0): libtorch's CPU generator and uniform_/normal_ give the same float32
/// numbers as PyTorch 1.13's.
let checkEmpirical (c: Config) (shapeName: string) (s: Stats) =
    let shape = c.Config |> Reference.prop "empirical_seed0" |> Reference.prop shapeName
    let e name = Reference.prop name shape |> Reference.num
    Expect.equal s.N (e "n") "n"
    if c.Family = "orthogonal" then
        // QR in float32: libtorch 2.10's LAPACK and PyTorch 1.13's differ in rounding.
        let close = { absolute = 1e-6; relative = 1e-5 }
        Expect.floatClose close s.Std (e "std") "std"
        Expect.floatClose close s.Kurtosis (e "kurtosis") "kurtosis"
        Expect.floatClose close s.MaxAbs (e "max_abs") "max_abs"
    else
        // The same float32 numbers as PyTorch: min and max equal, moments to summation order.
        Expect.equal s.Min (e "min") "min"
        Expect.equal s.Max (e "max") "max"
        let close = { absolute = 1e-15; relative = 1e-12 }
        Expect.floatClose close s.Mean (e "mean") "mean"
        Expect.floatClose close s.Std (e "std") "std"
        Expect.floatClose close s.Kurtosis (e "kurtosis") "kurtosis"

[<Tests>]
let initTests =
    testSequenced <| testList "Init vs init.json (PyTorch 1.13.1 torch.nn.init)" [
        testCase "CalculateGain equals calculate_gain for every entry" <| fun () ->
            for e in (root.Force() |> Reference.prop "calculate_gain").EnumerateArray() do
                let nl = (Reference.prop "nonlinearity" e).GetString()
                let param = Reference.tryProp "param" e |> Option.map (fun p -> p.GetDouble()) |> Option.toNullable
                let expected = Reference.prop "gain" e |> Reference.num
                Expect.equal (Initializers.CalculateGain(nl, param)) expected $"calculate_gain('{nl}', {param})"

        testList "every config × shape: theory (fans, gain, std, bound, family by kurtosis) and PyTorch's own seed-0 draws (empirical_seed0)" [
            for parsed in parsedConfigs.Force() do
              match parsed with
              | Error (where, why) -> testCase $"{where}: cannot be read" <| fun () -> failtestf "init.json %s: %s" where why
              | Ok c ->
                match Reference.tryProp "theory" c.Config with
                | None -> testCase $"{c.Name}: no theory" <| fun () -> failtestf "init.json %s has no 'theory' object of shapes" c.Name
                | Some theory ->
                for shape in theory.EnumerateObject() do
                    testCase $"{c.Name} {shape.Name}" <| fun () ->
                        if not (List.contains c.Family [ "uniform"; "normal"; "orthogonal" ]) then
                            failtestf "%s: family '%s' is not handled by these tests (uniform, normal, orthogonal)" c.Name c.Family
                        let th = shape.Value
                        let dims = shapeOf shape.Name
                        use w = draw c dims
                        let s = stats w
                        checkEmpirical c shape.Name s
                        let num name = Reference.prop name th |> Reference.num
                        // Fans and gain as PyTorch computes them.
                        let struct (fanIn, fanOut) = Initializers.CalculateFanInAndFanOut w
                        Expect.equal (float fanIn) (num "fan_in") "fan_in"
                        Expect.equal (float fanOut) (num "fan_out") "fan_out"
                        let gain =
                            match c.GainFrom with
                            | Some from ->
                                let nl = from.Replace("calculate_gain('", "").Replace("')", "")
                                let g = Initializers.CalculateGain nl
                                Expect.equal g ((Reference.prop "gain" c.Kwargs).GetDouble()) "kwargs gain = calculate_gain"
                                g
                            | None ->
                                Initializers.CalculateGain((Reference.prop "nonlinearity" c.Kwargs).GetString(), (Reference.prop "a" c.Kwargs).GetDouble())
                        Expect.equal gain (num "gain") "gain"
                        let theoryStd = num "std"
                        match c.Family with
                        | "orthogonal" ->
                            // Entry RMS is gain/√max(rows, cols) exactly (up to float32 rounding), and the
                            // rows (or columns) are orthonormal up to gain.
                            Expect.floatClose { absolute = 0.0; relative = 1e-5 } s.Rms theoryStd "RMS = gain/sqrt(max(rows, cols))"
                            use _ = torch.NewDisposeScope()
                            let m = if dims.[0] <= dims.[1] then w.matmul(w.t()) else w.t().matmul(w)
                            let k = m.shape.[0]
                            let err = (m - torch.eye(k, dtype = torch.float32).mul((gain * gain).ToScalar())).abs().max().item<float32>()
                            Expect.isLessThan (float err) (1e-5 * gain * gain * 10.0) "W Wᵀ = gain² I"
                            if s.N >= familyMinimumDraws then
                                let n = float (max dims.[0] dims.[1])
                                let expected = 3.0 * n / (n + 2.0)
                                Expect.isLessThan (abs (s.Kurtosis - expected)) (6.0 * kurtosisSe "normal" s.N)
                                    $"kurtosis {s.Kurtosis} vs 3n/(n+2) = {expected}"
                        | family ->
                            let kappa = if family = "uniform" then 1.8 else 3.0
                            let se = stdRelSe kappa s.N
                            Expect.isLessThan (abs (s.Std / theoryStd - 1.0)) (5.0 * se)
                                $"std {s.Std} vs theory {theoryStd} (5 s.e. = {5.0 * se:g3} relative)"
                            Expect.isLessThan (abs s.Mean) (6.0 * theoryStd / sqrt s.N) "mean ≈ 0"
                            if family = "uniform" then
                                let bound = num "bound"
                                Expect.isLessThanOrEqual s.MaxAbs (bound * (1.0 + 1e-6)) $"max |w| {s.MaxAbs} <= bound {bound} (float32)"
                                // The largest of n uniform draws reaches 1 − 10/n of the bound except with probability e^-10.
                                Expect.isGreaterThan s.MaxAbs (bound * (1.0 - 10.0 / s.N)) "max |w| reaches the bound"
                            else
                                Expect.isLessThan s.MaxAbs (theoryStd * (sqrt (2.0 * log s.N) + 2.0)) "normal tails"
                            if s.N >= familyMinimumDraws then
                                let other = if family = "uniform" then 3.0 else 1.8
                                Expect.isLessThan (abs (s.Kurtosis - kappa)) (6.0 * kurtosisSe family s.N)
                                    $"kurtosis {s.Kurtosis} is {family} ({kappa})"
                                Expect.isGreaterThan (abs (s.Kurtosis - other)) (abs (s.Kurtosis - kappa)) "closer to its own family"
        ]

        testCase "TorchSharp 0.107's xavier_normal_ draws uniform values: kurtosis 1.8, and PyTorch's xavier_uniform_ numbers for seed 0" <| fun () ->
            TorchRuntime.EnsureNative()
            let c = findConfig "xavier_uniform_" 1.0 "2000x2000"
            let e name = c.Config |> Reference.prop "empirical_seed0" |> Reference.prop "2000x2000" |> Reference.prop name |> Reference.num
            use w = torch.empty([| 2000L; 2000L |], dtype = torch.float32)
            torch.manual_seed 0L |> ignore
            torch.nn.init.xavier_normal_(w) |> ignore
            let s = stats w
            Expect.isLessThan (abs (s.Kurtosis - 1.8)) (6.0 * kurtosisSe "uniform" s.N) $"TorchSharp xavier_normal_ kurtosis {s.Kurtosis} (uniform)"
            Expect.equal s.Max (e "max") "identical to PyTorch's xavier_uniform_ draws (max)"
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } s.Kurtosis (e "kurtosis") "identical to PyTorch's xavier_uniform_ draws (kurtosis)"
            use ours = draw (findConfig "xavier_normal_" 1.0 "2000x2000") [| 2000L; 2000L |]
            let o = stats ours
            Expect.isLessThan (abs (o.Kurtosis - 3.0)) (6.0 * kurtosisSe "normal" o.N) $"ours is normal: kurtosis {o.Kurtosis}"
            Expect.floatClose { absolute = 0.0; relative = 5.0 * stdRelSe 3.0 o.N } o.Std s.Std "same std as TorchSharp's"
    ]

[<Tests>]
let initBehaviour =
    testSequenced <| testList "Init behaviour" [
        testCase "fans as PyTorch's _calculate_fan_in_and_fan_out, including conv kernels" <| fun () ->
            TorchRuntime.EnsureNative()
            // [out, in, k...]: fan_in = in·Πk, fan_out = out·Πk.
            for (shape, fanIn, fanOut) in [ [| 10L; 500L |], 500L, 10L
                                            [| 4L; 2L; 3L; 3L |], 18L, 36L
                                            [| 8L; 3L; 5L |], 15L, 40L
                                            [| 2L; 3L; 2L; 2L; 2L |], 24L, 16L ] do
                use w = torch.empty(shape)
                let struct (fi, fo) = Initializers.CalculateFanInAndFanOut w
                Expect.equal (fi, fo) (fanIn, fanOut) (sprintf "%A" shape)
            use b = torch.empty([| 10L |])
            Expect.throwsT<ArgumentException> (fun () -> Initializers.CalculateFanInAndFanOut b |> ignore) "1-D"

        testCase "KaimingNormal on a Conv2d weight [64, 32, 3, 3] has std √2/√(32·9) (fan-in) and √2/√(64·9) (fan-out)" <| fun () ->
            TorchRuntime.EnsureNative()
            use g = new torch.Generator(7UL, torch.CPU)
            use w = torch.empty([| 64L; 32L; 3L; 3L |])
            for (mode, fan) in [ FanMode.FanIn, 288.0; FanMode.FanOut, 576.0 ] do
                Initializers.KaimingNormal(w, mode = mode, nonlinearity = "relu", generator = g) |> ignore
                let s = stats w
                let theory = sqrt 2.0 / sqrt fan
                Expect.isLessThan (abs (s.Std / theory - 1.0)) (5.0 * stdRelSe 3.0 s.N) $"{mode}: std {s.Std} vs {theory}"

        testCase "Normal(mean, std) and Uniform(low, high) on 1e6 draws: moments and family" <| fun () ->
            TorchRuntime.EnsureNative()
            use g = new torch.Generator(11UL, torch.CPU)
            use w = torch.empty([| 1000L; 1000L |], dtype = torch.float32)
            Initializers.Normal(w, 0.5, 0.1, g) |> ignore
            let s = stats w
            Expect.isLessThan (abs (s.Mean - 0.5)) (6.0 * 0.1 / sqrt s.N) "normal mean"
            Expect.isLessThan (abs (s.Std / 0.1 - 1.0)) (5.0 * stdRelSe 3.0 s.N) "normal std"
            Expect.isLessThan (abs (s.Kurtosis - 3.0)) (6.0 * kurtosisSe "normal" s.N) "normal kurtosis"
            Initializers.Uniform(w, -2.0, 4.0, g) |> ignore
            let u = stats w
            Expect.isGreaterThanOrEqual u.Min -2.0 "uniform min"
            Expect.isLessThanOrEqual u.Max 4.0 "uniform max"
            Expect.isLessThan (abs (u.Mean - 1.0)) (6.0 * sqrt 3.0 / sqrt u.N) "uniform mean"
            Expect.isLessThan (abs (u.Kurtosis - 1.8)) (6.0 * kurtosisSe "uniform" u.N) "uniform kurtosis"

        testCase "the same generator seed gives the same weights; the global generator follows torch.manual_seed" <| fun () ->
            TorchRuntime.EnsureNative()
            let drawWith seed =
                use g = new torch.Generator(seed, torch.CPU)
                use w = torch.empty([| 20L; 30L |])
                Initializers.XavierNormal(w, generator = g) |> ignore
                w.data<float32>().ToArray()
            Expect.sequenceEqual (drawWith 5UL) (drawWith 5UL) "same seed"
            Expect.notEqual (drawWith 5UL) (drawWith 6UL) "different seeds"
            let global' () =
                torch.manual_seed 3L |> ignore
                use w = torch.empty([| 20L; 30L |])
                Initializers.Orthogonal(w) |> ignore
                w.data<float32>().ToArray()
            Expect.sequenceEqual (global' ()) (global' ()) "global generator after manual_seed"

        testCase "initialisers work in place under no_grad on a parameter that requires grad" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = new TorchSharp.Modules.Parameter(torch.zeros([| 5L; 4L |]))
            let r = Initializers.KaimingUniform(p, nonlinearity = "relu")
            Expect.isTrue (obj.ReferenceEquals(r, p)) "returns the same tensor"
            Expect.isTrue p.requires_grad "still requires grad"
            Expect.isGreaterThan (stats p).MaxAbs 0.0 "filled"

        testCase "caller errors throw ArgumentException naming the parameter; empty tensors are left alone" <| fun () ->
            TorchRuntime.EnsureNative()
            use w = torch.empty([| 3L; 4L |])
            use v = torch.empty([| 4L |])
            let cases : (string * (unit -> obj) * string) list =
                [ "unknown nonlinearity", (fun () -> box (Initializers.CalculateGain "gelu")), "nonlinearity"
                  "leaky_relu slope NaN", (fun () -> box (Initializers.CalculateGain("leaky_relu", nan))), "param"
                  "Normal std < 0", (fun () -> box (Initializers.Normal(w, 0.0, -1.0))), "std"
                  "Uniform high < low", (fun () -> box (Initializers.Uniform(w, 1.0, 0.0))), "high"
                  "XavierUniform gain < 0", (fun () -> box (Initializers.XavierUniform(w, -1.0))), "gain"
                  "XavierNormal on a bias", (fun () -> box (Initializers.XavierNormal v)), "tensor"
                  "Kaiming unknown nonlinearity", (fun () -> box (Initializers.KaimingUniform(w, nonlinearity = "swish"))), "nonlinearity"
                  "Orthogonal on a bias", (fun () -> box (Initializers.Orthogonal v)), "tensor" ]
            for (label, make, paramName) in cases do
                try
                    make () |> ignore
                    failtestf "%s: no exception" label
                with :? ArgumentException as e -> Expect.equal e.ParamName paramName label
            use empty = torch.empty([| 0L; 5L |])
            Expect.equal (Initializers.XavierNormal(empty).numel()) 0L "empty tensor: no-op"
    ]
