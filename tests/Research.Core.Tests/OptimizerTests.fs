/// Tests of Research.Core.Optim against PyTorch 1.13.1's own trajectories
/// (/work/shared/reference/optimizers.json and optimizers_nofma.json, made by make_optim_vectors.py
/// with Debian's python3-torch 1.13.1, float64, foreach=False), plus TorchSharp 0.107's built-in
/// optimizers checked against the same files.
module OptimizerTests

open System
open System.Collections.Generic
open System.Text.Json
open System.Text.Json.Nodes
open Expecto
open TorchSharp
open TorchSharp.Modules
open Research.Core.Optim
open Research.Core.Runtime
open Research.Tests

// ---------------------------------------------------------------------------------------------
// The reference files

/// A reference file and the arithmetic flavour that reproduces it.
type ReferenceFile =
    { File: string
      /// Optimizer.FusedMultiplyAdd for this file.
      Fused: bool
      Source: string }

let referenceFiles =
    [ { File = "optimizers.json"; Fused = true
        Source = "PyTorch 1.13.1 on AVX2 (add(alpha)/addcmul fused into FMA)" }
      { File = "optimizers_nofma.json"; Fused = false
        Source = "PyTorch 1.13.1 with ATEN_CPU_CAPABILITY=default (no FMA)" } ]

/// One optimizer run of a reference file: 100 steps from the file's initial parameters.
type Run =
    { Name: string
      Optimizer: string
      Case: string
      Settings: JsonElement
      /// Gradient of step k (0-based): the run's grads_used[k] when it has them, else from its case.
      Grad: int -> float[]
      /// True when the gradients come from the run's own grads_used (a parameter-dependent case).
      FromGradsUsed: bool
      /// Params.[k] = parameters after k + 1 steps.
      Params: float[][]
      /// Optimizer state tensors after each step, by PyTorch's name.
      State: (string * float[][]) list
      /// RAdam only: ρ_t and r_t (NaN where not rectified) for t = 1..100.
      RhoRect: (float[] * float[]) option
      /// The run as stored.
      Json: JsonElement }

/// A run of a reference file that these tests cannot run, and why (it becomes one failing test).
type Unrunnable = { Label: string; Reason: string }

type LoadedFile = { Ref: ReferenceFile; Initial: float[]; Runs: Run list; Unrunnable: Unrunnable list; Root: JsonElement }

/// How to feed run `name` of gradient case `case`, decided from what the file stores, never from
/// the case's name (reference README, "Schema notes"): the run's grads_used when present (a
/// parameter-dependent case), else the case's "grads" (one row per step) or "grad" (every step).
let private feed (cases: JsonElement) (run: JsonElement) (name: string) (case: string) (steps: int) (dim: int) =
    let checkRows (what: string) (rows: float[][]) =
        if rows.Length < steps then Error $"{what} has {rows.Length} rows for {steps} steps"
        else
            match rows |> Array.tryFindIndex (fun r -> r.Length <> dim) with
            | Some k -> Error $"{what}[{k}] has {rows.[k].Length} values for {dim} parameters"
            | None -> Ok(fun k -> rows.[k])
    match Reference.tryProp "grads_used" run with
    | Some g -> checkRows $"run '{name}' grads_used" (Reference.floats2 g) |> Result.map (fun f -> f, true)
    | None ->
        match cases.TryGetProperty case with
        | false, _ ->
            Error $"gradient case '{case}' of run '{name}' is not in gradient_cases, and the run stores no grads_used"
        | true, c ->
            match Reference.tryProp "grads" c, Reference.tryProp "grad" c with
            | Some rows, _ -> checkRows $"gradient_cases.{case}.grads" (Reference.floats2 rows) |> Result.map (fun f -> f, false)
            | None, Some g ->
                let v = Reference.floats g
                if v.Length <> dim then Error $"gradient_cases.{case}.grad has {v.Length} values for {dim} parameters"
                else Ok((fun _ -> v), false)
            | None, None ->
                Error($"gradient case '{case}' stores no gradients ('grads' per step or one 'grad'), so it is "
                      + $"parameter-dependent, and run '{name}' stores no grads_used to feed; the reference README "
                      + "asks such runs to store the gradient of step k in grads_used[k]")

/// Parses one run; any problem becomes an Unrunnable naming the run.
let private parseRun (file: string) (cases: JsonElement) (dim: int) (index: int) (r: JsonElement) : Result<Run, Unrunnable> =
    let str key = match r.TryGetProperty (key: string) with | true, v when v.ValueKind = JsonValueKind.String -> v.GetString() | _ -> null
    let name, case = str "name", str "case"
    let label = sprintf "%s · %s · %s" file (if isNull name then $"runs[{index}]" else name) (if isNull case then "?" else case)
    try
        if isNull name || isNull case || isNull (str "optimizer") then
            Error { Label = label; Reason = $"{label}: a run needs string fields name, optimizer and case" }
        else
            let ps = Reference.prop "params" r |> Reference.floats2
            match feed cases r name case ps.Length dim with
            | Error why -> Error { Label = label; Reason = $"{label}: {why}" }
            | Ok (grad, fromGradsUsed) ->
                Ok { Name = name
                     Optimizer = str "optimizer"
                     Case = case
                     Settings = Reference.prop "settings" r
                     Grad = grad
                     FromGradsUsed = fromGradsUsed
                     Params = ps
                     State =
                       match Reference.tryProp "state" r with
                       | Some s -> [ for x in s.EnumerateObject() -> x.Name, Reference.floats2 x.Value ]
                       | None -> []
                     RhoRect =
                       match Reference.tryProp "rho_t" r, Reference.tryProp "rect" r with
                       | Some rho, Some rect -> Some (Reference.floats rho, Reference.floats rect)
                       | _ -> None
                     Json = r }
    with e -> Error { Label = label; Reason = $"{label}: {e.Message}" }

/// Loads a reference file from `path`; never throws (a broken file is an Error with the reason).
let loadFrom (rf: ReferenceFile) (path: string) : Result<LoadedFile, string> =
    try
        use doc = JsonDocument.Parse(IO.File.ReadAllText path)
        let root = doc.RootElement.Clone()
        let initial = Reference.prop "initial_params" root |> Reference.floats
        let cases = Reference.prop "gradient_cases" root
        let parsed = [ for i, r in Seq.indexed ((Reference.prop "runs" root).EnumerateArray()) -> parseRun rf.File cases initial.Length i r ]
        Ok { Ref = rf; Initial = initial; Root = root
             Runs = parsed |> List.choose (function Ok r -> Some r | Error _ -> None)
             Unrunnable = parsed |> List.choose (function Error u -> Some u | Ok _ -> None) }
    with e -> Error $"{path}: cannot be read as a reference file of optimizer trajectories: {e.Message}"

/// The two reference files as loaded once (each an Error with the reason if it cannot be read).
let private loadedFiles =
    [ for rf in referenceFiles ->
        rf, (match Reference.tryDir with
             | Ok d -> loadFrom rf (IO.Path.Combine(d, rf.File))
             | Error why -> Error $"{rf.File}: {why}") ]

/// The loaded files, for tests that use them all (a file that failed to load fails the calling test).
let loaded =
    lazy
        [ for rf, r in loadedFiles ->
            match r with
            | Ok f -> f
            | Error why -> failtestf "%s" why ]

/// Settings that select PyTorch's code path rather than a hyperparameter; the reference uses the
/// single-tensor, non-differentiable, non-capturable, non-fused path throughout.
let private pathSwitches = set [ "foreach"; "differentiable"; "capturable"; "fused" ]

/// The run's settings as the hyperparameter dictionary of Optimizers.Create (JSON values as they are).
let hyperparameters (run: Run) : IDictionary<string, obj> =
    let d = Dictionary<string, obj>()
    for p in run.Settings.EnumerateObject() do
        if pathSwitches.Contains p.Name then
            if p.Value.ValueKind <> JsonValueKind.False && p.Value.ValueKind <> JsonValueKind.Null then
                failwithf "%s: setting %s = %s is not the single-tensor path these tests reproduce" run.Name p.Name (p.Value.GetRawText())
        else d.[p.Name] <- box (p.Value.Clone())
    d :> _

// ---------------------------------------------------------------------------------------------
// Running an optimizer over a reference run

/// Parameters and state after each step.
type Trajectory = { Params: float[][]; State: Map<string, float[][]> }

let private values (t: torch.Tensor) = t.data<float>().ToArray()

/// A correctly rounded square root (Math.Sqrt on the CPU), to replace libtorch 2.10's.
let exactSqrt (x: torch.Tensor) : torch.Tensor =
    let v = values (x.contiguous()) |> Array.map Math.Sqrt
    torch.tensor(v, dtype = torch.float64).reshape(x.shape)

