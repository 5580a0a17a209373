/// Tests of Research.Core.Optim.Schedules against PyTorch 1.13.1's learning-rate sequences in
/// /work/shared/reference/optimizers.json ("schedulers", made by make_optim_vectors.py with Debian's
/// python3-torch 1.13.1). Convention of that file: SGD(lr=0.1); for t = 0..49: optimizer.step();
/// scheduler.step() (ReduceLROnPlateau: scheduler.step(losses[t])); lrs[k] is the optimizer's lr after
/// k scheduler steps (lrs[0]: right after constructing the scheduler, the lr of optimizer step 0).
module ScheduleTests

open System
open Expecto
open TorchSharp
open TorchSharp.Modules
open Research.Core.Optim
open Research.Core.Optim.Schedules
open Research.Core.Runtime
open Research.Tests

let private schedulers = lazy (Reference.load "optimizers.json" |> Reference.prop "schedulers")

let private entry name = schedulers.Force() |> Reference.prop name
let private setting name key = entry name |> Reference.prop "settings" |> Reference.prop key |> Reference.num

/// SGD over one parameter with a gradient, as in the reference loop.
let private sgd (lr: float) =
    TorchRuntime.EnsureNative()
    let p = new Parameter(torch.tensor([| 1.0; -2.0 |], dtype = torch.float64))
    p.grad <- torch.tensor([| 0.5; 0.25 |], dtype = torch.float64)
    p, new Sgd([ p ], lr)

/// lrs[0..steps] of a schedule, stepping the optimizer before each schedule step as the reference does.
let private sequence (opt: Optimizer) (schedule: ILearningRateSchedule) (steps: int) (metric: int -> float option) =
    [| yield opt.LearningRate
       for t in 0 .. steps - 1 do
           opt.Step()
           schedule.Step(Option.toNullable (metric t))
           Expect.equal schedule.CurrentLearningRate opt.LearningRate "CurrentLearningRate is the optimizer's"
           Expect.equal schedule.LastEpoch (t + 1) "LastEpoch counts the steps"
           yield opt.LearningRate |]

/// Bit-for-bit comparison (the reference distinguishes chained products from closed forms in the last bit).
let private expectBitwise (actual: float[]) (expected: float[]) (label: string) =
    Expect.equal actual.Length expected.Length $"{label}: length"
    for k in 0 .. expected.Length - 1 do
        if BitConverter.DoubleToInt64Bits actual.[k] <> BitConverter.DoubleToInt64Bits expected.[k] then
            failtestf "%s: lrs[%d] = %.17g, PyTorch %.17g" label k actual.[k] expected.[k]

let private reference name = entry name |> Reference.prop "lrs" |> Reference.floats

