/// Tests of GaussianMixture (Mixture.fs) against ../shared/reference/gmm.json
/// (scikit-learn 1.2.1 GaussianMixture, covariance_type="full", on 1-D data).
module Research.Analysis.Tests.GaussianMixtureTests

open System
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open Research.Analysis
open Research.Tests
open Research.Analysis.Tests.Support

type private Dataset = { Name: string; X: float[]; Json: JsonElement }

/// Every data set of a gmm.json-shaped file, each parsed on its own (one that cannot be read is one
/// failing test). Nothing about a data set is assumed from its name; its k is read from the parameters it stores.
let private datasetsOf (file: string) (load: unit -> JsonElement) =
    referenceCases file load "datasets" (fun _ d ->
        { Name = (Reference.prop "name" d).GetString(); X = Reference.floats (Reference.prop "x" d); Json = d })

/// |a − e| ≤ 1e-10·max(1, |e|): the trajectory tolerance of gmm.json's README, relative for large values.
let private tol = 1e-10
let private near (what: string) (e: float) (a: float) = close (tol * max 1.0 (abs e)) what e a

let private paramsOf (e: JsonElement) =
    Reference.floats (Reference.prop "weights" e), Reference.floats (Reference.prop "means" e), Reference.floats (Reference.prop "variances" e)

/// Two well-separated components: 300 points from N(−2, 0.5²), 200 from N(3, 1), from a fixed seed.
let private separated () =
    let rng = Xoshiro256StarStar(20240611L, 0L)
    Array.init 500 (fun i -> if i < 300 then -2.0 + 0.5 * rng.NextNormal() else 3.0 + rng.NextNormal())

let private dataGen =
    gen {
        let! n = Gen.choose (20, 400)
        let! k = Gen.choose (1, 4)
        let! seed = Gen.choose (0, Int32.MaxValue)
        let rng = Xoshiro256StarStar(int64 seed, 0L)
        let centres = Array.init k (fun j -> 4.0 * float j)
        return k, Array.init n (fun i -> centres.[i % k] + rng.NextNormal())
    }

/// The tests of a gmm.json-shaped file: every data set's fixed_init trajectory and fits; a data set
/// that cannot be run (or a file that cannot be read) is one failing test that says why.
let referenceTests (file: string) (load: unit -> JsonElement) : Test list =
    let datasets = datasetsOf file load
    [
        testList "scikit-learn 1.2.1 fixed_init trajectory (gmm.json): every M-step to 1e-10, same stopping iteration" [
            yield! testCases datasets (fun d ->
              [ testCase $"{d.Name}" <| fun () ->
                    let fi = requireProp d.Name "fixed_init" d.Json
                    let start =
                        { Weights = Reference.floats (Reference.prop "weights_init" fi)
                          Means = Reference.floats (Reference.prop "means_init" fi)
                          Variances = Reference.floats (Reference.prop "variances_init" fi) }
                    let k = start.Weights.Length
                    let fit = GaussianMixture.fitFrom (MixtureOptions.Create k) start d.X
                    let traj = (Reference.prop "trajectory_after_each_M_step" fi).EnumerateArray() |> Seq.toArray
                    Expect.equal fit.History.Length traj.Length "number of iterations in the trajectory"
                    for step, e in Array.zip fit.History traj do
                        let i = (Reference.prop "iter" e).GetInt32()
                        Expect.equal step.Iteration i "iteration"
                        near $"iter {i} lower_bound_" (Reference.num (Reference.prop "lower_bound_" e)) step.LowerBound
                        let w, m, v = paramsOf e
                        for j in 0 .. k - 1 do
                            near $"iter {i} weight {j}" w.[j] step.Parameters.Weights.[j]
                            near $"iter {i} mean {j}" m.[j] step.Parameters.Means.[j]
                            near $"iter {i} variance {j}" v.[j] step.Parameters.Variances.[j]
                    let r = Reference.prop "result" fi
                    Expect.equal fit.Iterations ((Reference.prop "n_iter_" r).GetInt32()) "n_iter_"
                    Expect.equal fit.Converged ((Reference.prop "converged_" r).GetBoolean()) "converged_"
                    near "lower_bound_" (Reference.num (Reference.prop "lower_bound_" r)) fit.LowerBound
                    near "score (mean log-likelihood)" (Reference.num (Reference.prop "mean_score" r)) fit.MeanLogLikelihood
                    closeRel tol "bic" (Reference.num (Reference.prop "bic" r)) fit.Bic
                    closeRel tol "aic" (Reference.num (Reference.prop "aic" r)) fit.Aic
                    let w, m, v = paramsOf r
                    allClose tol "weights" w fit.Parameters.Weights
                    for j in 0 .. k - 1 do
                        near $"mean {j}" m.[j] fit.Parameters.Means.[j]
                        near $"variance {j}" v.[j] fit.Parameters.Variances.[j] ])
        ]

        testList "own k-means++ initialisation, 5 restarts: mean log-likelihood ≥ scikit-learn's − 1e-6 (gmm.json fit_k, fit_k5)" [
            yield! testCases datasets (fun d ->
                let fits = [ for key in [ "fit_k"; "fit_k5" ] do match Reference.tryProp key d.Json with Some e -> yield key, e | None -> () ]
                if fits.IsEmpty then
                    [ testCase $"{d.Name}: no fit to compare with" <| fun () ->
                        failtestf "gmm.json data set %s holds neither fit_k nor fit_k5" d.Name ]
                else
                  [ for key, e in fits ->
                    testCase $"{d.Name} {key}" <| fun () ->
                        let k = (Reference.prop "weights" e).GetArrayLength()
                        // n_init 5 as in the reference, but EM run until the mean log-likelihood moves
                        // by < 1e-6 (max 3000 iterations): sklearn's tol = 1e-3 stops while the
                        // likelihood still rises by up to ~1e-3, so with it we would compare stopping
                        // points, not optima. (With tol = 1e-3 our fits equal sklearn's to 1e-15 on 5
                        // of these 11 fits; see the Mixture module docs.)
                        let o = MixtureOptions.Create(k, restarts = 5, seed = 0L, tolerance = 1e-6, maxIterations = 3000)
                        let fit = GaussianMixture.fit o d.X
                        let theirs = Reference.num (Reference.prop "mean_score" e)
                        Expect.isTrue fit.Converged "converged"
                        Expect.isGreaterThanOrEqual fit.MeanLogLikelihood (theirs - 1e-6)
                            $"mean log-likelihood {fit.MeanLogLikelihood:R} vs sklearn {theirs:R} (k = {k})"
                        closeRel 1e-12 "weights sum to 1" 1.0 (Array.sum fit.Parameters.Weights) ])
        ]
    ]