/// Runs a reference run through our optimizer.
let runOurs (fused: bool) (sqrtOverride: (torch.Tensor -> torch.Tensor) option) (initial: float[]) (run: Run) =
    TorchRuntime.EnsureNative()
    use p = new Parameter(torch.tensor(initial, dtype = torch.float64))
    use opt = Optimizers.Create(run.Optimizer, [ p ], hyperparameters run)
    opt.FusedMultiplyAdd <- fused
    sqrtOverride |> Option.iter (fun f -> opt.SquareRootOverride <- Func<_, _>(f))
    let ps = ResizeArray()
    let st = run.State |> List.map (fun (n, _) -> n, ResizeArray<float[]>())
    for k in 0 .. run.Params.Length - 1 do
        use g = torch.tensor(run.Grad k, dtype = torch.float64)
        p.grad <- g
        opt.Step()
        ps.Add(values p)
        for (n, acc) in st do
            match opt.GetState(p, n) with
            | null -> failwithf "%s: no state '%s' after step %d" run.Name n (k + 1)
            | t -> acc.Add(values t)
    { Params = ps.ToArray(); State = st |> List.map (fun (n, a) -> n, a.ToArray()) |> Map.ofList }

/// Relative tolerance of the trajectory tests (Done-when of issue 3).
let tolerance = 1e-13

/// Largest deviation of a trajectory from the reference. Score = |ours − ref| / (|ref| + floor/tolerance),
/// which is ≤ tolerance exactly when |ours − ref| ≤ tolerance·|ref| + floor; MaxRel (pure relative,
/// over nonzero references) and MaxAbs are kept for the record.
type Deviation = { Score: float; MaxRel: float; MaxAbs: float; Where: string }

let zeroDeviation = { Score = 0.0; MaxRel = 0.0; MaxAbs = 0.0; Where = "" }

let worse a b =
    { (if b.Score > a.Score then b else a) with MaxRel = max a.MaxRel b.MaxRel; MaxAbs = max a.MaxAbs b.MaxAbs }

/// Absolute floor of the relative tolerance: |ours − reference| ≤ 1e-13·|reference| + 1e-15. A
/// parameter that decays towards 0 through steps of size O(lr) keeps the absolute rounding error of
/// that path (rmsprop_wd · constant reaches 1e-4 with an error of 1.4e-17 = 1.4e-13 relative), so
/// values near 0 are judged on an absolute scale of 1e-15 (about 4 ulp of 1.0).
let absoluteFloor = 1e-15

let deviation (label: string) (ours: float[][]) (reference: float[][]) =
    let mutable d = zeroDeviation
    for k in 0 .. reference.Length - 1 do
        for i in 0 .. reference.[k].Length - 1 do
            let a, r = ours.[k].[i], reference.[k].[i]
            if Double.IsNaN a <> Double.IsNaN r then failwithf "%s: NaN mismatch at step %d [%d]" label (k + 1) i
            let err = abs (a - r)
            let score = err / (abs r + absoluteFloor / tolerance)
            let rel = if r <> 0.0 then err / abs r elif err > 0.0 then infinity else 0.0
            d <- { (if score > d.Score then { d with Score = score; Where = sprintf "%s step %d [%d]" label (k + 1) i } else d) with
                     MaxRel = max d.MaxRel rel; MaxAbs = max d.MaxAbs err }
    d

let trajectoryDeviation (run: Run) (t: Trajectory) =
    run.State
    |> List.fold (fun acc (n, r) -> worse acc (deviation n t.State.[n] r)) (deviation "params" t.Params run.Params)

let private bitwiseEqual (label: string) (ours: float[][]) (reference: float[][]) =
    for k in 0 .. reference.Length - 1 do
        for i in 0 .. reference.[k].Length - 1 do
            let a, r = ours.[k].[i], reference.[k].[i]
            if BitConverter.DoubleToInt64Bits a <> BitConverter.DoubleToInt64Bits r then
                failtestf "%s differs at step %d [%d]: %.17g vs reference %.17g" label (k + 1) i a r

let private caseName (f: LoadedFile) (run: Run) = sprintf "%s · %s · %s" f.Ref.File run.Name run.Case

// ---------------------------------------------------------------------------------------------

/// The trajectory tests of one reference file: two per runnable run (libtorch sqrt within the
/// tolerance; bit for bit with a correctly rounded sqrt), one failing test per run that cannot be
/// run, one failing test if the file cannot be read. Nothing here throws while the list is built.
let trajectoryTests (rf: ReferenceFile) (loadedFile: Result<LoadedFile, string>) : Test =
    let title = $"{rf.File} ({rf.Source}), FusedMultiplyAdd={rf.Fused}"
    match loadedFile with
    | Error why -> testCase $"{title}: the file loads" <| fun () -> failtest why
    | Ok f ->
        testList title [
            for run in f.Runs do
                let feeding = if run.FromGradsUsed then " (grads_used)" else ""
                testCase $"{run.Name} · {run.Case}{feeding}: params and state within {tolerance} relative (libtorch sqrt)" <| fun () ->
                    let t = runOurs rf.Fused None f.Initial run
                    let d = trajectoryDeviation run t
                    Expect.isLessThanOrEqual d.Score tolerance
                        $"{caseName f run}: worst deviation {d.Score:g3} (relative {d.MaxRel:g3}, abs {d.MaxAbs:g3}) at {d.Where}"
                testCase $"{run.Name} · {run.Case}{feeding}: bit for bit with a correctly rounded sqrt" <| fun () ->
                    let t = runOurs rf.Fused (Some exactSqrt) f.Initial run
                    bitwiseEqual $"{caseName f run} params" t.Params run.Params
                    for (n, r) in run.State do bitwiseEqual $"{caseName f run} state {n}" t.State.[n] r
            for u in f.Unrunnable do
                testCase $"{u.Label}: cannot be run here" <| fun () -> failtest u.Reason
        ]

[<Tests>]
let trajectories =
    testList "Optim.reference trajectories (PyTorch 1.13.1)" [ for rf, r in loadedFiles -> trajectoryTests rf r ]

[<Tests>]
let summaries =
    testList "Optim.reference summaries" [
        testCase "worst deviation per optimizer from optimizers*.json (PyTorch 1.13.1), printed" <| fun () ->
            for f in loaded.Force() do
                let byOpt =
                    f.Runs
                    |> List.groupBy (fun r -> r.Optimizer)
                    |> List.map (fun (o, runs) ->
                        o, runs |> List.fold (fun acc r -> worse acc (trajectoryDeviation r (runOurs f.Ref.Fused None f.Initial r))) zeroDeviation)
                printfn "%s (FusedMultiplyAdd=%b), libtorch sqrt:" f.Ref.File f.Ref.Fused
                for (o, d) in byOpt do
                    printfn "  %-8s score %.3g (max relative %.3g, max abs %.3g; worst at %s)" o d.Score d.MaxRel d.MaxAbs d.Where
                    Expect.isLessThanOrEqual d.Score tolerance $"{f.Ref.File} {o}"

        testCase "the other file: fused arithmetic vs optimizers_nofma.json and plain vs optimizers.json differ by the reference's own FMA/no-FMA gap, printed" <| fun () ->
            // With a correctly rounded sqrt each flavour reproduces its file bit for bit, so running the
            // fused flavour on a run of optimizers.json (its gradients, or its grads_used for a
            // parameter-dependent case) and comparing with the same run of the no-FMA file must show
            // exactly the gap the generator measured between its two PyTorch runs
            // (run.native_vs_nofma.max_abs_diff of optimizers.json).
            let files = loaded.Force()
            let fma = files |> List.find (fun f -> f.Ref.Fused)
            let nofma = files |> List.find (fun f -> not f.Ref.Fused)
            let nofmaRuns = nofma.Runs |> List.map (fun r -> (r.Name, r.Case), r) |> Map.ofList
            let mutable worst = 0.0
            for run in fma.Runs do
                match nofmaRuns.TryFind((run.Name, run.Case)), Reference.tryProp "native_vs_nofma" run.Json with
                | Some other, Some gap ->
                    let t = runOurs true (Some exactSqrt) fma.Initial run
                    let maxAbs =
                        Array.map2 (Array.map2 (fun a b -> abs (a - b))) t.Params other.Params |> Array.collect id |> Array.max
                    worst <- max worst maxAbs
                    Expect.equal maxAbs (gap |> Reference.prop "max_abs_diff" |> Reference.num) $"{run.Name} · {run.Case}: fused vs no-FMA gap"
                | None, _ -> failtestf "%s · %s is in optimizers.json but not in optimizers_nofma.json" run.Name run.Case
                | _, None -> failtestf "%s · %s: optimizers.json gives no native_vs_nofma gap" run.Name run.Case
            let mutable worstPlain = 0.0
            for run in fma.Runs do
                let t = runOurs false None fma.Initial run
                worstPlain <- max worstPlain (trajectoryDeviation run t).Score
            printfn "FusedMultiplyAdd=true vs optimizers_nofma.json: max abs deviation %.3g" worst
            printfn "FusedMultiplyAdd=false vs optimizers.json: worst score %.3g (libtorch sqrt)" worstPlain
            Expect.isGreaterThan worst 0.0 "the two flavours must differ somewhere"

        testCase "RAdam ρ_t and r_t equal the reference's for t = 1..100 (optimizers.json, PyTorch 1.13.1)" <| fun () ->
            for f in loaded.Force() do
                for run in f.Runs do
                    match run.RhoRect with
                    | None -> ()
                    | Some (rho, rect) ->
                        use p = new Parameter(torch.zeros(1L, dtype = torch.float64))
                        use o = Optimizers.Create("RAdam", [ p ], hyperparameters run) :?> RAdam
                        for t in 1 .. rho.Length do
                            Expect.equal (o.Rho(int64 t)) rho.[t - 1] $"{run.Name} rho_{t}"
                            let r = o.Rectification(int64 t)
                            if Double.IsNaN rect.[t - 1] then Expect.isFalse r.HasValue $"{run.Name} r_{t} undefined"
                            else Expect.equal r.Value rect.[t - 1] $"{run.Name} r_{t}"
    ]