/// The tests of the file's scheduler entries, by the entry each one reproduces.
let private entryTests : (string * Test) list =
    [
        "StepLR", testCase "StepLR(step_size 10, gamma 0.5), chainable form" <| fun () ->
            let p, opt = sgd (setting "StepLR" "base_lr")
            use _ = p
            use _ = opt
            let s = StepLR(opt, int (setting "StepLR" "step_size"), setting "StepLR" "gamma")
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "StepLR") "StepLR"

        "LambdaLR_linear_warmup", testCase "LinearWarmup(20) = LambdaLR(min(1, (e + 1)/20))" <| fun () ->
            let p, opt = sgd (setting "LambdaLR_linear_warmup" "base_lr")
            use _ = p
            use _ = opt
            let s = LinearWarmup(opt, int (setting "LambdaLR_linear_warmup" "warmup_steps"))
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "LambdaLR_linear_warmup") "LinearWarmup"

        "LambdaLR_linear_warmup", testCase "LambdaLR with the reference's lambda e: min(1.0, (e + 1) / 20)" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = LambdaLR(opt, fun e -> min 1.0 (float (e + 1) / 20.0))
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "LambdaLR_linear_warmup") "LambdaLR"

        "CyclicLR_triangular", testCase "CyclicLR triangular (base 0.001, max 0.1, step_size_up 10) overwrites the optimizer's lr 0.1 with base_lr" <| fun () ->
            let p, opt = sgd (setting "CyclicLR_triangular" "optimizer_lr_before")
            use _ = p
            use _ = opt
            // The reference ran PyTorch's CyclicLR with the settings it records, cycle_momentum=False among them.
            let st = entry "CyclicLR_triangular" |> Reference.prop "settings"
            let cycleMomentum = (Reference.prop "cycle_momentum" st).GetBoolean()
            Expect.isFalse cycleMomentum "the reference's run did not cycle momentum"
            Expect.equal ((Reference.prop "mode" st).GetString()) "triangular" "mode"
            let s = CyclicLR(opt, setting "CyclicLR_triangular" "base_lr", setting "CyclicLR_triangular" "max_lr",
                             int (setting "CyclicLR_triangular" "step_size_up"), cycleMomentum = cycleMomentum)
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "CyclicLR_triangular") "CyclicLR"
            Expect.equal opt.Momentum 0.0 "the optimizer's momentum is left alone"

        "ExponentialLR", testCase "ExponentialLR(0.9) is the chained product, which differs from base·γ^k where PyTorch's does" <| fun () ->
            let p, opt = sgd (setting "ExponentialLR" "base_lr")
            use _ = p
            use _ = opt
            let s = ExponentialLR(opt, setting "ExponentialLR" "gamma")
            let lrs = sequence opt s 50 (fun _ -> None)
            expectBitwise lrs (reference "ExponentialLR") "ExponentialLR"
            let closed = entry "ExponentialLR" |> Reference.prop "closed_form" |> Reference.floats
            let differing = Array.map2 (fun a b -> a <> b) lrs closed |> Array.filter id |> Array.length
            Expect.equal (float differing) (entry "ExponentialLR" |> Reference.prop "n_differing_from_closed_form" |> Reference.num)
                "as many entries differ from the closed form as in PyTorch"

        "ReduceLROnPlateau", testCase "ReduceLROnPlateau(min, factor 0.1, patience 2, rel 1e-4): lr, best, num_bad_epochs, cooldown_counter" <| fun () ->
            let name = "ReduceLROnPlateau"
            let p, opt = sgd (setting name "base_lr")
            use _ = p
            use _ = opt
            let st = entry name |> Reference.prop "settings"
            let s =
                ReduceLROnPlateau(opt, (Reference.prop "mode" st).GetString(), setting name "factor", int (setting name "patience"),
                                  setting name "threshold", (Reference.prop "threshold_mode" st).GetString(), int (setting name "cooldown"),
                                  setting name "min_lr", setting name "eps")
            let losses = entry name |> Reference.prop "losses" |> Reference.floats
            let lrs, best, bad, cool = ResizeArray [ opt.LearningRate ], ResizeArray(), ResizeArray(), ResizeArray()
            for loss in losses do
                opt.Step()
                s.Step(loss)
                lrs.Add opt.LearningRate
                best.Add s.Best
                bad.Add(float s.NumBadEpochs)
                cool.Add(float s.CooldownCounter)
            let lrs = lrs.ToArray()
            expectBitwise lrs (reference name) "ReduceLROnPlateau lr"
            expectBitwise (best.ToArray()) (entry name |> Reference.prop "best" |> Reference.floats) "best"
            expectBitwise (bad.ToArray()) (entry name |> Reference.prop "num_bad_epochs" |> Reference.floats) "num_bad_epochs"
            expectBitwise (cool.ToArray()) (entry name |> Reference.prop "cooldown_counter" |> Reference.floats) "cooldown_counter"

        "LR_range_test_exponential", testCase "exponential LR range test 1e-8 → 10 over 100 steps, and the same as LambdaLR (via_LambdaLR)" <| fun () ->
            let name = "LR_range_test_exponential"
            let start, stop, steps = setting name "start_lr", setting name "end_lr", int (setting name "steps")
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = ExponentialRangeTest(opt, start, stop, steps)
            Expect.isFalse s.IsFinished "not finished at start"
            expectBitwise (sequence opt s steps (fun _ -> None)) (reference name) "range test"
            Expect.isTrue s.IsFinished "finished after steps"
            let p2, opt2 = sgd start
            use _ = p2
            use _ = opt2
            let viaLambda = LambdaLR(opt2, fun t -> Math.Pow(stop / start, float t / float steps))
            expectBitwise (sequence opt2 viaLambda steps (fun _ -> None))
                (entry name |> Reference.prop "via_LambdaLR" |> Reference.floats) "via LambdaLR"
    ]

