/// Tests of Bootstrap: intervals against scipy 1.10.1 stats.bootstrap on stored replicates
/// (reference/bootstrap_scipy.json, made by reference/make_bootstrap_reference.py); the ψ prefix
/// fast path against a direct computation with AdaptiveLR.psi on explicit resamples.
module Research.Analysis.Tests.BootstrapTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Analysis
open Research.Tests
open Research.Analysis.Tests.Support

type private ScipyCase =
    { Name: string; Statistic: string; Level: float; X: float[]; Replicates: float[]; Estimate: float
      Percentile: float * float; BCa: float * float; StandardError: float }

let private scipyCases =
    lazy (
        use doc = JsonDocument.Parse(File.ReadAllText(localReference "bootstrap_scipy.json"))
        let root = doc.RootElement.Clone()
        let pair (e: JsonElement) = Reference.num (Reference.prop "low" e), Reference.num (Reference.prop "high" e)
        [ for c in (Reference.prop "cases" root).EnumerateArray() ->
            { Name = (Reference.prop "name" c).GetString()
              Statistic = (Reference.prop "statistic" c).GetString()
              Level = Reference.num (Reference.prop "level" c)
              X = Reference.floats (Reference.prop "x" c)
              Replicates = Reference.floats (Reference.prop "replicates" c)
              Estimate = Reference.num (Reference.prop "estimate" c)
              Percentile = pair (Reference.prop "percentile" c)
              BCa = pair (Reference.prop "BCa" c)
              StandardError = Reference.num (Reference.prop "standard_error" c) } ])

let private mean (x: float[]) = Array.sum x / float x.Length
let private stdDdof1 (x: float[]) =
    let m = mean x
    sqrt ((x |> Array.sumBy (fun v -> (v - m) * (v - m))) / float (x.Length - 1))
let private median (x: float[]) =
    let s = Array.sort x
    let n = s.Length
    if n % 2 = 1 then s.[n / 2] else 0.5 * (s.[n / 2 - 1] + s.[n / 2])

let private statistic name : float[] -> float =
    match name with
    | "mean" -> mean
    | "std_ddof1" -> stdDdof1
    | "median" -> median
    | other -> failwithf "unknown statistic %s" other

/// Direct, allocation-heavy reference for the ψ curve: explicit resampled arrays (same generator
/// streams), AdaptiveLR.psi on each, then a two-pass mean and variance per t.
let private naivePsiCurve (beta2: float) (seed: int64) (b: int) (g: float[]) =
    let t = g.Length
    let psis =
        Array.init b (fun r ->
            let rng = Xoshiro256StarStar(seed, int64 r)
            let resampled = Array.init t (fun _ -> g.[rng.NextInt t])
            AdaptiveLR.psi beta2 resampled)
    let means = Array.init t (fun i -> (psis |> Array.sumBy (fun p -> p.[i])) / float b)
    let vars = Array.init t (fun i -> (psis |> Array.sumBy (fun p -> (p.[i] - means.[i]) ** 2.0)) / float (b - 1))
    means, vars

/// The notebook's per-t scheme by hand: resample b's stream draws, for t = 1..T in turn, t indices
/// from the first t gradients; ψ_t of each such array (AdaptiveLR.psi), then two-pass mean and variance.
let private naiveFirstT (beta2: float) (seed: int64) (b: int) (g: float[]) =
    let t = g.Length
    let psis =
        Array.init b (fun r ->
            let rng = Xoshiro256StarStar(seed, int64 r)
            Array.init t (fun i ->
                let resampled = Array.init (i + 1) (fun _ -> g.[rng.NextInt(i + 1)])
                (AdaptiveLR.psi beta2 resampled).[i]))
    let means = Array.init t (fun i -> (psis |> Array.sumBy (fun p -> p.[i])) / float b)
    let vars = Array.init t (fun i -> (psis |> Array.sumBy (fun p -> (p.[i] - means.[i]) ** 2.0)) / float (b - 1))
    means, vars