// ---------------------------------------------------------------------------------------------
// TorchSharp 0.107's built-in optimizers against the same reference

let private num (s: JsonElement) (k: string) =
    match s.TryGetProperty k with
    | true, v -> v.GetDouble()
    | _ -> failwithf "setting %s missing" k

let private flag (s: JsonElement) (k: string) =
    match s.TryGetProperty k with
    | true, v -> v.GetBoolean()
    | _ -> false

/// TorchSharp's built-in optimizer for a reference run, every hyperparameter passed explicitly.
let builtIn (run: Run) (p: Parameter) : torch.optim.Optimizer =
    let s = run.Settings
    let ps = Seq.singleton p
    let betas () = let b = s.GetProperty "betas" in b.[0].GetDouble(), b.[1].GetDouble()
    match run.Optimizer with
    | "SGD" -> torch.optim.SGD(ps, num s "lr", num s "momentum", num s "dampening", num s "weight_decay", flag s "nesterov", flag s "maximize") :> _
    | "Adagrad" -> torch.optim.Adagrad(ps, num s "lr", num s "lr_decay", num s "weight_decay", num s "initial_accumulator_value", num s "eps") :> _
    | "Adadelta" -> torch.optim.Adadelta(ps, num s "lr", num s "rho", num s "eps", num s "weight_decay", flag s "maximize") :> _
    | "RMSprop" -> torch.optim.RMSProp(ps, num s "lr", num s "alpha", num s "eps", num s "weight_decay", num s "momentum", flag s "centered", flag s "maximize") :> _
    | "Adam" -> let b1, b2 = betas () in torch.optim.Adam(ps, num s "lr", b1, b2, num s "eps", num s "weight_decay", flag s "amsgrad", flag s "maximize") :> _
    | "AdamW" -> let b1, b2 = betas () in torch.optim.AdamW(ps, num s "lr", b1, b2, num s "eps", num s "weight_decay", flag s "amsgrad", flag s "maximize") :> _
    | "RAdam" -> let b1, b2 = betas () in torch.optim.RAdam(ps, num s "lr", b1, b2, num s "eps", num s "weight_decay") :> _
    | o -> failwithf "no TorchSharp built-in for %s" o

let runBuiltIn (initial: float[]) (run: Run) =
    TorchRuntime.EnsureNative()
    use p = new Parameter(torch.tensor(initial, dtype = torch.float64))
    use opt = builtIn run p
    [| for k in 0 .. run.Params.Length - 1 ->
        use g = torch.tensor(run.Grad k, dtype = torch.float64)
        p.grad <- g
        opt.step() |> ignore
        values p |]

[<Tests>]
let torchSharpBuiltIns =
    testList "Optim.TorchSharp 0.107 built-ins vs optimizers.json (PyTorch 1.13.1)" [
        testCase "SGD, Adagrad, Adadelta, RMSProp, Adam, AdamW match PyTorch to 1e-13 (libtorch sqrt); RAdam differs from step 6 in every run" <| fun () ->
            let f = loaded.Force() |> List.find (fun l -> l.Ref.Fused)
            for run in f.Runs do
                let ps = runBuiltIn f.Initial run
                let d = deviation "params" ps run.Params
                if run.Optimizer = "RAdam" then
                    // Steps 1-5 are un-rectified (ρ_t ≤ 5) and agree; from step 6 TorchSharp multiplies by lr twice.
                    let early = deviation "params" ps.[0..4] run.Params.[0..4]
                    Expect.isLessThanOrEqual early.Score tolerance $"{run.Name} · {run.Case}: steps 1-5"
                    let step6 = deviation "params" ps.[5..5] run.Params.[5..5]
                    Expect.isGreaterThan step6.Score 1e-6 $"{run.Name} · {run.Case}: TorchSharp RAdam should still differ at step 6 (fixed upstream?)"
                else
                    Expect.isLessThanOrEqual d.Score tolerance $"{run.Name} · {run.Case}: TorchSharp {run.Optimizer} at {d.Where}"

        testCase "TorchSharp RAdam moves lr times too little at step 6: lr 0.1, gradient 1 at every step" <| fun () ->
            // Issue 3 / DESIGN.md: PyTorch moves 0.00258 at step 6, TorchSharp 0.107 moves 0.000258. With a
            // constant gradient g = 1, PyTorch 1.13's RAdam (reference README) has m̂_t = 1, v_t = 1 − β2^t,
            // so the rectified step 6 moves lr·r_6·√(1 − β2^6)/(√v_6 + eps).
            TorchRuntime.EnsureNative()
            let lr, beta2, eps = 0.1, 0.999, 1e-8
            let steps (make: Parameter -> unit -> unit) =
                use p = new Parameter(torch.zeros(1L, dtype = torch.float64))
                let step = make p
                [| for _ in 1 .. 6 ->
                    p.grad <- torch.ones(1L, dtype = torch.float64)
                    step ()
                    (values p).[0] |] 
            let ours = steps (fun p -> let o = new RAdam([ p ], lr) in fun () -> o.Step())
            let theirs = steps (fun p -> let o = torch.optim.RAdam([ p ], lr, 0.9, beta2, eps, 0.0) in fun () -> o.step() |> ignore)
            use probe = new RAdam([ new Parameter(torch.zeros(1L)) ], lr)
            let bc2 = 1.0 - Math.Pow(beta2, 6.0)
            let pytorchMove = lr * probe.Rectification(6L).Value * Math.Sqrt bc2 / (Math.Sqrt bc2 + eps)
            let oursMove, theirMove = ours.[4] - ours.[5], theirs.[4] - theirs.[5]
            printfn "RAdam step 6 move, lr 0.1, g = 1: PyTorch's formula %.6g, ours %.6g, TorchSharp %.6g" pytorchMove oursMove theirMove
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } oursMove pytorchMove "ours moves as PyTorch's formula"
            Expect.floatClose { absolute = 0.0; relative = 1e-3 } pytorchMove 0.00258 "PyTorch moves 0.00258 (lr·r_6)"
            Expect.floatClose { absolute = 0.0; relative = 1e-9 } (theirMove / pytorchMove) 0.1 "TorchSharp moves lr (0.1) times as far"
            for k in 0 .. 4 do
                Expect.floatClose { absolute = 1e-15; relative = 1e-12 } theirs.[k] ours.[k] $"un-rectified step {k + 1} agrees"

        testCase "TorchSharp defaults that differ from PyTorch 1.13's (pinned by reflection)" <| fun () ->
            // PyTorch 1.13.1 defaults (torch/optim/*.py). None: the parameter is required.
            let pytorch =
                [ "SGD", [ "lr", None; "momentum", Some 0.0; "dampening", Some 0.0; "weight_decay", Some 0.0 ]
                  "Adagrad", [ "lr", Some 1e-2; "lr_decay", Some 0.0; "weight_decay", Some 0.0; "initial_accumulator_value", Some 0.0; "eps", Some 1e-10 ]
                  "Adadelta", [ "lr", Some 1.0; "rho", Some 0.9; "eps", Some 1e-6; "weight_decay", Some 0.0 ]
                  "RMSProp", [ "lr", Some 1e-2; "alpha", Some 0.99; "eps", Some 1e-8; "weight_decay", Some 0.0; "momentum", Some 0.0 ]
                  "Adam", [ "lr", Some 1e-3; "beta1", Some 0.9; "beta2", Some 0.999; "eps", Some 1e-8; "weight_decay", Some 0.0 ]
                  "AdamW", [ "lr", Some 1e-3; "beta1", Some 0.9; "beta2", Some 0.999; "eps", Some 1e-8; "weight_decay", Some 1e-2 ]
                  "RAdam", [ "lr", Some 1e-3; "beta1", Some 0.9; "beta2", Some 0.999; "eps", Some 1e-8; "weight_decay", Some 0.0 ] ]
            let asm = typeof<torch.optim.Optimizer>.Assembly
            let takesParameters (ps: Reflection.ParameterInfo[]) =
                ps.Length > 0 && ps.[0].ParameterType = typeof<IEnumerable<Parameter>>
            let differences (signature: string -> Reflection.ParameterInfo[]) =
                [ for (cls, expected) in pytorch do
                    let ps = signature cls
                    for (name, value) in expected do
                        let p = ps |> Array.find (fun p -> p.Name = name || (name = "lr" && p.Name = "learningRate"))
                        let theirs = if p.HasDefaultValue then Some (Convert.ToDouble p.DefaultValue) else None
                        if theirs <> value then yield sprintf "%s.%s: TorchSharp %A, PyTorch %A" cls name theirs value
                    if not (ps |> Array.exists (fun p -> p.Name = "maximize")) then yield sprintf "%s: no maximize" cls ]
            // What users call: torch.optim.X(parameters, ...).
            let factories =
                differences (fun cls ->
                    asm.GetType("TorchSharp.torch+optim").GetMethods()
                    |> Array.find (fun m -> m.Name = cls && takesParameters (m.GetParameters()))
                    |> fun m -> m.GetParameters())
            // new TorchSharp.Modules.X(parameters, ...).
            let constructors =
                differences (fun cls ->
                    asm.GetType("TorchSharp.Modules." + cls, true).GetConstructors()
                    |> Array.find (fun c -> takesParameters (c.GetParameters()))
                    |> fun c -> c.GetParameters())
            printfn "torch.optim factories:"
            for d in factories do printfn "  %s" d
            printfn "TorchSharp.Modules constructors:"
            for d in constructors do printfn "  %s" d
            Expect.equal factories
                [ "Adagrad: no maximize"
                  "AdamW.weight_decay: TorchSharp Some 0.0, PyTorch Some 0.01"
                  "RAdam.lr: TorchSharp Some 0.002, PyTorch Some 0.001"
                  "RAdam: no maximize" ]
                "torch.optim factory defaults that differ from PyTorch 1.13's (an upstream change would show here)"
            Expect.equal constructors
                [ "Adagrad: no maximize"
                  "Adadelta.lr: TorchSharp None, PyTorch Some 1.0"
                  "RMSProp.lr: TorchSharp Some 0.001, PyTorch Some 0.01"
                  "AdamW.weight_decay: TorchSharp Some 0.0, PyTorch Some 0.01"
                  "RAdam.lr: TorchSharp None, PyTorch Some 0.001"
                  "RAdam: no maximize" ]
                "constructor defaults that differ from PyTorch 1.13's"
    ]