/// The entries of optimizers.json's "schedulers" (keys starting with "_" are notes), or why they cannot be read.
let private fileEntries : Result<string list, string> =
    try Ok [ for e in schedulers.Force().EnumerateObject() do if not (e.Name.StartsWith "_") then yield e.Name ]
    with e -> Error $"optimizers.json schedulers cannot be read: {e.Message}"

[<Tests>]
let scheduleTests =
    testList "Optim.Schedules vs optimizers.json schedulers (PyTorch 1.13.1), bit for bit" [
        match fileEntries with
        | Error why -> testCase "optimizers.json schedulers load" <| fun () -> failtest why
        | Ok names ->
            // Every entry the file holds is run; one without a test here, or a test whose entry the
            // file no longer holds, is one failing test that says so.
            for name in names do
                match entryTests |> List.filter (fun (e, _) -> e = name) with
                | [] ->
                    testCase $"{name}: no test here" <| fun () ->
                        failtestf "optimizers.json has a scheduler entry '%s' that no test here reproduces; add one (settings: %s)"
                            name ((entry name |> Reference.prop "settings").GetRawText())
                | tests -> yield! tests |> List.map snd
            for (e, _) in entryTests |> List.distinctBy fst do
                if not (List.contains e names) then
                    testCase $"{e}: entry missing from optimizers.json" <| fun () ->
                        failtestf "the tests reproduce scheduler entry '%s', which optimizers.json no longer holds" e
    ]