/// FNV-1a over the bits of a curve's Mean, Variance and Unbounded: a fingerprint to pin a curve bit for bit.
let private fingerprint (c: PrefixCurve) =
    let mutable h = 14695981039346656037UL
    let mix (v: uint64) = h <- (h ^^^ v) * 1099511628211UL
    for v in c.Mean do mix (uint64 (BitConverter.DoubleToInt64Bits v))
    for v in c.Variance do mix (uint64 (BitConverter.DoubleToInt64Bits v))
    for v in c.Unbounded do mix (uint64 v)
    h

/// The numpy reference of both schemes (reference/psi_bootstrap_numpy.json, made by
/// reference/make_psi_bootstrap_reference.py), each series read on its own.
let private numpyPsi =
    lazy (
        let load () =
            use doc = JsonDocument.Parse(File.ReadAllText(localReference "psi_bootstrap_numpy.json"))
            doc.RootElement.Clone()
        let root = try Some(load ()) with _ -> None
        let beta2, b =
            match root with
            | Some r -> Reference.num (Reference.prop "beta2" r), (Reference.prop "resamples" r).GetInt32()
            | None -> nan, 0
        beta2, b,
        referenceCases "psi_bootstrap_numpy.json" load "series" (fun _ s ->
            let scheme name =
                let e = Reference.prop name s
                Reference.floats (Reference.prop "mean" e), Reference.floats (Reference.prop "var" e), Reference.floats (Reference.prop "m4" e)
            (Reference.prop "name" s).GetString(), Reference.floats (Reference.prop "g" s), scheme "whole_series", scheme "first_t"))

/// Per t, the number of explicit resamples whose ψ_t is +∞ (a resampled prefix of zeros).
let private naiveUnbounded (beta2: float) (seed: int64) (b: int) (g: float[]) =
    let t = g.Length
    let counts = Array.zeroCreate<int> t
    for r in 0 .. b - 1 do
        let rng = Xoshiro256StarStar(seed, int64 r)
        let psi = AdaptiveLR.psi beta2 (Array.init t (fun _ -> g.[rng.NextInt t]))
        for i in 0 .. t - 1 do if Double.IsInfinity psi.[i] then counts.[i] <- counts.[i] + 1
    counts

/// A running mean as a prefix statistic (for the generic path).
type private RunningMean() =
    let mutable s = 0.0
    let mutable n = 0
    interface IPrefixStatistic with
        member _.Reset() = s <- 0.0; n <- 0
        member _.Push v =
            s <- s + v
            n <- n + 1
            s / float n

/// Every gradient series of psi.json, each read on its own (one that cannot be read is one failing test).
let private psiSeries =
    lazy (
        referenceCases "psi.json" (fun () -> Reference.load "psi.json") "series" (fun _ s ->
            (Reference.prop "name" s).GetString(), Reference.floats (Reference.prop "g" s)))

/// Own data for the tests that need some gradient series (not the reference's).
let private ownSeries () =
    let rng = Xoshiro256StarStar(31L, 0L)
    [| for k in 1 .. 4 -> Array.init (25 * k) (fun t -> 0.01 * rng.NextNormal() + 0.003 * float k * sin (float t)) |]