// ---------------------------------------------------------------------------------------------
// API behaviour

let private param (values: float[]) = new Parameter(torch.tensor(values, dtype = torch.float64))

/// Gradients (or starting points) made here for the property tests, not a reference case:
/// mixed signs and scales from 0.03 to 30, deterministic in the seed.
let private madeGradients (seed: int) (steps: int) (n: int) =
    let rng = Random seed
    Array.init steps (fun _ -> Array.init n (fun _ -> (rng.NextDouble() - 0.5) * 10.0 ** (rng.NextDouble() * 3.0 - 1.5)))

let private allOptimizers : (string * (seq<Parameter> -> Optimizer)) list =
    [ "SGD", fun ps -> new Sgd(ps, 0.1, momentum = 0.9, weightDecay = 0.01) :> Optimizer
      "Adagrad", fun ps -> new Adagrad(ps, weightDecay = 0.01) :> Optimizer
      "Adadelta", fun ps -> new Adadelta(ps, weightDecay = 0.01) :> Optimizer
      "RMSprop", fun ps -> new RmsProp(ps, momentum = 0.5, centered = true, weightDecay = 0.01) :> Optimizer
      "Adam", fun ps -> new Adam(ps, amsgrad = true, weightDecay = 0.01) :> Optimizer
      "AdamW", fun ps -> new AdamW(ps, amsgrad = true) :> Optimizer
      "RAdam", fun ps -> new RAdam(ps, learningRate = 0.01, weightDecay = 0.01) :> Optimizer ]