[<Tests>]
let tests =
    testList "Statistics.GaussianMixture" [
        testList "gmm.json" (referenceTests "gmm.json" (fun () -> Reference.load "gmm.json"))

        testList "model functions" [
            // own data (property tests make their own): two well-separated components, 300 + 200 points
            let d = lazy {| X = separated () |}
            let fit = lazy (GaussianMixture.fit { MixtureOptions.Create 2 with Restarts = 3 } d.Value.X)
            yield testCase "BIC and AIC follow scikit-learn's formulas with p = 3k − 1" <| fun () ->
                let f = fit.Value
                let n = float f.SampleSize
                closeRel 1e-14 "bic" (-2.0 * f.MeanLogLikelihood * n + 5.0 * log n) f.Bic
                closeRel 1e-14 "aic" (-2.0 * f.MeanLogLikelihood * n + 10.0) f.Aic
                closeRel 1e-14 "total = mean · n" (f.MeanLogLikelihood * n) f.LogLikelihood
            yield testCase "log density = log of density, and its mean is the mean log-likelihood" <| fun () ->
                let p = fit.Value.Parameters
                let xs = d.Value.X
                let dens = GaussianMixture.density p xs
                let logs = GaussianMixture.logDensity p xs
                for i in 0 .. xs.Length - 1 do close 1e-12 $"log p(x[{i}])" (log dens.[i]) logs.[i]
                close 1e-12 "mean log-likelihood" fit.Value.MeanLogLikelihood (Array.average logs)
            yield testCase "the density integrates to 1" <| fun () ->
                let p = fit.Value.Parameters
                let lo, hi = -40.0, 40.0
                let m = 80000
                let h = (hi - lo) / float m
                let xs = Array.init (m + 1) (fun i -> lo + float i * h)
                let f = GaussianMixture.density p xs
                let integral = h * (Array.sum f - 0.5 * (f.[0] + f.[m]))
                close 1e-9 "∫ density" 1.0 integral
            yield testCase "posteriors are w_k N_k(x) / p(x), rows sum to 1, predict takes the largest" <| fun () ->
                let p = fit.Value.Parameters
                let xs = [| -5.0; -1.0; 0.0; 0.5; 2.0; 3.0; 8.0 |]
                let post = GaussianMixture.posteriors p xs
                let dens = GaussianMixture.density p xs
                let labels = GaussianMixture.predict p xs
                for i in 0 .. xs.Length - 1 do
                    close 1e-14 $"row {i} sums to 1" 1.0 (Array.sum post.[i])
                    for j in 0 .. 1 do
                        let v = p.Variances.[j]
                        let nk = exp (-0.5 * (xs.[i] - p.Means.[j]) ** 2.0 / v) / sqrt (2.0 * Math.PI * v)
                        close 1e-12 $"posterior [{i},{j}]" (p.Weights.[j] * nk / dens.[i]) post.[i].[j]
                    Expect.equal labels.[i] (if post.[i].[0] >= post.[i].[1] then 0 else 1) $"label {i}"
            yield testCase "sampling: the same seed gives the same sample, moments match the model" <| fun () ->
                let p = fit.Value.Parameters
                let a = GaussianMixture.sample 5L 200000 p
                let b = GaussianMixture.sample 5L 200000 p
                Expect.sequenceEqual a.Values b.Values "reproducible"
                let mean = Array.map2 (*) p.Weights p.Means |> Array.sum
                let var = (Array.map3 (fun w m v -> w * (v + m * m)) p.Weights p.Means p.Variances |> Array.sum) - mean * mean
                let sMean = Array.average a.Values
                let sVar = (a.Values |> Array.sumBy (fun x -> (x - sMean) ** 2.0)) / float a.Values.Length
                // Monte Carlo: SE of the mean is sqrt(var/n) ≈ 0.006 here; allow 5 SE
                close (5.0 * sqrt (var / 200000.0)) "sample mean" mean sMean
                closeRel 0.02 "sample variance" var sVar
                let share0 = float (a.Components |> Array.filter ((=) 0) |> Array.length) / 200000.0
                close 0.005 "component 0 share" p.Weights.[0] share0
            yield testCase "selectByBic picks k = 2 for two well-separated components" <| fun () ->
                let sel = GaussianMixture.selectByBic { MixtureOptions.Create 1 with Restarts = 3 } [| 1; 2; 3; 4 |] d.Value.X
                Expect.equal sel.BestComponents 2 $"BICs {sel.Fits |> Array.map (fun f -> f.Bic)}"
                Expect.equal sel.Fits.Length 4 "a fit per candidate"
                Expect.equal sel.Best.Bic (sel.Fits |> Array.map (fun f -> f.Bic) |> Array.min) "lowest BIC"
            yield testCase "random initialisation converges to the same optimum on separated data" <| fun () ->
                let o = { MixtureOptions.Create 2 with Initialization = Random; Restarts = 3; Tolerance = 1e-8; MaxIterations = 1000 }
                let r = GaussianMixture.fit o d.Value.X
                let km = GaussianMixture.fit { o with Initialization = KMeans } d.Value.X
                Expect.isTrue r.Converged "converged"
                close 1e-6 "same mean log-likelihood" km.MeanLogLikelihood r.MeanLogLikelihood
            yield testCase "non-convergence is a flag with the iteration count, not an exception" <| fun () ->
                let o = { MixtureOptions.Create 3 with MaxIterations = 2; Tolerance = 0.0 }
                let r = GaussianMixture.fit o d.Value.X
                Expect.isFalse r.Converged "not converged"
                Expect.equal r.Iterations 2 "iterations"
                Expect.equal r.History.Length 2 "history"
            yield testCase "the same seed gives the same fit" <| fun () ->
                let o = { MixtureOptions.Create 3 with Restarts = 2; Seed = 42L }
                let a = GaussianMixture.fit o d.Value.X
                let b = GaussianMixture.fit o d.Value.X
                Expect.sequenceEqual a.Parameters.Means b.Parameters.Means "means"
                Expect.equal a.MeanLogLikelihood b.MeanLogLikelihood "likelihood"
        ]

        testCase "restarts whose k-means start repeats an earlier one are not run: k = 1 with 10 restarts is the fit with 1, bit for bit" <| fun () ->
            let rng = Xoshiro256StarStar(9L, 0L)
            let x = Array.init 2000 (fun i -> if i % 3 = 0 then 2.0 + 0.3 * rng.NextNormal() else rng.NextNormal())
            let bits (v: float[]) = v |> Array.map BitConverter.DoubleToInt64Bits
            for k in [ 1; 2 ] do
                let one = GaussianMixture.fit { MixtureOptions.Create(k, standardize = true) with Restarts = 1; Seed = 3L } x
                let ten = GaussianMixture.fit { MixtureOptions.Create(k, standardize = true) with Restarts = 10; Seed = 3L } x
                if k = 1 then
                    Expect.equal (bits ten.Parameters.Means) (bits one.Parameters.Means) "k = 1: means"
                    Expect.equal (bits ten.Parameters.Variances) (bits one.Parameters.Variances) "k = 1: variances"
                    Expect.equal (BitConverter.DoubleToInt64Bits ten.Bic) (BitConverter.DoubleToInt64Bits one.Bic) "k = 1: BIC"
                    Expect.equal ten.Iterations one.Iterations "k = 1: iterations"
                else Expect.isGreaterThanOrEqual ten.LowerBound one.LowerBound "k = 2: ten starts never end below the first alone"

        testList "the E-step's exp and log (each lane on its own, within 1 ulp of libm)" [
            let ulps (a: float) (b: float) = abs (BitConverter.DoubleToInt64Bits a - BitConverter.DoubleToInt64Bits b)
            testCase "exp: within 1 ulp of Math.Exp on [−708, 0], 0 below −746 and at −∞, NaN for NaN, on vectors mixing every range" <| fun () ->
                let edges =
                    [| 0.0; -0.0; -1e-300; -1.0; -0.34657359027997264; -0.3465735902799727; -707.9999999; -708.0; -708.0000001; -709.0; -720.5
                       -744.44; -745.1332; -745.134; -745.14; -746.0; -746.0001; -800.0; -1e6; -Double.MaxValue; Double.NegativeInfinity; nan |]
                let rng = Xoshiro256StarStar(5L, 0L)
                let lane () =
                    match rng.NextInt 5 with
                    | 0 -> edges.[rng.NextInt edges.Length]
                    | 1 -> -40.0 * rng.NextDouble()
                    | 2 -> -708.0 - 40.0 * rng.NextDouble()
                    | 3 -> -1e-3 * rng.NextDouble()
                    | _ -> -1000.0 * rng.NextDouble()
                let mutable differ = 0
                let mutable normal = 0
                for t in 1 .. 200000 do
                    let d = Runtime.Intrinsics.Vector256.Create(lane (), lane (), lane (), lane ())
                    let actual = GaussianMixture.expOfNonPositive d
                    for l in 0 .. 3 do
                        let x = d.[l]
                        let e = Math.Exp x
                        let a = actual.[l]
                        let alone = (GaussianMixture.expOfNonPositive (Runtime.Intrinsics.Vector256.Create x)).[0]
                        if BitConverter.DoubleToInt64Bits alone <> BitConverter.DoubleToInt64Bits a then
                            failtest $"lane {l} of {d}: {a:R}, but {alone:R} in a vector of its own"
                        if Double.IsNaN x then Expect.isTrue (Double.IsNaN a) $"exp NaN = {a}"
                        elif x < -746.0 then Expect.equal a 0.0 $"exp {x:R} is 0 (Math.Exp: {e:R})"
                        elif x >= -708.0 then
                            normal <- normal + 1
                            if ulps a e > 0L then differ <- differ + 1
                            if ulps a e > 1L then failtest $"exp {x:R}: {a:R}, Math.Exp {e:R} ({ulps a e} ulp)"
                        // subnormal results: the one rounding of e^r · 2^(n + 600) · 2^−600, within a subnormal ulp
                        elif ulps a e > 1L then failtest $"exp {x:R}: {a:R}, Math.Exp {e:R} ({ulps a e} ulp of a subnormal)"
                Expect.isLessThan (float differ / float normal) 0.1 $"{differ} of {normal} normal results differ from Math.Exp by 1 ulp"
                Expect.equal (GaussianMixture.expOfNonPositive (Runtime.Intrinsics.Vector256.Create 0.0)).[0] 1.0 "exp 0 = 1 exactly (the point's largest term)"
            testCase "log: within 1 ulp of Math.Log on [1, 2^1024), exact at powers of 2 near 1, NaN for NaN" <| fun () ->
                let rng = Xoshiro256StarStar(6L, 0L)
                let lane () =
                    match rng.NextInt 5 with
                    | 0 -> 1.0 + 4.0 * rng.NextDouble()
                    | 1 -> 1.0 + 1e-9 * rng.NextDouble()
                    | 2 -> Math.Exp(709.0 * rng.NextDouble())
                    | 3 -> [| 1.0; 1.0000000000000002; Math.Sqrt 2.0; 1.414213562373095; 2.0; 4.0; 5.0; Double.MaxValue |].[rng.NextInt 8]
                    | _ -> 1.0 + float (rng.NextInt 20)
                let mutable differ = 0
                for t in 1 .. 200000 do
                    let s = Runtime.Intrinsics.Vector256.Create(lane (), lane (), lane (), lane ())
                    let actual = GaussianMixture.logAtLeastOne s
                    for l in 0 .. 3 do
                        let e = Math.Log s.[l]
                        if ulps actual.[l] e > 0L then differ <- differ + 1
                        if ulps actual.[l] e > 1L then failtest $"log {s.[l]:R}: {actual.[l]:R}, Math.Log {e:R} ({ulps actual.[l] e} ulp)"
                Expect.isLessThan (float differ / 800000.0) 0.1 $"{differ} of 800000 differ from Math.Log by 1 ulp"
                Expect.equal (GaussianMixture.logAtLeastOne (Runtime.Intrinsics.Vector256.Create 1.0)).[0] 0.0 "log 1 = 0"
                Expect.equal (GaussianMixture.logAtLeastOne (Runtime.Intrinsics.Vector256.Create 2.0)).[0] (Math.Log 2.0) "log 2"
                Expect.isTrue (Double.IsNaN (GaussianMixture.logAtLeastOne (Runtime.Intrinsics.Vector256.Create nan)).[0]) "log NaN is NaN"
            testCase "fits with narrow and wide components are those of the plain E-step: BIC to 1e-10, same iterations" <| fun () ->
                // Many E-step lanes below −708 and some in the subnormal range; n = 3843 has a scalar tail. The
                // BICs (as bits) are those of the plain E-step: Math.Exp and Math.Log point by point, responsibilities
                // stored and read back for the variances (commit ec7e9db). Since the E-step has its own exp and log
                // and accumulates the scatter about the old means, they agree to rounding, not bit for bit.
                let model = { Weights = [| 0.3; 0.3; 0.2; 0.2 |]; Means = [| 0.0; 0.5; 3.0; -2.0 |]; Variances = [| 1e-6; 0.04; 1.0; 4.0 |] }
                let x = (GaussianMixture.sample 11L 3843 model).Values
                for k, bic, iterations in [ 1, 0x40cf20ac9a25b83cL, 4; 3, 0x40c7f3f2b33404c2L, 12; 5, 0x40a5c83d22114fe4L, 23 ] do
                    let o = { MixtureOptions.Create(k, standardize = true) with Restarts = 4; MaxIterations = 20; Refine = Some { Tolerance = 1e-5; MaxIterations = 300 } }
                    let f = GaussianMixture.fit o x
                    let plain = BitConverter.Int64BitsToDouble bic
                    closeRel 1e-10 $"k = {k}: BIC {f.Bic:R} against the plain E-step's {plain:R}" plain f.Bic
                    Expect.equal f.Iterations iterations $"k = {k}: iterations"
        ]

        testList "bad input: the error names the argument and the problem" [
            testCase "more components than distinct points" <| fun () ->
                throwsArg "Components" [ "at most as many components as distinct data points (3)"; "got 4" ] (fun () ->
                    GaussianMixture.fit (MixtureOptions.Create 4) [| 1.0; 2.0; 2.0; 3.0; 3.0 |])
            testCase "NaN in the data" <| fun () ->
                throwsArg "x" [ "finite"; "NaN"; "index 2" ] (fun () -> GaussianMixture.fit (MixtureOptions.Create 1) [| 1.0; 2.0; nan |])
            testCase "infinite value in the data" <| fun () ->
                throwsArg "x" [ "finite"; "-infinity"; "index 0" ] (fun () -> GaussianMixture.fit (MixtureOptions.Create 1) [| -infinity; 2.0; 3.0 |])
            testCase "empty data" <| fun () ->
                throwsArg "x" [ "at least 2"; "empty" ] (fun () -> GaussianMixture.fit (MixtureOptions.Create 1) [||])
            testCase "a constant sample has one distinct point: k = 2 is refused" <| fun () ->
                throwsArg "Components" [ "distinct data points (1)"; "got 2" ] (fun () -> GaussianMixture.fit (MixtureOptions.Create 2) [| 4.0; 4.0; 4.0 |])
            testCase "zero components" <| fun () ->
                throwsArg "Components" [ "Components ≥ 1"; "got 0" ] (fun () -> GaussianMixture.fit (MixtureOptions.Create 0) [| 1.0; 2.0 |])
            testCase "mismatched lengths of start parameters" <| fun () ->
                let start = { Weights = [| 0.5; 0.5 |]; Means = [| 0.0 |]; Variances = [| 1.0; 1.0 |] }
                throwsArg "Means" [ "expected 2 elements"; "Weights"; "got 1" ] (fun () -> GaussianMixture.fitFrom (MixtureOptions.Create 2) start [| 1.0; 2.0; 3.0 |])
            testCase "weights that do not sum to 1" <| fun () ->
                let start = { Weights = [| 0.5; 0.6 |]; Means = [| 0.0; 1.0 |]; Variances = [| 1.0; 1.0 |] }
                throwsArg "Weights" [ "summing to 1"; "1.1" ] (fun () -> GaussianMixture.fitFrom (MixtureOptions.Create 2) start [| 1.0; 2.0; 3.0 |])
            testCase "non-positive variance" <| fun () ->
                let start = { Weights = [| 1.0 |]; Means = [| 0.0 |]; Variances = [| 0.0 |] }
                throwsArg "Variances" [ "positive variances"; "index 0" ] (fun () -> GaussianMixture.fitFrom (MixtureOptions.Create 1) start [| 1.0; 2.0; 3.0 |])
        ]

        testList "properties (FsCheck, fixed replay seed)" [
            testCase "fitted weights sum to 1 and are positive; variances ≥ reg_covar" <| fun () ->
                checkProperty "weights" 40 (Prop.forAll (Arb.fromGen dataGen) (fun (k, x) ->
                    let f = GaussianMixture.fit (MixtureOptions.Create k) x
                    let w = f.Parameters.Weights
                    abs (Array.sum w - 1.0) < 1e-12 && Array.forall (fun v -> v > 0.0) w
                    && Array.forall (fun v -> v >= 1e-6) f.Parameters.Variances))
        ]
    ]

