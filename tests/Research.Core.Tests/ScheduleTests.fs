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

[<Tests>]
let scheduleTests =
    testList "Optim.Schedules vs optimizers.json schedulers (PyTorch 1.13.1), bit for bit" [
        testCase "StepLR(step_size 10, gamma 0.5), chainable form" <| fun () ->
            let p, opt = sgd (setting "StepLR" "base_lr")
            use _ = p
            use _ = opt
            let s = StepLR(opt, int (setting "StepLR" "step_size"), setting "StepLR" "gamma")
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "StepLR") "StepLR"

        testCase "LinearWarmup(20) = LambdaLR(min(1, (e + 1)/20))" <| fun () ->
            let p, opt = sgd (setting "LambdaLR_linear_warmup" "base_lr")
            use _ = p
            use _ = opt
            let s = LinearWarmup(opt, int (setting "LambdaLR_linear_warmup" "warmup_steps"))
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "LambdaLR_linear_warmup") "LinearWarmup"

        testCase "LambdaLR with the reference's lambda e: min(1.0, (e + 1) / 20)" <| fun () ->
            let p, opt = sgd 0.1
            use _ = p
            use _ = opt
            let s = LambdaLR(opt, fun e -> min 1.0 (float (e + 1) / 20.0))
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "LambdaLR_linear_warmup") "LambdaLR"

        testCase "CyclicLR triangular (base 0.001, max 0.1, step_size_up 10) overwrites the optimizer's lr 0.1 with base_lr" <| fun () ->
            let p, opt = sgd (setting "CyclicLR_triangular" "optimizer_lr_before")
            use _ = p
            use _ = opt
            let s = CyclicLR(opt, setting "CyclicLR_triangular" "base_lr", setting "CyclicLR_triangular" "max_lr",
                             int (setting "CyclicLR_triangular" "step_size_up"))
            expectBitwise (sequence opt s 50 (fun _ -> None)) (reference "CyclicLR_triangular") "CyclicLR"

        testCase "ExponentialLR(0.9) is the chained product, which differs from base·γ^k where PyTorch's does" <| fun () ->
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

        testCase "ReduceLROnPlateau(min, factor 0.1, patience 2, rel 1e-4): lr, best, num_bad_epochs, cooldown_counter" <| fun () ->
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

        testCase "exponential LR range test 1e-8 → 10 over 100 steps, and the same as LambdaLR (via_LambdaLR)" <| fun () ->
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
            let s = CyclicLR(opt, 0.0, 1.0, 2, 4)
            let lrs = sequence opt s 6 (fun _ -> None)
            let expected = [| 0.0; 0.5; 1.0; 0.75; 0.5; 0.25; 0.0 |]
            for k in 0 .. 6 do Expect.floatClose { absolute = 1e-15; relative = 1e-15 } lrs.[k] expected.[k] $"lr[{k}]"

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