[<Tests>]
let behaviour =
    testList "Optim.behaviour" [
        testCase "defaults are PyTorch 1.13's (torch/optim/*.py)" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            let table : (string * (string * obj) list) list =
                [ "SGD", [ "lr", box 0.5; "momentum", box 0.0; "dampening", box 0.0; "weight_decay", box 0.0; "nesterov", box false; "maximize", box false ]
                  "Adagrad", [ "lr", box 1e-2; "lr_decay", box 0.0; "weight_decay", box 0.0; "initial_accumulator_value", box 0.0; "eps", box 1e-10; "maximize", box false ]
                  "Adadelta", [ "lr", box 1.0; "rho", box 0.9; "eps", box 1e-6; "weight_decay", box 0.0; "maximize", box false ]
                  "RMSprop", [ "lr", box 1e-2; "alpha", box 0.99; "eps", box 1e-8; "weight_decay", box 0.0; "momentum", box 0.0; "centered", box false; "maximize", box false ]
                  "Adam", [ "lr", box 1e-3; "betas", box [| 0.9; 0.999 |]; "eps", box 1e-8; "weight_decay", box 0.0; "amsgrad", box false; "maximize", box false ]
                  "AdamW", [ "lr", box 1e-3; "betas", box [| 0.9; 0.999 |]; "eps", box 1e-8; "weight_decay", box 1e-2; "amsgrad", box false; "maximize", box false ]
                  "RAdam", [ "lr", box 1e-3; "betas", box [| 0.9; 0.999 |]; "eps", box 1e-8; "weight_decay", box 0.0; "maximize", box false ] ]
            for (name, expected) in table do
                let h = if name = "SGD" then dict [ "lr", box 0.5 ] else null
                use o = Optimizers.Create(name, [ p ], h)
                Expect.equal o.Name name "name"
                let actual = o.Hyperparameters
                Expect.equal (actual.Count) (expected.Length + 1) $"{name}: keys {String.Join(',', actual.Keys)}"
                Expect.equal actual.["fused_multiply_add"] (box true) $"{name}: fused by default"
                for (k, v) in expected do
                    match v, actual.[k] with
                    | (:? (float[]) as e), (:? (float[]) as a) -> Expect.sequenceEqual a e $"{name}.{k}"
                    | e, a -> Expect.equal a e $"{name}.{k}"

        testCase "invalid hyperparameters throw ArgumentException naming the parameter and the value (PyTorch 1.13's checks)" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            let ps = [ p ]
            let cases : (string * (unit -> Optimizer) * string * string) list =
                [ "SGD lr < 0", (fun () -> new Sgd(ps, -0.1) :> _), "learningRate", "-0.1"
                  "SGD lr NaN", (fun () -> new Sgd(ps, nan) :> _), "learningRate", "NaN"
                  "SGD momentum < 0", (fun () -> new Sgd(ps, 0.1, momentum = -0.5) :> _), "momentum", "-0.5"
                  "SGD weight_decay < 0", (fun () -> new Sgd(ps, 0.1, weightDecay = -1.0) :> _), "weightDecay", "-1"
                  "SGD nesterov without momentum", (fun () -> new Sgd(ps, 0.1, nesterov = true) :> _), "nesterov", "momentum=0"
                  "SGD nesterov with dampening", (fun () -> new Sgd(ps, 0.1, momentum = 0.9, dampening = 0.1, nesterov = true) :> _), "nesterov", "dampening=0.1"
                  "Adagrad lr_decay < 0", (fun () -> new Adagrad(ps, lrDecay = -1.0) :> _), "lrDecay", "-1"
                  "Adagrad initial_accumulator_value < 0", (fun () -> new Adagrad(ps, initialAccumulatorValue = -1.0) :> _), "initialAccumulatorValue", "-1"
                  "Adagrad eps < 0", (fun () -> new Adagrad(ps, eps = -1e-10) :> _), "eps", "-1E-10"
                  "Adadelta rho > 1", (fun () -> new Adadelta(ps, rho = 1.5) :> _), "rho", "1.5"
                  "Adadelta weight_decay < 0", (fun () -> new Adadelta(ps, weightDecay = -0.1) :> _), "weightDecay", "-0.1"
                  "RMSprop alpha < 0", (fun () -> new RmsProp(ps, alpha = -0.9) :> _), "alpha", "-0.9"
                  "RMSprop momentum < 0", (fun () -> new RmsProp(ps, momentum = -0.9) :> _), "momentum", "-0.9"
                  "Adam beta1 = 1", (fun () -> new Adam(ps, beta1 = 1.0) :> _), "beta1", "1"
                  "Adam beta2 < 0", (fun () -> new Adam(ps, beta2 = -0.1) :> _), "beta2", "-0.1"
                  "Adam eps < 0", (fun () -> new Adam(ps, eps = -1.0) :> _), "eps", "-1"
                  "AdamW weight_decay < 0", (fun () -> new AdamW(ps, weightDecay = -0.01) :> _), "weightDecay", "-0.01"
                  "RAdam lr infinite", (fun () -> new RAdam(ps, learningRate = infinity) :> _), "learningRate", "lr: expected a finite value"
                  "RAdam beta2 NaN", (fun () -> new RAdam(ps, beta2 = nan) :> _), "beta2", "NaN"
                  "empty parameter list", (fun () -> new Adam(Seq.empty) :> _), "parameters", "empty"
                  "repeated parameter", (fun () -> new Adam([ p; p ]) :> _), "parameters", "same object" ]
            for (label, make, paramName, shown) in cases do
                try
                    make () |> ignore
                    failtestf "%s: no exception" label
                with :? ArgumentException as e ->
                    Expect.equal e.ParamName paramName $"{label}: ParamName"
                    Expect.stringContains e.Message shown $"{label}: message shows the value: {e.Message}"

        testCase "learning rate setter rejects negative and NaN values; Hyperparameters follow it" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            use o = new Adam([ p ])
            o.LearningRate <- 0.5
            Expect.equal o.Hyperparameters.["lr"] (box 0.5) "lr follows the setter"
            Expect.throwsT<ArgumentException> (fun () -> o.LearningRate <- -1.0) "negative"
            Expect.throwsT<ArgumentException> (fun () -> o.LearningRate <- nan) "NaN"
            Expect.equal o.LearningRate 0.5 "unchanged after a rejected value"

        testCase "Optimizers.Create: names case-insensitive, betas as array/tuple/beta1+beta2, unknown names and keys rejected" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            use a = Optimizers.Create("adamw", [ p ], dict [ "betas", box [| 0.8; 0.9 |]; "lr", box 1 ])
            Expect.equal a.Name "AdamW" "canonical name"
            Expect.sequenceEqual (a.Hyperparameters.["betas"] :?> float[]) [| 0.8; 0.9 |] "betas from array"
            Expect.equal a.LearningRate 1.0 "int lr"
            use b = Optimizers.Create("RADAM", [ p ], dict [ "betas", box (0.7, 0.95) ])
            Expect.sequenceEqual (b.Hyperparameters.["betas"] :?> float[]) [| 0.7; 0.95 |] "betas from tuple"
            use c = Optimizers.Create("Adam", [ p ], dict [ "beta2", box 0.99; "fused_multiply_add", box false ])
            Expect.sequenceEqual (c.Hyperparameters.["betas"] :?> float[]) [| 0.9; 0.99 |] "beta2 alone"
            Expect.isFalse c.FusedMultiplyAdd "fused_multiply_add"
            use json = JsonDocument.Parse """{"momentum": 0.9, "nesterov": true, "lr": 0.01}"""
            let h = Dictionary<string, obj>()
            for x in json.RootElement.EnumerateObject() do h.[x.Name] <- box (x.Value.Clone())
            use d = Optimizers.Create("sgd", [ p ], h)
            Expect.equal (d.Hyperparameters.["nesterov"]) (box true) "JSON bool"
            let bad : (string * IDictionary<string, obj>) list =
                [ "Adamax", null
                  "Adam", dict [ "momentum", box 0.9 ]
                  "Adam", dict [ "betas", box [| 0.9 |] ]
                  "Adam", dict [ "betas", box [| 0.9; 0.99 |]; "beta1", box 0.9 ]
                  "Adam", dict [ "amsgrad", box "yes" ]
                  "SGD", null
                  "SGD", dict [ "lr", box "fast" ] ]
            for (name, hp) in bad do
                Expect.throwsT<ArgumentException> (fun () -> Optimizers.Create(name, [ p ], hp) |> ignore) $"{name} {hp}"

        testCase "Optimizers.Create(OptimizerKind): every kind builds its class, named as the kind; the string overload parses the same names" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            let classes =
                [ OptimizerKind.SGD, typeof<Sgd>; OptimizerKind.Adagrad, typeof<Adagrad>; OptimizerKind.Adadelta, typeof<Adadelta>
                  OptimizerKind.RMSprop, typeof<RmsProp>; OptimizerKind.Adam, typeof<Adam>; OptimizerKind.AdamW, typeof<AdamW>
                  OptimizerKind.RAdam, typeof<RAdam> ]
            Expect.equal (classes |> List.map fst) (List.ofArray (Enum.GetValues<OptimizerKind>())) "every kind is listed here"
            for (kind, cls) in classes do
                let h = dict [ "lr", box 0.5 ]
                use o = Optimizers.Create(kind, [ p ], h)
                Expect.equal (o.GetType()) cls $"{kind}: class"
                Expect.equal o.Kind kind $"{kind}: Kind"
                Expect.equal o.Name (string kind) $"{kind}: Name is the kind's name"
                Expect.equal (Optimizers.ParseKind(o.Name.ToLowerInvariant())) kind $"{kind}: parsed back, any case"
                use byName = Optimizers.Create($" {kind} ", [ p ], h)
                Expect.equal byName.Kind kind $"{kind}: by name"
            for bad in [ "Adamax"; "4"; "Adam,SGD"; "" ] do
                Check.throws<ArgumentException> (fun () -> Optimizers.ParseKind bad |> ignore)
                |> Check.messageHas [ $"'{bad}'"; "SGD, Adagrad, Adadelta, RMSprop, Adam, AdamW, RAdam" ]
            Check.throws<ArgumentException> (fun () -> Optimizers.Create(enum<OptimizerKind> 42, [ p ]) |> ignore)
            |> Check.messageHas [ "42"; "RAdam" ]

        testCase "the Adam family: AdamW with weight_decay 0 follows Adam bit for bit; Adam, AdamW and RAdam share one implementation" <| fun () ->
            // p·(1 − lr·0) = p exactly, so the decoupled-decay flag is the only difference between the two.
            TorchRuntime.EnsureNative()
            let rng = Random 7
            let initial = Array.init 6 (fun _ -> rng.NextDouble() * 2.0 - 1.0)
            let grads = Array.init 40 (fun _ -> Array.init 6 (fun _ -> (rng.NextDouble() - 0.5) * 10.0 ** (rng.NextDouble() * 4.0 - 2.0)))
            let run (make: Parameter -> Optimizer) =
                use p = param initial
                use o = make p
                for g in grads do
                    use t = torch.tensor(g, dtype = torch.float64)
                    p.grad <- t
                    o.Step()
                values p
            for amsgrad in [ false; true ] do
                let adam = run (fun p -> new Adam([ p ], 0.01, amsgrad = amsgrad) :> Optimizer)
                let adamw = run (fun p -> new AdamW([ p ], 0.01, weightDecay = 0.0, amsgrad = amsgrad) :> Optimizer)
                Expect.sequenceEqual adamw adam $"amsgrad={amsgrad}"
            for o in [ typeof<Adam>; typeof<AdamW>; typeof<RAdam> ] do
                Expect.equal o.BaseType typeof<AdamFamily> $"{o.Name} is an AdamFamily"
            use p = param [| 1.0 |]
            Expect.isTrue (new AdamW([ p ])).DecoupledWeightDecay "AdamW decouples"
            Expect.isFalse (new Adam([ p ])).DecoupledWeightDecay "Adam does not"
            Expect.isFalse ((new RAdam([ p ])).Hyperparameters.ContainsKey "amsgrad") "RAdam reports no amsgrad (PyTorch has none)"

        testCase "the Adam family's two passes over memory give the bits of libtorch's operations (float32 and float64, both flavours, every option, lengths with and without a vector tail)" <| fun () ->
            // AdamKernels replaces about ten libtorch calls per parameter; ElementwiseKernels = false keeps the calls.
            // Both sides take libtorch's own square root. Data made here: gradients over six decades, a few
            // exact zeros, 40 steps (RAdam's rectification starts at step 6).
            TorchRuntime.EnsureNative()
            let makers : (string * (Parameter -> bool -> Optimizer)) list =
                [ "Adam", fun p f -> new Adam([ p ], 0.01, FusedMultiplyAdd = f) :> Optimizer
                  "Adam amsgrad+L2", fun p f -> new Adam([ p ], 0.01, weightDecay = 0.05, amsgrad = true, FusedMultiplyAdd = f) :> Optimizer
                  "Adam maximize", fun p f -> new Adam([ p ], 0.01, maximize = true, FusedMultiplyAdd = f) :> Optimizer
                  "AdamW", fun p f -> new AdamW([ p ], 0.01, weightDecay = 0.1, FusedMultiplyAdd = f) :> Optimizer
                  "AdamW amsgrad maximize", fun p f -> new AdamW([ p ], 0.01, weightDecay = 0.1, amsgrad = true, maximize = true, FusedMultiplyAdd = f) :> Optimizer
                  "RAdam", fun p f -> new RAdam([ p ], 0.01, FusedMultiplyAdd = f) :> Optimizer
                  "RAdam L2 maximize", fun p f -> new RAdam([ p ], 0.01, weightDecay = 0.05, maximize = true, FusedMultiplyAdd = f) :> Optimizer ]
            let mutable compared = 0
            for dtype in [ torch.float32; torch.float64 ] do
                for n in [ 1; 3; 8; 13; 1029 ] do
                    let rng = Random(n + (if dtype = torch.float32 then 0 else 1000))
                    let draw () = (if rng.Next 17 = 0 then 0.0 else rng.NextDouble() - 0.5) * 10.0 ** (rng.NextDouble() * 6.0 - 4.0)
                    let initial = Array.init n (fun _ -> draw ())
                    let grads = Array.init 40 (fun _ -> Array.init n (fun _ -> draw ()))
                    for name, make in makers do
                        for fused in [ true; false ] do
                            let run kernels =
                                use p = new Parameter(torch.tensor(initial, dtype = dtype))
                                use o = make p fused
                                (o :?> AdamFamily).ElementwiseKernels <- kernels
                                for g in grads do
                                    use t = torch.tensor(g, dtype = dtype)
                                    p.grad <- t
                                    o.Step()
                                let bits (t: torch.Tensor) =
                                    use d = t.to_type(torch.float64)
                                    d.data<float>().ToArray() |> Array.map BitConverter.DoubleToInt64Bits
                                [ bits p
                                  for s in o.StateNames -> bits (o.GetState(p, s)) ]
                            let what = $"{name}, {dtype}, n = {n}, fused = {fused}"
                            Expect.sequenceEqual (run true) (run false) $"{what}: parameter and state, bit for bit"
                            compared <- compared + 1
            Expect.equal compared (2 * 5 * makers.Length * 2) "every combination compared"

        testCase "parameters without a gradient are skipped and get no state (as PyTorch)" <| fun () ->
            TorchRuntime.EnsureNative()
            for (name, make) in allOptimizers do
                use a = param [| 1.0; 2.0 |]
                use b = param [| 3.0; 4.0 |]
                use o = make [ a; b ]
                use g = torch.tensor([| 0.5; -0.5 |], dtype = torch.float64)
                a.grad <- g
                o.Step()
                Expect.sequenceEqual (values b) [| 3.0; 4.0 |] $"{name}: b untouched"
                Expect.notEqual (values a) [| 1.0; 2.0 |] $"{name}: a moved"
                Expect.equal (o.GetParameterStep a) 1L $"{name}: a stepped once"
                Expect.equal (o.GetParameterStep b) 0L $"{name}: b never stepped"
                for n in o.StateNames do
                    Expect.isNull (o.GetState(b, n)) $"{name}: no {n} for b"
                    Expect.isNotNull (o.GetState(a, n)) $"{name}: {n} for a"
                Expect.equal o.StepCount 1L $"{name}: StepCount"

        testCase "ZeroGrad() sets gradients to null (PyTorch 2 default), ZeroGrad(false) fills them with zeros" <| fun () ->
            TorchRuntime.EnsureNative()
            use a = param [| 1.0; 2.0 |]
            use o = new Sgd([ a ], 0.1)
            use g = torch.tensor([| 0.5; -0.5 |], dtype = torch.float64)
            a.grad <- g
            o.ZeroGrad(false)
            Expect.sequenceEqual (values a.grad) [| 0.0; 0.0 |] "zeroed in place"
            o.ZeroGrad()
            Expect.isNull a.grad "set to None"
            o.Step()
            Expect.sequenceEqual (values a) [| 1.0; 2.0 |] "a step without gradients changes nothing"

        testCase "maximize with gradient g equals minimising with −g, bit for bit, for every optimizer" <| fun () ->
            TorchRuntime.EnsureNative()
            let grads = madeGradients 21 30 10
            let initial = (madeGradients 22 1 10).[0]
            for (name, _) in allOptimizers do
                let run (maximize: bool) =
                    use p = param initial
                    use o = Optimizers.Create(name, [ p ], dict [ "lr", box 0.01; "maximize", box maximize; "weight_decay", box 0.01 ])
                    for g in grads do
                        use t = torch.tensor((if maximize then g else Array.map (fun x -> -x) g), dtype = torch.float64)
                        p.grad <- t
                        o.Step()
                    values p
                Expect.sequenceEqual (run true) (run false) name

        testCase "GetState returns the live tensor; unknown names give null; foreign parameters throw" <| fun () ->
            TorchRuntime.EnsureNative()
            use a = param [| 1.0; 2.0 |]
            use other = param [| 1.0 |]
            use o = new Adam([ a ])
            Expect.isNull (o.GetState(a, "exp_avg_sq")) "no state before the first step"
            use g = torch.tensor([| 0.5; -0.5 |], dtype = torch.float64)
            a.grad <- g
            o.Step()
            let v = o.GetState(a, "exp_avg_sq")
            // After one step v = (1 − β2)·g².
            let oneMinusBeta2 = 1.0 - 0.999
            Expect.sequenceEqual (values v) [| oneMinusBeta2 * 0.25; oneMinusBeta2 * 0.25 |] "exp_avg_sq after one step"
            o.Step()
            Expect.sequenceEqual (values v) (values (o.GetState(a, "exp_avg_sq"))) "same live tensor after the next step"
            Expect.notEqual (values v) [| 0.00025; 0.00025 |] "and it changed"
            Expect.isNull (o.GetState(a, "momentum_buffer")) "Adam keeps no momentum_buffer"
            Expect.throwsT<ArgumentException> (fun () -> o.GetState(other, "exp_avg") |> ignore) "foreign parameter"

        testCase "Step leaks no tensors and Dispose releases the state" <| fun () ->
            TorchRuntime.EnsureNative()
            for (name, make) in allOptimizers do
                use a = param (Array.init 100 float)
                let o = make [ a ]
                use g = torch.ones(100L, dtype = torch.float64)
                a.grad <- g
                o.Step() // creates the state
                let stats = DisposeScopeManager.Statistics
                let before = stats.ThreadTotalLiveCount
                for _ in 1 .. 20 do o.Step()
                Expect.equal stats.ThreadTotalLiveCount before $"{name}: live tensors after 20 more steps"
                let states = o.StateNames |> Seq.map (fun n -> o.GetState(a, n)) |> Seq.toList
                o.Dispose()
                for s in states do Expect.isTrue s.IsInvalid $"{name}: state disposed"
                Expect.throwsT<ObjectDisposedException> (fun () -> o.Step()) $"{name}: Step after Dispose"
                Expect.isFalse a.IsInvalid $"{name}: parameter not disposed"

        testCase "float32 parameters keep float32 state and follow the float64 trajectory to float32 precision (Adam, 100 steps)" <| fun () ->
            TorchRuntime.EnsureNative()
            let grads = madeGradients 23 100 10
            let initial = (madeGradients 24 1 10).[0]
            use p64 = param initial
            use o64 = new Adam([ p64 ])
            use p = new Parameter(torch.tensor(initial, dtype = torch.float32))
            use o = new Adam([ p ])
            for k in 0 .. 99 do
                use g = torch.tensor(grads.[k], dtype = torch.float32)
                p.grad <- g
                o.Step()
                use g64 = torch.tensor(grads.[k], dtype = torch.float64)
                p64.grad <- g64
                o64.Step()
            Expect.equal (o.GetState(p, "exp_avg_sq").dtype) torch.float32 "state dtype"
            let v = p.data<float32>().ToArray() |> Array.map float
            let expected = values p64
            for i in 0 .. v.Length - 1 do
                Expect.floatClose { absolute = 1e-6; relative = 1e-5 } v.[i] expected.[i] $"param {i}"
    ]