[<Tests>]
let schema =
    testList "Statistics.GaussianMixture.reference schema (gmm.json): every data set runs; one that cannot is one failing test" [
        testCase "an extra data set of a documented kind runs; one without data is one failing test naming it; the others still run" <| fun () ->
            let load =
                editedReference "gmm.json" (fun root ->
                    let sets = root.["datasets"].AsArray()
                    while sets.Count > 1 do sets.RemoveAt(sets.Count - 1)
                    // the same data set again under another name, holding only fit_k (a kind the README documents)
                    let extra = sets.[0].DeepClone().AsObject()
                    extra.["name"] <- Text.Json.Nodes.JsonValue.Create "extra_only_fit_k"
                    extra.Remove "fixed_init" |> ignore
                    extra.Remove "fit_k5" |> ignore
                    sets.Add extra
                    let broken = sets.[0].DeepClone().AsObject()
                    broken.["name"] <- Text.Json.Nodes.JsonValue.Create "no_data"
                    broken.Remove "x" |> ignore
                    sets.Add broken)
            let results = evaluateTests (testList "copy" (referenceTests "gmm.json (edited copy)" load))
            let failed = results |> List.filter (fun (_, r) -> not r.isPassed)
            // data set 0: trajectory + fit_k + fit_k5 = 3; extra: trajectory (fails: no fixed_init) + fit_k = 2; broken: 2 (one per list)
            let names = results |> List.map fst
            Expect.isTrue (names |> List.exists (fun n -> n.Contains "extra_only_fit_k fit_k")) $"the extra data set's fit is tested: {names}"
            Expect.isTrue (results |> List.exists (fun (n, r) -> n.Contains "extra_only_fit_k fit_k" && r.isPassed)) "and passes"
            for name, result in failed do
                Expect.isTrue (name.Contains "no_data" || name.Contains "extra_only_fit_k") $"only the edited data sets fail: {name}"
                Expect.isTrue result.isFailed $"a failure, not an error: {name} {result}"
            let noData = failed |> List.filter (fun (n, _) -> n.Contains "no_data")
            Expect.equal noData.Length 2 $"the data set without x is one failing test per list: {noData}"
            match snd noData.Head with
            | Impl.TestResult.Failed m -> Expect.stringContains m "property 'x' missing" "the message says why"
            | r -> failtestf "expected a failure, got %A" r
            let extraTrajectory = failed |> List.filter (fun (n, _) -> n.Contains "extra_only_fit_k")
            match extraTrajectory with
            | [ _, Impl.TestResult.Failed m ] -> Expect.stringContains m "has no 'fixed_init'" "says which part is missing"
            | other -> failtestf "expected one failing trajectory test for the data set without fixed_init, got %A" other
        testCase "an unreadable file is one failing test" <| fun () ->
            let results = evaluateTests (testList "copy" (referenceTests "missing.json" (fun () -> failwith "no such file")))
            Expect.equal results.Length 2 $"one per list: {results}"
            for _, r in results do Expect.isTrue r.isFailed "failed"
    ]