[<Tests>]
let scheduleBehaviour =
    testList "Optim.Schedules behaviour" [
        testCase "ReduceLROnPlateau max/abs with cooldown and min_lr: hand-traced through PyTorch 1.13's step()" <| fun () ->
            // mode max, abs threshold 0.1, patience 1, cooldown 2, factor 0.5, min_lr 0.02, lr 0.1.
            // Traced by hand from torch/optim/lr_scheduler.py (1.13.1) ReduceLROnPlateau.step:
            // better iff m > best + 0.1; reductions at steps 5, 9, 13 (0.1 → 0.05 → 0.025 → max(0.0125, 0.02));
            // at step 17 the reduction max(0.01, 0.02) = 0.02 is not applied (0.02 − 0.02 ≤ eps) but the
            // cooldown restarts; step 18's 1.35 > 1.2 + 0.1 is an improvement.
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = ReduceLROnPlateau(opt, "max", 0.5, 1, 0.1, "abs", 2, 0.02)
            let metrics = [| 1.0; 1.05; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.2; 1.35 |]
            let expectedLr = [| 0.1; 0.1; 0.1; 0.1; 0.05; 0.05; 0.05; 0.05; 0.025; 0.025; 0.025; 0.025; 0.02; 0.02; 0.02; 0.02; 0.02; 0.02 |]
            let expectedBad = [| 0; 1; 0; 1; 0; 0; 0; 1; 0; 0; 0; 1; 0; 0; 0; 1; 0; 0 |]
            let expectedCooldown = [| 0; 0; 0; 0; 2; 1; 0; 0; 2; 1; 0; 0; 2; 1; 0; 0; 2; 1 |]
            for t in 0 .. metrics.Length - 1 do
                s.Step(metrics.[t])
                Expect.equal opt.LearningRate expectedLr.[t] $"lr after step {t + 1}"
                Expect.equal s.NumBadEpochs expectedBad.[t] $"num_bad_epochs after step {t + 1}"
                Expect.equal s.CooldownCounter expectedCooldown.[t] $"cooldown_counter after step {t + 1}"
            Expect.equal s.Best 1.35 "best"

        testCase "ReduceLROnPlateau treats NaN as no improvement and needs a metric" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = ReduceLROnPlateau(opt, patience = 0)
            s.Step(1.0)
            s.Step(nan)
            Expect.equal opt.LearningRate (0.1 * 0.1) "one bad step with patience 0 reduces"
            Expect.equal s.Best 1.0 "best unchanged by NaN"
            Expect.throwsT<ArgumentException> (fun () -> s.Step()) "no metric"

        testCase "CyclicLR with step_size_down ≠ step_size_up: a 2-up, 4-down triangle from 0 to 1" <| fun () ->
            // x = 1 + k/6 − ⌊1 + k/6⌋, ratio 1/3: k = 0..6 → 0, 1/2, 1, 3/4, 1/2, 1/4, 0.
            let p, opt = sgd 0.5
            use _ = p
            use _ = opt
            let s = CyclicLR(opt, 0.0, 1.0, 2, 4, cycleMomentum = false)
            let lrs = sequence opt s 6 (fun _ -> None)
            let expected = [| 0.0; 0.5; 1.0; 0.75; 0.5; 0.25; 0.0 |]
            for k in 0 .. 6 do Expect.floatClose { absolute = 1e-15; relative = 1e-15 } lrs.[k] expected.[k] $"lr[{k}]"

        testCase "CyclicLR cycles SGD's momentum as PyTorch 1.13 (default cycle_momentum, base 0.8, max 0.9): max at base_lr, base at max_lr" <| fun () ->
            // torch/optim/lr_scheduler.py 1.13, CyclicLR.__init__ sets group['momentum'] = max_momentum; get_lr:
            // cycle = floor(1 + k/total); x = 1 + k/total − cycle; scale = x/ratio if x <= ratio else (x − 1)/(ratio − 1);
            // momentum = max_momentum − (max_momentum − base_momentum)·scale·scale_fn(cycle), scale_fn = 1 (triangular).
            // By hand for step_size_up = 4 (total 8, ratio 1/2): scale 0, 1/4, 1/2, 3/4, 1, 3/4, 1/2, 1/4, 0, …
            let p, opt = sgd 0.5
            use _ = p
            use _ = opt
            let s = CyclicLR(opt, 0.01, 0.1, 4)
            Expect.isTrue s.CycleMomentum "PyTorch's default"
            Expect.isFalse s.UsesBeta1 "SGD has no betas: its momentum is cycled"
            Expect.equal opt.Momentum 0.9 "the constructor sets max_momentum (SGD was created without momentum)"
            let momenta = ResizeArray [ opt.Momentum ]
            let lrs = ResizeArray [ opt.LearningRate ]
            for _ in 1 .. 17 do
                opt.Step()
                s.Step()
                momenta.Add opt.Momentum
                lrs.Add opt.LearningRate
                Expect.equal s.CurrentMomentum (Nullable opt.Momentum) "CurrentMomentum is the optimizer's"
            let byHand = [| 0.9; 0.875; 0.85; 0.825; 0.8; 0.825; 0.85; 0.875; 0.9; 0.875; 0.85; 0.825; 0.8; 0.825; 0.85; 0.875; 0.9; 0.875 |]
            for k in 0 .. 17 do
                Expect.floatClose { absolute = 1e-15; relative = 0.0 } momenta.[k] byHand.[k] $"momentum after {k} steps"
                // PyTorch's own expression, evaluated in double as Python does: the same bits.
                let total = 8.0
                let cycle = floor (1.0 + float k / total)
                let x = 1.0 + float k / total - cycle
                let scale = if x <= 0.5 then x / 0.5 else (x - 1.0) / (0.5 - 1.0)
                Expect.equal momenta.[k] (0.9 - (0.9 - 0.8) * scale * 1.0) $"momentum after {k} steps, bit for bit"
                Expect.floatClose { absolute = 1e-15; relative = 0.0 } lrs.[k] (0.01 + 0.09 * scale) $"lr after {k} steps"
            Expect.equal s.Settings.["cycle_momentum"] (box true) "cycle_momentum"
            Expect.equal s.Settings.["base_momentum"] (box 0.8) "base_momentum"
            Expect.equal s.Settings.["max_momentum"] (box 0.9) "max_momentum"
            Expect.equal s.Settings.["use_beta1"] (box false) "use_beta1"

        testCase "CyclicLR cycles Adam's β1 (PyTorch's use_beta1) and leaves β2; RMSprop's momentum; rejects Adagrad unless cycleMomentum is false" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = new Parameter(torch.tensor([| 1.0; -2.0 |], dtype = torch.float64))
            use adam = new Adam([ p ], 1e-3, beta1 = 0.5, beta2 = 0.99)
            let s = CyclicLR(adam, 1e-4, 1e-2, 2, 6, baseMomentum = 0.85, maxMomentum = 0.95)
            Expect.isTrue s.UsesBeta1 "Adam has betas"
            Expect.equal adam.Beta1 0.95 "β1 = max_momentum at construction"
            // total 8, ratio 1/4: scale 0, 1/2, 1, 5/6, 4/6, 3/6, 2/6, 1/6, 0.
            let scales = [| 0.0; 0.5; 1.0; 5.0 / 6.0; 4.0 / 6.0; 3.0 / 6.0; 2.0 / 6.0; 1.0 / 6.0; 0.0 |]
            for k in 1 .. 8 do
                p.grad <- torch.tensor([| 0.5; 0.25 |], dtype = torch.float64)
                adam.Step()
                s.Step()
                Expect.floatClose { absolute = 1e-15; relative = 0.0 } adam.Beta1 (0.95 - 0.1 * scales.[k]) $"β1 after {k} steps"
                Expect.equal adam.Beta2 0.99 "β2 untouched"
                Expect.sequenceEqual (adam.Hyperparameters.["betas"] :?> float[]) [| adam.Beta1; 0.99 |] "betas reported"
            Expect.equal s.Settings.["use_beta1"] (box true) "use_beta1"
            use rms = new RmsProp([ p ])
            let r = CyclicLR(rms, 1e-4, 1e-2, 2)
            Expect.equal rms.Momentum 0.9 "RMSprop: momentum = max_momentum"
            r.Step()
            Expect.floatClose { absolute = 1e-15; relative = 0.0 } rms.Momentum 0.85 "RMSprop momentum half-way up"
            use adagrad = new Adagrad([ p ])
            Check.throws<ArgumentException> (fun () -> CyclicLR(adagrad, 1e-4, 1e-2) |> ignore)
            |> Check.messageHas [ "Adagrad"; "cycle_momentum"; "cycleMomentum: false" ]
            let plain = CyclicLR(adagrad, 1e-4, 1e-2, cycleMomentum = false)
            Expect.isNull (box plain.CurrentMomentum) "no momentum cycled"
            Check.throws<ArgumentException> (fun () -> CyclicLR(adam, 1e-4, 1e-2, maxMomentum = 1.0) |> ignore)
            |> Check.messageHas [ "max_momentum"; "< 1"; "got 1" ]
            Check.throws<ArgumentException> (fun () -> CyclicLR(rms, 1e-4, 1e-2, baseMomentum = -0.1) |> ignore)
            |> Check.messageHas [ "base_momentum"; "-0.1" ]

        testCase "invalid settings throw ArgumentException naming the parameter" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let cases : (string * (unit -> obj) * string) list =
                [ "StepLR step_size 0", (fun () -> box (StepLR(opt, 0))), "stepSize"
                  "StepLR gamma < 0", (fun () -> box (StepLR(opt, 1, -0.5))), "gamma"
                  "ExponentialLR gamma NaN", (fun () -> box (ExponentialLR(opt, nan))), "gamma"
                  "LinearWarmup 0 steps", (fun () -> box (LinearWarmup(opt, 0))), "warmupSteps"
                  "CyclicLR step_size_up 0", (fun () -> box (CyclicLR(opt, 0.001, 0.1, 0))), "stepSizeUp"
                  "CyclicLR base_lr < 0", (fun () -> box (CyclicLR(opt, -0.001, 0.1))), "baseLearningRate"
                  "Plateau mode", (fun () -> box (ReduceLROnPlateau(opt, mode = "minimum"))), "mode"
                  "Plateau threshold_mode", (fun () -> box (ReduceLROnPlateau(opt, thresholdMode = "relative"))), "thresholdMode"
                  "Plateau factor 1", (fun () -> box (ReduceLROnPlateau(opt, factor = 1.0))), "factor"
                  "Plateau patience < 0", (fun () -> box (ReduceLROnPlateau(opt, patience = -1))), "patience"
                  "Range test start 0", (fun () -> box (ExponentialRangeTest(opt, 0.0, 10.0, 100))), "startLearningRate"
                  "Range test steps 0", (fun () -> box (ExponentialRangeTest(opt, 1e-8, 10.0, 0))), "steps" ]
            for (label, make, paramName) in cases do
                try
                    make () |> ignore
                    failtestf "%s: no exception" label
                with :? ArgumentException as e -> Expect.equal e.ParamName paramName label

        testCase "a LambdaLR whose factor turns negative fails with a message instead of setting it" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = LambdaLR(opt, fun e -> 1.0 - float e)
            s.Step()
            Expect.equal opt.LearningRate 0.0 "factor 0 at step 1"
            Expect.throwsT<InvalidOperationException> (fun () -> s.Step()) "factor −1 at step 2"
            Expect.equal opt.LearningRate 0.0 "unchanged"

        testCase "schedules take any ILearningRate: a wrapped TorchSharp optimizer and a plain object" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = new Parameter(torch.tensor([| 1.0 |], dtype = torch.float64))
            let wrapped = Research.Core.Training.TorchSharpOptimizer("SGD", torch.optim.SGD([ p ], 0.1))
            let s = StepLR(wrapped, 2, 0.5)
            for _ in 1 .. 4 do s.Step()
            Expect.equal wrapped.LearningRate 0.025 "StepLR halved the TorchSharp optimizer's rate twice"
            let mutable lr = 1.0
            let plain =
                { new ILearningRate with
                    member _.LearningRate with get () = lr and set v = lr <- v
                    member _.Name = "plain" }
            let warmup = LinearWarmup(plain, 4)
            Expect.equal lr 0.25 "LinearWarmup set lr/4 for the first step"
            Expect.isTrue (obj.ReferenceEquals(warmup.Optimizer, plain)) "the schedule's Optimizer is the object given"

        testCase "Settings name every setting under PyTorch's names" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = StepLR(opt, 10, 0.5)
            Expect.equal s.Settings.["step_size"] (box 10) "step_size"
            Expect.equal s.Settings.["gamma"] (box 0.5) "gamma"
            Expect.equal s.Settings.["base_lr"] (box 0.1) "base_lr"
            let r = ReduceLROnPlateau(opt)
            Expect.equal (r.Settings.Keys |> Set.ofSeq)
                (set [ "mode"; "factor"; "patience"; "threshold"; "threshold_mode"; "cooldown"; "min_lr"; "eps" ]) "plateau keys"
    ]