// ---------------------------------------------------------------------------------------------
// Capabilities: hyperparameters that schedules change between steps

/// Steps `opt` over `p` with the gradients, calling `before k` ahead of step k (0-based).
let private stepWith (opt: Optimizer) (p: Parameter) (grads: float[][]) (before: int -> unit) =
    [| for k in 0 .. grads.Length - 1 ->
        before k
        use g = torch.tensor(grads.[k], dtype = torch.float64)
        p.grad <- g
        opt.Step()
        values p |]

[<Tests>]
let capabilities =
    testList "Optim.capabilities (ILearningRate, IMomentum, IBetas)" [
        testCase "setters check as the constructors do, naming optimizer, parameter and value, and keep the old value" <| fun () ->
            TorchRuntime.EnsureNative()
            use p = param [| 1.0 |]
            let sgd = new Sgd([ p ], 0.1, momentum = 0.9)
            let nesterov = new Sgd([ p ], 0.1, momentum = 0.9, nesterov = true)
            let rms = new RmsProp([ p ], momentum = 0.5)
            let adam = new Adam([ p ])
            let adamw = new AdamW([ p ])
            let radam = new RAdam([ p ])
            let cases : (string * (unit -> unit) * (unit -> float) * float * string list) list =
                [ "SGD momentum < 0", (fun () -> (sgd :> IMomentum).Momentum <- -0.5), (fun () -> sgd.Momentum), 0.9, [ "SGD"; "momentum"; "-0.5" ]
                  "SGD momentum NaN", (fun () -> sgd.Momentum <- nan), (fun () -> sgd.Momentum), 0.9, [ "SGD"; "momentum"; "NaN" ]
                  "SGD Nesterov momentum 0", (fun () -> nesterov.Momentum <- 0.0), (fun () -> nesterov.Momentum), 0.9, [ "SGD"; "momentum"; "Nesterov"; "got 0" ]
                  "RMSprop momentum inf", (fun () -> rms.Momentum <- infinity), (fun () -> rms.Momentum), 0.5, [ "RMSprop"; "momentum"; "Infinity" ]
                  "Adam beta1 = 1", (fun () -> (adam :> IBetas).Beta1 <- 1.0), (fun () -> adam.Beta1), 0.9, [ "Adam"; "beta1"; "got 1" ]
                  "AdamW beta1 < 0", (fun () -> adamw.Beta1 <- -0.1), (fun () -> adamw.Beta1), 0.9, [ "AdamW"; "beta1"; "-0.1" ]
                  "RAdam beta1 NaN", (fun () -> radam.Beta1 <- nan), (fun () -> radam.Beta1), 0.9, [ "RAdam"; "beta1"; "NaN" ]
                  "lr NaN through ILearningRate", (fun () -> (radam :> ILearningRate).LearningRate <- nan), (fun () -> radam.LearningRate), 1e-3, [ "RAdam"; "lr"; "NaN" ] ]
            for (label, set, get, before, fragments) in cases do
                Check.throws<ArgumentException> set |> Check.messageHas fragments
                Expect.equal (get ()) before $"{label}: unchanged"
            sgd.Momentum <- 0.0
            Expect.equal sgd.Hyperparameters.["momentum"] (box 0.0) "Hyperparameters follow the setter"
            adam.Beta1 <- 0.5
            Expect.sequenceEqual (adam.Hyperparameters.["betas"] :?> float[]) [| 0.5; 0.999 |] "betas follow the setter"
            for o in [ sgd :> Optimizer; nesterov; rms; adam; adamw; radam ] do o.Dispose()

        testCase "SGD momentum changed between steps follows PyTorch 1.13's _single_tensor_sgd bit for bit (no FMA)" <| fun () ->
            // torch/optim/sgd.py 1.13: a step with momentum 0 neither creates nor updates state['momentum_buffer']
            // (it stores None or keeps the old buffer); with momentum ≠ 0 a missing buffer starts as
            // torch.clone(d_p).detach(), else buf.mul_(momentum).add_(d_p, alpha=1 − dampening); then
            // param.add_(buf, alpha=−lr). Spelled out here in float64 with one rounding per operation.
            TorchRuntime.EnsureNative()
            let lr, dampening, wd = 0.05, 0.1, 0.01
            let schedule = [| 0.0; 0.0; 0.9; 0.5; 0.0; 0.0; 0.8; 0.9; 0.0; 0.7 |]
            let grads = madeGradients 11 schedule.Length 5
            let initial = [| 0.5; -1.5; 2.0; 0.0; 3.0 |]
            use p = param initial
            use sgd = new Sgd([ p ], lr, dampening = dampening, weightDecay = wd, FusedMultiplyAdd = false)
            let buffers = ResizeArray<float[] option>()
            let ours =
                [| for k in 0 .. schedule.Length - 1 ->
                    sgd.Momentum <- schedule.[k]
                    use g = torch.tensor(grads.[k], dtype = torch.float64)
                    p.grad <- g
                    sgd.Step()
                    buffers.Add(match sgd.GetState(p, "momentum_buffer") with null -> None | b -> Some (values b))
                    values p |]
            let mutable x = Array.copy initial
            let mutable buf : float[] option = None
            for k in 0 .. schedule.Length - 1 do
                let mu = schedule.[k]
                let d = Array.map2 (fun g xi -> g + wd * xi) grads.[k] x
                let step =
                    if mu = 0.0 then d
                    else
                        let b =
                            match buf with
                            | None -> Array.copy d
                            | Some b -> Array.map2 (fun bi di -> bi * mu + (1.0 - dampening) * di) b d
                        buf <- Some b
                        b
                x <- Array.map2 (fun xi si -> xi + (-lr) * si) x step
                Expect.sequenceEqual ours.[k] x $"params after step {k + 1} (momentum {mu})"
                Expect.equal buffers.[k] buf $"momentum_buffer after step {k + 1}"
            Expect.isNone buffers.[1] "no buffer while the momentum has been 0"
            Expect.equal buffers.[4] buffers.[3] "a step with momentum 0 keeps the buffer as it was"

        testCase "RMSprop momentum raised from 0 starts a zero buffer then; Adam's β1 changed mid-run enters the bias correction (bit for bit, exact sqrt)" <| fun () ->
            TorchRuntime.EnsureNative()
            let grads = madeGradients 12 8 4
            let initial = [| 1.0; -0.5; 0.25; 2.0 |]
            // RMSprop (torch/optim/rmsprop.py 1.13, non-centred): v ← α·v + (1 − α)·g²; a = √v + eps;
            // μ > 0: b ← μ·b + g/a, p ← p − lr·b; μ = 0: p ← p − lr·g/a.
            let lr, alpha, eps = 0.01, 0.99, 1e-8
            let momenta = [| 0.0; 0.0; 0.0; 0.9; 0.9; 0.0; 0.5; 0.5 |]
            use p = param initial
            use rms = new RmsProp([ p ], lr, alpha, eps, FusedMultiplyAdd = false, SquareRootOverride = Func<_, _>(exactSqrt))
            let ours = stepWith rms p grads (fun k -> rms.Momentum <- momenta.[k])
            let mutable x, v, b = Array.copy initial, Array.zeroCreate 4, Array.zeroCreate 4
            for k in 0 .. grads.Length - 1 do
                let g = grads.[k]
                v <- Array.map2 (fun vi gi -> vi * alpha + (1.0 - alpha) * gi * gi) v g
                let a = v |> Array.map (fun vi -> Math.Sqrt vi + eps)
                if momenta.[k] > 0.0 then
                    b <- Array.init 4 (fun i -> b.[i] * momenta.[k] + g.[i] / a.[i])
                    x <- Array.map2 (fun xi bi -> xi + (-lr) * bi) x b
                else
                    x <- Array.init 4 (fun i -> x.[i] + (-lr * g.[i]) / a.[i])
                Expect.sequenceEqual ours.[k] x $"RMSprop params after step {k + 1}"
            // Adam (torch/optim/adam.py 1.13): β1 is read from the group at every step, bias correction included.
            let beta1s = [| 0.9; 0.9; 0.9; 0.5; 0.5; 0.95; 0.95; 0.9 |]
            let lr, beta2, eps = 0.01, 0.999, 1e-8
            use q = param initial
            use adam = new Adam([ q ], lr, FusedMultiplyAdd = false, SquareRootOverride = Func<_, _>(exactSqrt))
            let oursAdam = stepWith adam q grads (fun k -> adam.Beta1 <- beta1s.[k])
            let mutable x, m, v = Array.copy initial, Array.zeroCreate 4, Array.zeroCreate 4
            for k in 0 .. grads.Length - 1 do
                let g, b1, t = grads.[k], beta1s.[k], float (k + 1)
                m <- Array.map2 (fun mi gi -> mi * b1 + (1.0 - b1) * gi) m g
                v <- Array.map2 (fun vi gi -> vi * beta2 + (1.0 - beta2) * gi * gi) v g
                let stepSize = lr / (1.0 - Math.Pow(b1, t))
                let c2 = Math.Sqrt(1.0 - Math.Pow(beta2, t))
                x <- Array.init 4 (fun i -> x.[i] + (-stepSize * m.[i]) / (Math.Sqrt v.[i] / c2 + eps))
                Expect.sequenceEqual oursAdam.[k] x $"Adam params after step {k + 1} (β1 = {b1})"
    ]