[<Tests>]
let tests =
    testList "Statistics.Bootstrap" [
        testList "scipy 1.10.1 stats.bootstrap on the same replicates (reference/bootstrap_scipy.json), to 1e-12" [
            for c in scipyCases.Force() do
                yield testCase $"{c.Name}: percentile interval" <| fun () ->
                    let ci = Bootstrap.percentileInterval c.Level c.Replicates
                    close 1e-12 "low" (fst c.Percentile) ci.Lower
                    close 1e-12 "high" (snd c.Percentile) ci.Upper
                yield testCase $"{c.Name}: BCa interval (jackknife acceleration)" <| fun () ->
                    match Bootstrap.tryBcaInterval c.Level (statistic c.Statistic) c.X c.Replicates with
                    | Error e -> failtestf "BCa undefined: %s" e
                    | Ok ci ->
                        close 1e-12 "low" (fst c.BCa) ci.Lower
                        close 1e-12 "high" (snd c.BCa) ci.Upper
                yield testCase $"{c.Name}: standard error (np.std ddof=1) and estimate" <| fun () ->
                    close 1e-13 "estimate" c.Estimate ((statistic c.Statistic) c.X)
                    let reps = c.Replicates
                    let m = mean reps
                    let se = sqrt ((reps |> Array.sumBy (fun r -> (r - m) ** 2.0)) / float (reps.Length - 1))
                    closeRel 1e-12 "standard error" c.StandardError se
        ]

        testList "resampling" [
            testCase "the same seed gives the same replicates; resample b does not depend on B" <| fun () ->
                let x = Array.init 30 (fun i -> float (i * i % 17))
                let a = Bootstrap.replicates 3L 500 mean x
                let b = Bootstrap.replicates 3L 500 mean x
                let c = Bootstrap.replicates 3L 200 mean x
                Expect.sequenceEqual a b "same seed"
                Expect.sequenceEqual a.[0..199] c "first 200 resamples of B = 500 equal B = 200"
                let d = Bootstrap.replicates 4L 500 mean x
                Expect.notEqual a d "another seed"
            testCase "each resample draws n indices with replacement from its own stream (seed, b)" <| fun () ->
                let x = Array.init 25 float
                let reps = Bootstrap.replicates 9L 50 (fun r -> r |> Array.mapi (fun i v -> v * Math.Pow(100.0, float i)) |> Array.sum) x
                for b in 0 .. 49 do
                    let rng = Xoshiro256StarStar(9L, int64 b)
                    let idx = Array.init 25 (fun _ -> rng.NextInt 25)
                    let expected = idx |> Array.mapi (fun i k -> float k * Math.Pow(100.0, float i)) |> Array.sum
                    Expect.equal reps.[b] expected $"resample {b}"
            testCase "bootstrap variance of the mean ≈ σ²/n (plug-in variance, ddof 0) within 5% at B = 20000" <| fun () ->
                let rng = Xoshiro256StarStar(1L, 0L)
                let x = Array.init 40 (fun _ -> rng.NextNormal() * 3.0)
                let est = Bootstrap.estimate 17L 20000 mean x
                let m = mean x
                let plugIn = (x |> Array.sumBy (fun v -> (v - m) ** 2.0)) / 40.0 / 40.0
                // relative SE of a variance estimate from B draws is ~sqrt(2/B) = 1%: 5% is 5 SE
                closeRel 0.05 "variance of the mean" plugIn est.Variance
                close 1e-15 "estimate" m est.Estimate
                closeRel 1e-15 "SE = sqrt(variance)" (sqrt est.Variance) est.StandardError
                Expect.isLessThan (abs est.Bias) (0.05 * sqrt plugIn) "bias of the mean is ~0"
            testCase "percentile and BCa from tryConfidenceInterval match the interval functions on the same replicates" <| fun () ->
                let rng = Xoshiro256StarStar(2L, 0L)
                let x = Array.init 35 (fun _ -> exp (rng.NextNormal()))
                let reps = Bootstrap.replicates 5L 3000 mean x
                let p = Bootstrap.tryConfidenceInterval Percentile 0.9 5L 3000 mean x
                let b = Bootstrap.tryConfidenceInterval BCa 0.9 5L 3000 mean x
                Expect.equal p (Ok (Bootstrap.percentileInterval 0.9 reps)) "percentile"
                Expect.equal b (Bootstrap.tryBcaInterval 0.9 mean x reps) "BCa"
        ]

        testList "BCa where it is undefined returns an error value, not NaN" [
            testCase "all replicates below the estimate (z0 infinite)" <| fun () ->
                // the number of distinct values: every resample with a repeat has fewer than the sample
                let distinct (x: float[]) = float (Array.distinct x).Length
                let x = Array.init 30 float
                let reps = Bootstrap.replicates 1L 200 distinct x
                match Bootstrap.tryBcaInterval 0.95 distinct x reps with
                | Error e -> Expect.stringContains e "one side" "message"
                | Ok ci -> failtestf "expected an error, got %A" ci
            testCase "a statistic no observation moves (jackknife 0/0)" <| fun () ->
                let x = Array.init 30 float
                let constant (_: float[]) = 1.0
                let reps = Array.create 100 1.0
                match Bootstrap.tryBcaInterval 0.95 constant x reps with
                | Error e -> Expect.stringContains e "0/0" "message"
                | Ok ci -> failtestf "expected an error, got %A" ci
        ]

        testList "ψ prefix curve (fast path)" [
            yield! testCases (psiSeries.Force()) (fun (name, g) ->
              [ testCase $"{name} (psi.json g): equals explicit resampling + AdaptiveLR.psi, B = 300 (mean 1e-12, variance 1e-10)" <| fun () ->
                    let curve = Bootstrap.psiCurve 0.999 123L 300 g
                    let means, vars = naivePsiCurve 0.999 123L 300 g
                    let unbounded = naiveUnbounded 0.999 123L 300 g
                    let psi = AdaptiveLR.psi 0.999 g
                    for t in 0 .. g.Length - 1 do
                      Expect.equal curve.Unbounded.[t] unbounded.[t] $"resamples with ψ_{t + 1} unbounded (a prefix of zeros)"
                      if unbounded.[t] = 0 then
                        if Double.IsFinite psi.[t] then closeRel 1e-13 $"original ψ_{t + 1}" psi.[t] curve.Original.[t]
                        closeRel 1e-12 $"mean ψ_{t + 1}" means.[t] curve.Mean.[t]
                        // one-pass sums of deviations from the original ψ_t (fast path) vs two-pass
                        // (reference): they differ by ~ε·B·(bias/sd)², ~1e-12 here; 1e-10 relative,
                        // with an absolute floor for the constant series, whose variance is 0
                        close (1e-10 * vars.[t] + 1e-20 * means.[t] * means.[t]) $"variance ψ_{t + 1}" vars.[t] curve.Variance.[t] ])
            yield testCase "long series (T = 50,000): the SIMD kernel's rare rejection path of Lemire's draw gives the scalar generator's indices" <| fun () ->
                let t = 50000
                let rng = Xoshiro256StarStar(9L, 0L)
                let g = Array.init t (fun _ -> 0.01 * rng.NextNormal() + 1e-4)
                // count the draws the scalar generator rejects for these 40 streams: the path must be exercised
                let threshold = (0u - uint32 t) % uint32 t
                let mutable rejections = 0
                for b in 0 .. 39 do
                    let r = Xoshiro256StarStar(2L, int64 b)
                    for _ in 1 .. t do
                        let mutable low = uint32 ((r.NextUInt64() >>> 32) * uint64 t)
                        while low < threshold do
                            rejections <- rejections + 1
                            low <- uint32 ((r.NextUInt64() >>> 32) * uint64 t)
                Expect.isGreaterThan rejections 0 "some draws are rejected"
                let curve = Bootstrap.psiCurve 0.999 2L 40 g
                let means, vars = naivePsiCurve 0.999 2L 40 g
                for i in [ 0; 1; 2; 99; 999; 9999; t - 1 ] do
                    closeRel 1e-12 $"mean ψ_{i + 1}" means.[i] curve.Mean.[i]
                    closeRel 1e-10 $"variance ψ_{i + 1}" vars.[i] curve.Variance.[i]
            yield testCase "a constant series has exactly zero bootstrap variance" <| fun () ->
                let curve = Bootstrap.psiCurve 0.999 1L 100 (Array.create 50 0.01)
                Expect.isTrue (curve.Variance |> Array.forall ((=) 0.0)) "all zero"
            yield testCase "psiCurves (sequential blocks per series) equals psiCurve (parallel blocks) bit for bit" <| fun () ->
                let series = ownSeries ()
                let batch = Bootstrap.psiCurves 0.999 77L 257 series
                for i in 0 .. series.Length - 1 do
                    let single = Bootstrap.psiCurve 0.999 77L 257 series.[i]
                    Expect.sequenceEqual batch.[i].Mean single.Mean $"series {i} mean"
                    Expect.sequenceEqual batch.[i].Variance single.Variance $"series {i} variance"
            yield testCase "psiCurvesOfColumns32 equals psiCurves on the widened columns" <| fun () ->
                let rng = Xoshiro256StarStar(3L, 0L)
                let rows, cols = 40, 6
                let data = Array.init (rows * cols) (fun _ -> float32 (rng.NextNormal() * 1e-3))
                let flat = Bootstrap.psiCurvesOfColumns32 0.999 5L 64 cols data
                let jagged = Bootstrap.psiCurves 0.999 5L 64 (Array.init cols (fun c -> Array.init rows (fun r -> float data.[r * cols + c])))
                for c in 0 .. cols - 1 do
                    Expect.sequenceEqual flat.[c].Variance jagged.[c].Variance $"column {c}"
            yield testCase "exact zeros: unbounded resamples are counted and reported as +∞, never NaN" <| fun () ->
                let g = [| 0.0; 0.1; 0.0; 0.2; 0.05; 0.0 |]
                let curve = Bootstrap.psiCurve 0.999 2L 400 g
                Expect.isGreaterThan curve.Unbounded.[0] 0 "some resamples start with a zero"
                Expect.equal curve.Variance.[0] infinity "variance at t = 1"
                Expect.isFalse (curve.Variance |> Array.exists Double.IsNaN) "no NaN"
                Expect.isFalse (curve.Mean |> Array.exists Double.IsNaN) "no NaN"
                Expect.equal curve.Original.[0] infinity "ψ_1 of the original series (g₁ = 0)"
            yield testCase "exact zeros on the SIMD kernel: the scalar kernel's curves bit for bit (B = 1000 and 1003, T = 100 and 37)" <| fun () ->
                // Fingerprints (FNV-1a over the bits of Mean, Variance and Unbounded) of the curves the scalar
                // kernel gave these series before series with zeros moved onto the SIMD kernel (commit 3cf6c2d).
                let rng = Xoshiro256StarStar(21L, 0L)
                let series =
                    [ "14% zeros, T = 100", Array.init 100 (fun _ -> if rng.NextDouble() < 0.14 then 0.0 else 0.01 * rng.NextNormal())
                      "leading zeros, T = 100", Array.init 100 (fun t -> if t < 3 then 0.0 else 0.01 * rng.NextNormal())
                      "mostly zeros, T = 37", Array.init 37 (fun t -> if t % 5 <> 2 then 0.0 else 0.01 * rng.NextNormal()) ]
                let expected =
                    [ 0x71adf0f4fbf7fefdUL; 0xc8767a6a5c7b120eUL; 0xabe383ce834e09e4UL; 0x0930a5fde733cbd3UL; 0x02dbbe706e3b59e3UL; 0x5c8275a6de8a6d18UL ]
                let actual = [ for _, g in series do for b in [ 1000; 1003 ] -> fingerprint (Bootstrap.psiCurve 0.999 7L b g) ]
                for (name, _), i in List.zip series [ 0; 2; 4 ] do
                    Expect.equal (actual.[i], actual.[i + 1]) (expected.[i], expected.[i + 1]) $"{name}: fingerprints at B = 1000, 1003"
            yield testCase "the per-t scheme on the four-lane kernel: the scalar kernel's curves bit for bit (B = 1000 and 1003, zeros, T = 100 and 37)" <| fun () ->
                // Fingerprints (FNV-1a over the bits of Mean, Variance and Unbounded) of the curves the scalar
                // per-t kernel gave these series before the per-t scheme moved onto the four-lane kernel.
                let rng = Xoshiro256StarStar(23L, 0L)
                let series =
                    [ "normal, T = 100", Array.init 100 (fun _ -> 0.01 * rng.NextNormal())
                      "14% zeros, T = 100", Array.init 100 (fun _ -> if rng.NextDouble() < 0.14 then 0.0 else 0.01 * rng.NextNormal())
                      "leading zeros, T = 37", Array.init 37 (fun t -> if t < 3 then 0.0 else 0.01 * rng.NextNormal()) ]
                let expected =
                    [ 0xedd0a72fd44d778eUL; 0xe501fb95f58a24d2UL; 0x2adb68fb4b56de32UL; 0x8a0bf41d621026fcUL; 0xb3873e641ff22710UL; 0x17a1029d442758a2UL ]
                let actual = [ for _, g in series do for b in [ 1000; 1003 ] -> fingerprint (Bootstrap.psiCurveFirstT 0.999 7L b g) ]
                for (name, _), i in List.zip series [ 0; 2; 4 ] do
                    Expect.equal (actual.[i], actual.[i + 1]) (expected.[i], expected.[i + 1]) $"{name}: fingerprints at B = 1000, 1003"
            yield testCase "generic prefix statistic (running mean) equals explicit resampling" <| fun () ->
                let g = (ownSeries ()).[1]
                let curve = Bootstrap.prefixCurve (fun () -> RunningMean() :> IPrefixStatistic) 8L 200 g
                let t = g.Length
                let paths =
                    Array.init 200 (fun r ->
                        let rng = Xoshiro256StarStar(8L, int64 r)
                        let res = Array.init t (fun _ -> g.[rng.NextInt t])
                        Array.init t (fun i -> mean res.[0..i]))
                for i in 0 .. t - 1 do
                    let m = (paths |> Array.sumBy (fun p -> p.[i])) / 200.0
                    let v = (paths |> Array.sumBy (fun p -> (p.[i] - m) ** 2.0)) / 199.0
                    closeRel 1e-10 $"mean at t = {i + 1}" m curve.Mean.[i]
                    closeRel 1e-9 $"variance at t = {i + 1}" v curve.Variance.[i]
        ]

        testList "the two ψ-variance schemes against numpy implementations of the same schemes (reference/psi_bootstrap_numpy.json)" [
            let beta2, b, cases = numpyPsi.Force()
            yield testCase "psiCurveFirstT equals the notebook's scheme done by hand on the same streams (mean 1e-12, variance 1e-10)" <| fun () ->
                let g = (ownSeries ()).[1]
                let curve = Bootstrap.psiCurveFirstT 0.999 5L 200 g
                let means, vars = naiveFirstT 0.999 5L 200 g
                for t in 0 .. g.Length - 1 do
                    closeRel 1e-12 $"mean ψ_{t + 1}" means.[t] curve.Mean.[t]
                    close (1e-10 * vars.[t] + 1e-24 * means.[t] * means.[t]) $"variance ψ_{t + 1}" vars.[t] curve.Variance.[t]
                Expect.equal curve.Variance.[0] 0.0 "t = 1: one gradient, no variability"
            yield testCase "psiCurvesWith gives each scheme's single-series curves" <| fun () ->
                let series = ownSeries ()
                let whole = Bootstrap.psiCurvesWith WholeSeries 0.999 3L 64 series
                let first = Bootstrap.psiCurvesWith FirstT 0.999 3L 64 series
                for i in 0 .. series.Length - 1 do
                    Expect.sequenceEqual whole.[i].Variance (Bootstrap.psiCurve 0.999 3L 64 series.[i]).Variance $"whole series {i}"
                    Expect.sequenceEqual first.[i].Variance (Bootstrap.psiCurveFirstT 0.999 3L 64 series.[i]).Variance $"first t {i}"
            yield! testCases cases (fun (name, g, whole, first) ->
              [ for scheme, (mean, var, m4) in [ WholeSeries, whole; FirstT, first ] ->
                  testCase $"{name}: {scheme} variance of ψ_t within 4.5 standard errors of numpy's at every t (B = {b} each)" <| fun () ->
                    let ours =
                        match scheme with
                        | WholeSeries -> Bootstrap.psiCurve beta2 77L b g
                        | FirstT -> Bootstrap.psiCurveFirstT beta2 77L b g
                    for t in 0 .. g.Length - 1 do
                        // two independent estimates from B replicates each: SE of the difference ≈ sqrt(2 (m4 − var²) / B)
                        let se = sqrt (2.0 * max 0.0 (m4.[t] - var.[t] * var.[t]) / float b)
                        // plus numpy's roundoff where the variance is 0 (t = 1 of FirstT: one value)
                        close (4.5 * se + 1e-12 * var.[t] + 1e-14 * mean.[t] * mean.[t]) $"{name} {scheme} Var[ψ_{t + 1}]" var.[t] ours.Variance.[t]
                        close (4.5 * sqrt (2.0 * var.[t] / float b) + 1e-12 * abs mean.[t]) $"{name} {scheme} E[ψ_{t + 1}]" mean.[t] ours.Mean.[t] ])
        ]

        testList "bad input: the error names the argument and the problem" [
            testCase "fewer than 2 resamples" <| fun () ->
                throwsArg "resamples" [ "at least 2 resamples"; "got 1" ] (fun () -> Bootstrap.replicates 1L 1 mean [| 1.0; 2.0 |])
            testCase "empty data" <| fun () ->
                throwsArg "data" [ "at least 2"; "empty" ] (fun () -> Bootstrap.replicates 1L 10 mean [||])
            testCase "NaN in the data" <| fun () ->
                throwsArg "data" [ "finite"; "NaN"; "index 1" ] (fun () -> Bootstrap.estimate 1L 10 mean [| 1.0; nan |])
            testCase "confidence level outside (0, 1)" <| fun () ->
                throwsArg "level" [ "0 < level < 1"; "got 95" ] (fun () -> Bootstrap.percentileInterval 95.0 [| 1.0; 2.0 |])
            testCase "a statistic that returns NaN on a resample" <| fun () ->
                throwsArg "statistic" [ "finite number"; "NaN"; "resample" ] (fun () -> Bootstrap.replicates 1L 10 (fun _ -> nan) [| 1.0; 2.0 |])
            testCase "a statistic that returns infinity on a resample (the variance would be NaN)" <| fun () ->
                throwsArg "statistic" [ "finite number"; "+infinity"; "resample" ] (fun () ->
                    Bootstrap.estimate 1L 50 (fun r -> 1.0 / (r.[0] - 1.0)) [| 1.0; 2.0; 3.0 |])
            testCase "β₂ outside (0, 1) for the ψ curve" <| fun () ->
                throwsArg "beta2" [ "0 < beta2 < 1"; "got 1" ] (fun () -> Bootstrap.psiCurve 1.0 1L 10 [| 1.0 |])
            testCase "infinite gradient in one series of a batch names the series and index" <| fun () ->
                throwsArg "series" [ "finite"; "series 1"; "index 2" ] (fun () -> Bootstrap.psiCurves 0.999 1L 10 [| [| 1.0 |]; [| 1.0; 2.0; infinity |] |])
            testCase "flat data not a multiple of the column count" <| fun () ->
                throwsArg "data" [ "multiple of columns = 3"; "got 7" ] (fun () -> Bootstrap.psiCurvesOfColumns32 0.999 1L 10 3 (Array.zeroCreate 7))
        ]
    ]