/// Gradient-like data: a narrow and a wide component around 0 and a shifted one, n points.
let private gradientLike (seed: int64) (n: int) =
    let rng = Xoshiro256StarStar(seed, 0L)
    Array.init n (fun i ->
        match i % 4 with
        | 0 | 1 -> 0.2 * rng.NextNormal()
        | 2 -> rng.NextNormal()
        | _ -> 1.5 + 0.5 * rng.NextNormal())

/// The study's rule for "a mixture fits" (AdamVsRAdamClaims: KS distance ≤ 0.02).
let private fitsByKs (ks: float) = ks <= 0.02

[<Tests>]
let scale =
    testList "Statistics.GaussianMixture.scale invariance (Standardize)" [
        testCase "480 gradient-like points scaled by 1, 1e-3, 1e-6: the same KS distance (1e-9), verdict, BIC differences and responsibilities" <| fun () ->
            let x = gradientLike 480L 480
            let fitAt (a: float) =
                let y = x |> Array.map (fun v -> a * v)
                let o = MixtureOptions.Create(5, restarts = 3, seed = 7L, standardize = true)
                let f = GaussianMixture.fit o y
                let ks = GaussianMixture.ksDistanceSorted f.Parameters (Array.sort y)
                let f1 = GaussianMixture.fit { o with Components = 1 } y
                a, ks, f.Bic - f1.Bic, f
            let results = [ fitAt 1.0; fitAt 1e-3; fitAt 1e-6 ]
            let _, ks0, dBic0, f0 = results.Head
            for a, ks, dBic, f in results do
                printfn "scale %g: KS distance %.6f, BIC(5) − BIC(1) = %.4f" a ks dBic
                close 1e-9 $"KS distance at scale {a}" ks0 ks
                Expect.equal (fitsByKs ks) (fitsByKs ks0) $"verdict at scale {a}"
                close (1e-9 * abs dBic0) $"BIC(5) − BIC(1) at scale {a}" dBic0 dBic
                for j in 0 .. 4 do
                    close 1e-9 $"weight {j} at scale {a}" f0.Parameters.Weights.[j] f.Parameters.Weights.[j]
                    closeRel 1e-9 $"mean {j} at scale {a}" (a * f0.Parameters.Means.[j]) f.Parameters.Means.[j]
                    closeRel 1e-9 $"variance {j} at scale {a}" (a * a * f0.Parameters.Variances.[j]) f.Parameters.Variances.[j]
        testCase "without Standardize the absolute floor 1e-6 (scikit-learn's reg_covar) changes the fit at small scales" <| fun () ->
            let x = gradientLike 480L 480
            let ks (a: float) =
                let y = x |> Array.map (fun v -> a * v)
                let f = GaussianMixture.fit (MixtureOptions.Create(5, restarts = 3, seed = 7L)) y
                GaussianMixture.ksDistanceSorted f.Parameters (Array.sort y)
            Expect.isGreaterThan (ks 1e-3 - ks 1.0) 0.05 "the documented dependence on units that Standardize removes"
        testCase "fitFrom with Standardize takes and returns parameters in the data's units" <| fun () ->
            let x = gradientLike 3L 400 |> Array.map (fun v -> 1e-4 * v + 2e-5)
            let start = { Weights = [| 0.5; 0.5 |]; Means = [| 0.0; 1e-4 |]; Variances = [| 1e-9; 1e-8 |] }
            let f = GaussianMixture.fitFrom (MixtureOptions.Create(2, standardize = true)) start x
            let direct = GaussianMixture.logDensity f.Parameters x |> Array.average
            close 1e-9 "mean log-likelihood equals the data-unit density's" direct f.MeanLogLikelihood
            Expect.isTrue (f.Parameters.Means |> Array.forall (fun m -> abs m < 1e-3)) $"means in data units: {f.Parameters.Means}"
        testCase "properties (FsCheck): KS distance and weights are the same for a·x + b, any a ≠ 0 in 1e-8..1e4 and shift b" <| fun () ->
            let g =
                gen {
                    let! k, x = dataGen
                    let! logA = Gen.choose (-80, 40)
                    let! negative = Gen.elements [ false; true ]
                    let! b = Gen.choose (-1000, 1000)
                    return k, x, (if negative then -1.0 else 1.0) * Math.Pow(10.0, float logA / 10.0), float b * abs (Math.Pow(10.0, float logA / 10.0))
                }
            checkProperty "affine equivariance" 40 (Prop.forAll (Arb.fromGen g) (fun (k, x, a, b) ->
                let o = MixtureOptions.Create(k, restarts = 2, seed = 3L, standardize = true)
                let y = x |> Array.map (fun v -> a * v + b)
                let fx = GaussianMixture.fit o x
                let fy = GaussianMixture.fit o y
                let ksx = GaussianMixture.ksDistanceSorted fx.Parameters (Array.sort x)
                let ksy = GaussianMixture.ksDistanceSorted fy.Parameters (Array.sort y)
                // a < 0 reverses the order of the data and so of the components: compare sorted weights
                abs (ksx - ksy) < 1e-8
                && Array.forall2 (fun (p: float) q -> abs (p - q) < 1e-8) (Array.sort fx.Parameters.Weights) (Array.sort fy.Parameters.Weights)))
    ]