// ---------------------------------------------------------------------------------------------
// The reference files' schema: every case runs, an unrunnable one is one failing test

/// PyTorch 1.13's single-tensor Adam (amsgrad off, no weight decay) spelled out in float64: the
/// fused flavour rounds add(alpha) and addcmul once (Math.FusedMultiplyAdd, as libtorch's kernels on
/// FMA hardware, reference README), the plain one twice; addcdiv is x + (s·y)/z in both. Returns the
/// parameters, exp_avg and exp_avg_sq after each step and the gradient and loss of each step for the
/// loss 0.5·‖p‖² (gradient p: a parameter-dependent case).
let private adamOnHalfSquareNorm (fused: bool) (lr: float) (initial: float[]) (steps: int) =
    let beta1, beta2, eps = 0.9, 0.999, 1e-8
    let addScaled (x: float) (s: float) (y: float) = if fused then Math.FusedMultiplyAdd(s, y, x) else x + s * y
    let addProduct (x: float) (s: float) (y: float) (z: float) = if fused then Math.FusedMultiplyAdd(s * y, z, x) else x + s * y * z
    let mutable p, m, v = Array.copy initial, Array.zeroCreate initial.Length, Array.zeroCreate initial.Length
    let ps, ms, vs, gs, losses = ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray()
    for k in 1 .. steps do
        let g = Array.copy p
        gs.Add g
        losses.Add(0.5 * Array.sumBy (fun x -> x * x) p)
        m <- Array.map2 (fun mi gi -> addScaled (mi * beta1) (1.0 - beta1) gi) m g
        v <- Array.map2 (fun vi gi -> addProduct (vi * beta2) (1.0 - beta2) gi gi) v g
        let stepSize = lr / (1.0 - Math.Pow(beta1, float k))
        let c2 = Math.Sqrt(1.0 - Math.Pow(beta2, float k))
        p <- Array.init p.Length (fun i -> p.[i] + (-stepSize * m.[i]) / (Math.Sqrt v.[i] / c2 + eps))
        ps.Add p; ms.Add m; vs.Add v
    ps.ToArray(), ms.ToArray(), vs.ToArray(), gs.ToArray(), losses.ToArray()

let private jsonRows (rows: float[][]) = JsonArray([| for r in rows -> JsonArray([| for x in r -> JsonValue.Create x :> JsonNode |]) :> JsonNode |])

/// A temporary copy of a reference file with only its first `keep` runs, edited by `change`.
let private editedCopy (rf: ReferenceFile) (keep: int) (change: JsonObject -> unit) =
    let root = JsonNode.Parse(IO.File.ReadAllText(IO.Path.Combine(Reference.dir (), rf.File))).AsObject()
    let runs = root.["runs"].AsArray()
    while runs.Count > keep do runs.RemoveAt(runs.Count - 1)
    change root
    let dir = IO.Path.Combine(IO.Path.GetTempPath(), $"reference-{Guid.NewGuid():N}")
    IO.Directory.CreateDirectory dir |> ignore
    let path = IO.Path.Combine(dir, rf.File)
    IO.File.WriteAllText(path, root.ToJsonString())
    path

/// Runs a test list with Expecto's own evaluator and returns (name, result) per test.
let private evaluate (tests: Test) =
    Impl.evalTests { Tests.defaultConfig with printer = Impl.TestPrinters.silent; runInParallel = false } tests
    |> Async.RunSynchronously
    |> List.map (fun (t, summary) -> String.Join("/", t.name), summary.result)

[<Tests>]
let referenceSchema =
    testSequenced <| testList "Optim.reference files (schema): every case runs; one that cannot is one failing test" [
        testCase "a parameter-dependent case (Adam on 0.5·‖p‖², grads_used computed here) is fed from grads_used, bit for bit in both flavours" <| fun () ->
            for rf in referenceFiles do
                let path =
                    editedCopy rf 1 (fun root ->
                        let initial = root.["initial_params"].AsArray() |> Seq.map (fun x -> x.GetValue<float>()) |> Array.ofSeq
                        let ps, ms, vs, gs, losses = adamOnHalfSquareNorm rf.Fused 0.05 initial 100
                        root.["gradient_cases"].AsObject().["half_square_norm"] <-
                            JsonObject(dict [ "description", JsonValue.Create "loss 0.5·dot(x, x) at the params before step k; its gradient is x" :> JsonNode ])
                        let settings = JsonNode.Parse """{"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0, "amsgrad": false, "maximize": false, "foreach": false}"""
                        let run =
                            JsonObject(
                                dict [ "name", JsonValue.Create "adam_half_square_norm" :> JsonNode
                                       "optimizer", JsonValue.Create "Adam"
                                       "case", JsonValue.Create "half_square_norm"
                                       "settings", settings
                                       "params", jsonRows ps
                                       "state", JsonObject(dict [ "exp_avg", jsonRows ms :> JsonNode; "exp_avg_sq", jsonRows vs ])
                                       "grads_used", jsonRows gs
                                       "loss", JsonArray([| for l in losses -> JsonValue.Create l :> JsonNode |]) ])
                        root.["runs"].AsArray().Add run)
                let file = loadFrom rf path
                match file with
                | Error why -> failtest why
                | Ok f ->
                    let run = f.Runs |> List.find (fun r -> r.Case = "half_square_norm")
                    Expect.isTrue run.FromGradsUsed "fed from grads_used"
                    Expect.isEmpty f.Unrunnable "every run can be run"
                let results = evaluate (trajectoryTests rf file)
                Expect.equal results.Length 4 $"{rf.File}: two tests for each of the two runs: {results}"
                Expect.isTrue (results |> List.exists (fun (n, _) -> n.Contains "adam_half_square_norm · half_square_norm (grads_used)"))
                    "the parameter-dependent run has its tests"
                for (name, result) in results do
                    Expect.isTrue result.isPassed $"{name}: {result}"

        testCase "a case of an unknown kind (no gradients, runs without grads_used) is one failing test naming it; the others still run" <| fun () ->
            let rf = referenceFiles.Head
            let path =
                editedCopy rf 2 (fun root ->
                    root.["gradient_cases"].AsObject().["mystery"] <- JsonObject(dict [ "description", JsonValue.Create "a kind these tests do not know" :> JsonNode ])
                    let copy = root.["runs"].AsArray().[0].DeepClone().AsObject()
                    copy.["name"] <- JsonValue.Create "mystery_run"
                    copy.["case"] <- JsonValue.Create "mystery"
                    root.["runs"].AsArray().Add copy)
            let file = loadFrom rf path
            let results = evaluate (trajectoryTests rf file)
            let failed = results |> List.filter (fun (_, r) -> not r.isPassed)
            Expect.equal results.Length 5 $"two tests for each runnable run and one for the other: {results}"
            match failed with
            | [ name, result ] ->
                Expect.stringContains name "mystery_run · mystery" "the failing test names the run and its case"
                Expect.isTrue result.isFailed $"a failure, not an error: {result}"
                let message = match result with Impl.TestResult.Failed m -> m | r -> string r
                for fragment in [ "mystery"; "grads_used"; "parameter-dependent" ] do
                    Expect.stringContains message fragment "the message says why"
            | other -> failtestf "expected exactly one failing test, got %A" other
            let unreadable = IO.Path.Combine(IO.Path.GetDirectoryName path, "missing.json")
            match evaluate (trajectoryTests rf (loadFrom rf unreadable)) with
            | [ _, result ] -> Expect.isTrue result.isFailed "an unreadable file is one failing test too"
            | other -> failtestf "expected one test for an unreadable file, got %A" other
    ]