[<Tests>]
let refinement =
    testList "Statistics.GaussianMixture.refinement (SQUAREM-accelerated EM from the best restart)" [
        // heavy-tailed, overlapping data: where EM converges slowly and scikit-learn's tol = 1e-3 stops early
        let heavy =
            lazy (
                let rng = Xoshiro256StarStar(91L, 0L)
                Array.init 20000 (fun i ->
                    let z = rng.NextNormal()
                    match i % 3 with
                    | 0 -> 0.3 * z
                    | 1 -> z
                    | _ -> 3.0 * z / sqrt (max 1e-3 (-log (1.0 - rng.NextDouble())))))
        let options = MixtureOptions.Create(5, restarts = 3, seed = 4L, standardize = true)
        let refined = { options with Refine = Some { Tolerance = 1e-7; MaxIterations = 3000 } }
        yield testCase "reaches at least the likelihood of plain EM run to the same tolerance, in fewer steps" <| fun () ->
            let plain = GaussianMixture.fit { options with Tolerance = 1e-7; MaxIterations = 20000 } heavy.Value
            let fast = GaussianMixture.fit refined heavy.Value
            Expect.isTrue plain.Converged "plain EM converged"
            Expect.isTrue fast.Converged "refinement converged"
            Expect.isGreaterThanOrEqual fast.MeanLogLikelihood (plain.MeanLogLikelihood - 1e-6) "at least plain EM's optimum"
            Expect.isLessThan fast.Iterations plain.Iterations $"fewer E-steps ({fast.Iterations} vs {plain.Iterations})"
        yield testCase "never lowers the likelihood of the best restart; the history goes on from it" <| fun () ->
            let before = GaussianMixture.fit options heavy.Value
            let after = GaussianMixture.fit refined heavy.Value
            Expect.isGreaterThanOrEqual after.MeanLogLikelihood before.MeanLogLikelihood "not worse"
            Expect.equal after.History.[.. before.History.Length - 1] before.History "the restart's steps first"
            Expect.equal after.History.Length after.Iterations "one history entry per E-step"
            Expect.equal (after.History |> Array.map (fun h -> h.Iteration)) [| 1 .. after.Iterations |] "numbered on"
        yield testCase "a refinement cut short is a flag, not an exception" <| fun () ->
            let f = GaussianMixture.fit { options with Refine = Some { Tolerance = 0.0; MaxIterations = 6 } } heavy.Value
            Expect.isFalse f.Converged "not converged"
        yield testCase "bad refinement settings name the field" <| fun () ->
            throwsArg "Refine.MaxIterations" [ "≥ 1"; "got 0" ] (fun () ->
                GaussianMixture.fit { options with Refine = Some { Tolerance = 1e-6; MaxIterations = 0 } } heavy.Value)
            throwsArg "Refine.Tolerance" [ "got -1" ] (fun () ->
                GaussianMixture.fit { options with Refine = Some { Tolerance = -1.0; MaxIterations = 10 } } heavy.Value)
    ]
