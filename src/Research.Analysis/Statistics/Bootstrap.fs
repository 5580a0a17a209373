namespace Research.Analysis

#nowarn "9" // NativePtr for the AVX2 gather in the ψ kernel

open System
open System.Threading.Tasks
open MathNet.Numerics.Distributions
open System.Runtime.Intrinsics

/// <summary>A bootstrap estimate of a statistic's sampling variability.</summary>
type BootstrapEstimate =
    { /// The statistic of the original sample, θ̂.
      Estimate: float
      /// The statistic of each resample, θ*_1 … θ*_B, in resample order.
      Replicates: float[]
      /// Sample variance of the replicates, denominator B − 1.
      Variance: float
      /// Square root of <c>Variance</c> (scipy's <c>standard_error</c>: <c>np.std(θ*, ddof=1)</c>).
      StandardError: float
      /// Mean of the replicates minus θ̂: the bootstrap estimate of bias.
      Bias: float }

/// <summary>How a bootstrap confidence interval is formed.</summary>
type IntervalMethod =
    /// Quantiles α/2 and 1 − α/2 of the replicates (Efron and Tibshirani 1993, §13.3).
    | Percentile
    /// Bias-corrected and accelerated (Efron 1987; Efron and Tibshirani 1993, §14.3, eq. 14.14–14.15)
    /// with the jackknife estimate of the acceleration (eq. 14.15), as scipy.stats.bootstrap.
    | BCa

/// <summary>A two-sided bootstrap confidence interval.</summary>
type ConfidenceInterval =
    { /// The lower limit.
      Lower: float
      /// The upper limit.
      Upper: float
      /// The confidence level, e.g. 0.95.
      Level: float
      /// How the interval was formed.
      Method: IntervalMethod
      /// The replicate quantiles (fractions in [0, 1]) used as limits: α/2 and 1 − α/2 for the
      /// percentile interval, the adjusted α₁ and α₂ for BCa.
      Quantiles: float * float }

/// <summary>Bootstrap mean and variance of a statistic of every prefix of a series.</summary>
type PrefixCurve =
    { /// The statistic of each prefix g₁..g_t of the original series, t = 1..T.
      Original: float[]
      /// Mean over resamples of the statistic of each prefix; +∞ where <c>Unbounded</c> is positive.
      Mean: float[]
      /// Variance over resamples (denominator B − 1) for each prefix; +∞ where <c>Unbounded</c> is positive.
      Variance: float[]
      /// Number of resamples whose prefix statistic was infinite (for ψ: a resampled prefix of
      /// zeros, where Adam's step without ε is unbounded). Usually all zero.
      Unbounded: int[]
      /// Number of resamples B.
      Resamples: int }

/// <summary>
/// What a bootstrap of Adam's adaptive learning rate ψ_t resamples, and so what its variance estimates.
/// </summary>
type PsiResampling =
    /// <summary>Resampling t gradients from the whole series: each resample draws T indices from all of
    /// g₁..g_T, and ψ_t is computed on its first t draws (<c>Bootstrap.psiCurve</c>). Estimates
    /// Var[ψ_t] when the t gradients are independent draws from the weight's gradient distribution over
    /// the whole window — Liu et al.'s setting (Theorem 2), comparable with ρ_t/(2(ρ_t−2)(ρ_t−4))/σ².</summary>
    | WholeSeries
    /// <summary>The notebook's per-t bootstrap of the first t gradients: for each t afresh, t indices
    /// drawn from g₁..g_t only (<c>np.random.choice(g[:t], t)</c>; <c>Bootstrap.psiCurveFirstT</c>).
    /// Estimates the sampling variability of ψ_t computed from the gradients seen up to t; at small t
    /// it reflects how few values there are (at t = 1 it is 0), at t = T it equals the whole-series
    /// scheme's.</summary>
    | FirstT

    /// In words, for reports.
    member s.Description =
        match s with
        | WholeSeries -> "resampling t gradients from the whole series g_1..g_T (Var[ψ_t] for independent draws from the window's gradients, Liu et al.'s setting)"
        | FirstT -> "the notebook's per-t bootstrap of the first t gradients g_1..g_t (the uncertainty of ψ_t given the gradients seen up to t)"

/// <summary>
/// A statistic that can be updated one value at a time, returning its value on every prefix
/// (the input of <c>Bootstrap.prefixCurve</c>).
/// </summary>
type IPrefixStatistic =
    /// <summary>Forgets all values (the start of a new resample).</summary>
    abstract Reset: unit -> unit
    /// <summary>Adds the next value of the series and returns the statistic of the prefix so far.</summary>
    /// <param name="value">The next value.</param>
    /// <returns>The statistic of the values pushed since the last <c>Reset</c>.</returns>
    abstract Push: value: float -> float

/// <summary>
/// Nonparametric bootstrap (Efron 1979; Efron and Tibshirani 1993): resampling with replacement
/// from a seeded generator, variance and standard error of any statistic, percentile and BCa
/// intervals, and a fast path for a statistic of every prefix of a series — Adam's ψ in particular.
/// </summary>
/// <remarks>
/// <para><b>Generator.</b> Resample b draws its n indices, uniformly with replacement, from
/// <c>Xoshiro256StarStar(seed, b)</c> (xoshiro256** seeded by SplitMix64 from the seed and the
/// resample's index; indices by Lemire's unbiased method). The replicates therefore depend only on
/// (seed, B, data), never on the number of threads, and resample b is the same whatever B is.</para>
/// <para><b>Intervals.</b> Follow scipy 1.10 <c>stats.bootstrap</c> given the same replicates: the
/// percentile interval uses numpy's linear-interpolation percentile; BCa uses
/// z₀ = Φ⁻¹((#{θ* &lt; θ̂} + #{θ* ≤ θ̂}) / 2B), the jackknife acceleration
/// a = Σ U³ / (6 (Σ U²)^{3/2}) with U_i = (n − 1)(θ̄₍.₎ − θ₍ᵢ₎), and limits at the replicate quantiles
/// Φ(z₀ + (z₀ + z_α)/(1 − a(z₀ + z_α))). Verified against scipy 1.10.1 on stored replicates
/// (<c>tests/Research.Analysis.Tests/reference/bootstrap_scipy.json</c>) to 1e-12.</para>
/// <para><b>Prefix curves.</b> What is resampled (<see cref="T:Research.Analysis.PsiResampling"/>):
/// for <c>psiCurve</c> and <c>prefixCurve</c>, the whole series g₁..g_T is resampled with replacement
/// (T indices per resample), and the statistic is then computed on every prefix g*₁..g*_t of the
/// <i>resampled</i> series, t = 1..T. This is not what the notebook did: it resampled g₁..g_t afresh
/// for each t, which <c>psiCurveFirstT</c> does; the two estimate different things (see
/// <c>PsiResampling</c>) and agree only at t = T. Each resample
/// streams its T indices through an O(1) update, so B resamples cost O(B·T) with no per-resample
/// allocation. Resamples are grouped in fixed blocks of 64 whose sums are added in block order;
/// blocks run on the calling thread and on helper threads, and the caller recomputes a block a
/// preempted helper still holds rather than wait for it. A block's sums depend only on the seed
/// and the block, so the result is bit-for-bit the same on any number of threads. For ψ with
/// every g ≠ 0, four resamples run in the lanes of Vector256 (four xoshiro256** streams producing
/// exactly the scalar generator's indices). Means and variances are accumulated as sums of
/// deviations from the original series' prefix statistic, which keeps the variance exact (zero) for
/// a constant series; against a two-pass computation the variance agrees to about 1e-12 relative.</para>
/// <para>From C#, functions of type <c>float[] -> float</c> are <c>FSharpFunc</c> values:
/// create them with <c>FuncConvert.FromFunc</c>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Bootstrap =

    /// Resamples per block of the prefix-curve fast path (fixed: the result does not depend on threads).
    let private blockSize = 64

    let private checkResamples (resamples: int) =
        if resamples < 2 then
            invalidArg (nameof resamples) $"expected at least 2 resamples (a variance needs B ≥ 2), got {resamples}"

    /// <summary>
    /// The statistic of B resamples drawn with replacement from the data.
    /// </summary>
    /// <param name="seed">Seed; resample b uses stream b of <c>Xoshiro256StarStar(seed, b)</c>.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="statistic">The statistic. It receives a buffer that is reused for the next
    /// resample on the same thread: it must not keep a reference to it, and must be safe to call
    /// from several threads at once (and deterministic: a block of resamples may be computed twice).</param>
    /// <param name="data">The sample: at least 2 finite values.</param>
    /// <returns>θ*_1 … θ*_B in resample order.</returns>
    /// <exception cref="T:System.ArgumentException">Too few resamples or values, or a NaN/infinite value.</exception>
    [<CompiledName("Replicates")>]
    let replicates (seed: int64) (resamples: int) (statistic: float[] -> float) (data: float[]) : float[] =
        checkResamples resamples
        Validation.minLength (nameof data) 2 "values (a bootstrap needs n ≥ 2)" data
        Validation.allFinite (nameof data) data
        let n = data.Length
        // items of 64 resamples on the caller and helpers (see Work.run); a buffer per thread
        let perItem = 64
        use buffers = new Threading.ThreadLocal<struct (float[] * Xoshiro256StarStar)>(fun () ->
            struct (Array.zeroCreate<float> n, Xoshiro256StarStar(seed, 0L)))
        let compute (item: int) =
            let struct (buffer, rng) = buffers.Value
            let b0 = item * perItem
            Array.init (min perItem (resamples - b0)) (fun k ->
                rng.Reset(seed, int64 (b0 + k))
                for i in 0 .. n - 1 do buffer.[i] <- data.[rng.NextInt n]
                statistic buffer)
        let out = Work.run true ((resamples + perItem - 1) / perItem) compute |> Array.concat
        for b in 0 .. resamples - 1 do
            if Double.IsNaN out.[b] || Double.IsInfinity out.[b] then
                invalidArg (nameof statistic) $"expected the statistic to return a finite number, got {Validation.formatValue out.[b]} on resample {b}; make the statistic defined on every resample (ties, repeated values)"
        out

    let private summarise (estimate: float) (reps: float[]) =
        let b = float reps.Length
        let mean = Array.sum reps / b
        let mutable ss = 0.0
        for r in reps do ss <- ss + (r - mean) * (r - mean)
        let var = ss / (b - 1.0)
        { Estimate = estimate; Replicates = reps; Variance = var; StandardError = sqrt var; Bias = mean - estimate }

    /// <summary>Bootstrap variance, standard error and bias of a statistic.</summary>
    /// <param name="seed">Seed (see <c>replicates</c>).</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="statistic">The statistic (see <c>replicates</c> for the buffer contract).</param>
    /// <param name="data">The sample: at least 2 finite values.</param>
    /// <returns>θ̂, the replicates and their variance (B − 1), standard error and bias.</returns>
    [<CompiledName("Estimate")>]
    let estimate (seed: int64) (resamples: int) (statistic: float[] -> float) (data: float[]) : BootstrapEstimate =
        let reps = replicates seed resamples statistic data
        summarise (statistic (Array.copy data)) reps

    /// <summary>
    /// The statistic of B joint resamples of several independent samples: resample b draws each
    /// group in turn, with replacement and of its own size, from <c>Xoshiro256StarStar(seed, b)</c>
    /// (for one group, exactly the indices of <c>replicates</c>).
    /// </summary>
    /// <param name="seed">Seed; resample b uses stream b.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="statistic">The statistic of the resampled groups (fresh arrays each time).</param>
    /// <param name="groups">The samples: each at least 2 finite values.</param>
    /// <returns>θ*_1 … θ*_B in resample order (NaN where the statistic is undefined on a resample).</returns>
    [<CompiledName("GroupReplicates")>]
    let groupReplicates (seed: int64) (resamples: int) (statistic: float[][] -> float) (groups: float[][]) : float[] =
        checkResamples resamples
        Validation.minLength (nameof groups) 1 "groups" groups
        groups |> Array.iteri (fun i g ->
            Validation.minLength $"{nameof groups}[{i}]" 2 "values (a bootstrap needs n ≥ 2)" g
            Validation.allFinite $"{nameof groups}[{i}]" g)
        let rng = Xoshiro256StarStar(seed, 0L)
        Array.init resamples (fun b ->
            rng.Reset(seed, int64 b)
            statistic (groups |> Array.map (fun g -> Array.init g.Length (fun _ -> g.[rng.NextInt g.Length]))))

    /// numpy.percentile(a, q) for q in percent (scipy passes α·100): numpy divides by 100 first, and
    /// so does this, so the interpolation point is numpy's to the last bit.
    let private percentileOfSorted (sorted: float[]) (qPercent: float) = Quantile.ofSorted (qPercent / 100.0) sorted

    let private checkReplicates (name: string) (reps: float[]) =
        Validation.minLength name 2 "replicates" reps
        Validation.allFinite name reps

    /// <summary>
    /// The percentile interval from given replicates (scipy <c>bootstrap(method="percentile")</c>).
    /// </summary>
    /// <param name="level">Confidence level, 0 &lt; level &lt; 1 (e.g. 0.95).</param>
    /// <param name="replicates">The bootstrap replicates θ*: at least 2 finite values.</param>
    /// <returns>The interval between the (1 − level)/2 and (1 + level)/2 quantiles.</returns>
    [<CompiledName("PercentileInterval")>]
    let percentileInterval (level: float) (replicates: float[]) : ConfidenceInterval =
        Validation.openUnitInterval (nameof level) level
        checkReplicates (nameof replicates) replicates
        let sorted = Array.sort replicates
        let alpha = (1.0 - level) / 2.0
        { Lower = percentileOfSorted sorted (alpha * 100.0)
          Upper = percentileOfSorted sorted ((1.0 - alpha) * 100.0)
          Level = level
          Method = Percentile
          Quantiles = (alpha, 1.0 - alpha) }

    /// <summary>
    /// A statistic of several independent samples with its percentile bootstrap interval (B joint
    /// resamples, <c>groupReplicates</c>). Non-finite values in a group are left out first.
    /// </summary>
    /// <param name="seed">Seed of the resamples.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="level">Confidence level, 0 &lt; level &lt; 1.</param>
    /// <param name="statistic">The statistic of the groups.</param>
    /// <param name="groups">The samples.</param>
    /// <returns>(θ̂, lower, upper); all NaN when a group has fewer than 3 finite values or the statistic
    /// is undefined on the data; the interval over the finite replicates otherwise.</returns>
    [<CompiledName("GroupInterval")>]
    let groupInterval (seed: int64) (resamples: int) (level: float) (statistic: float[][] -> float) (groups: float[][]) : float * float * float =
        Validation.openUnitInterval (nameof level) level
        let gs = groups |> Array.map (Array.filter Double.IsFinite)
        if gs |> Array.exists (fun g -> g.Length < 3) then nan, nan, nan
        else
            let estimate = statistic gs
            let reps = groupReplicates seed resamples statistic gs |> Array.filter Double.IsFinite
            if not (Double.IsFinite estimate) || reps.Length < 2 then nan, nan, nan
            else
                let ci = percentileInterval level reps
                estimate, ci.Lower, ci.Upper

    /// <summary>
    /// The BCa interval from given replicates, with the jackknife acceleration computed from the data
    /// (scipy <c>bootstrap(method="BCa")</c>). Returns an error, not NaN, where BCa is undefined.
    /// </summary>
    /// <param name="level">Confidence level, 0 &lt; level &lt; 1.</param>
    /// <param name="statistic">The statistic that produced the replicates (called on the data and its n leave-one-out samples).</param>
    /// <param name="data">The original sample: at least 2 finite values.</param>
    /// <param name="replicates">The bootstrap replicates θ* of the statistic on resamples of <paramref name="data"/>.</param>
    /// <returns><c>Ok</c> interval, or <c>Error</c> explaining why BCa is undefined (all replicates on
    /// one side of θ̂, so z₀ is infinite; or a statistic that no single observation moves, so the
    /// acceleration is 0/0 — scipy returns NaN in both cases).</returns>
    [<CompiledName("TryBCaInterval")>]
    let tryBcaInterval (level: float) (statistic: float[] -> float) (data: float[]) (replicates: float[])
                       : Result<ConfidenceInterval, string> =
        Validation.openUnitInterval (nameof level) level
        Validation.minLength (nameof data) 2 "values (a jackknife needs n ≥ 2)" data
        Validation.allFinite (nameof data) data
        checkReplicates (nameof replicates) replicates
        let n = data.Length
        let thetaHat = statistic (Array.copy data)
        let bCount = replicates.Length
        let mutable below = 0
        let mutable atOrBelow = 0
        for r in replicates do
            if r < thetaHat then below <- below + 1
            if r <= thetaHat then atOrBelow <- atOrBelow + 1
        let pct = float (below + atOrBelow) / float (2 * bCount)
        if pct <= 0.0 || pct >= 1.0 then
            Error $"BCa is undefined: all {bCount} replicates lie on one side of the estimate {Validation.formatValue thetaHat} (bias correction z0 is infinite); use the percentile interval or more resamples"
        else
            let z0 = Normal.InvCDF(0.0, 1.0, pct)
            // jackknife: leave each observation out once
            let jack = Array.zeroCreate<float> n
            let buffer = Array.zeroCreate<float> (n - 1)
            for i in 0 .. n - 1 do
                let mutable w = 0
                for j in 0 .. n - 1 do
                    if j <> i then
                        buffer.[w] <- data.[j]
                        w <- w + 1
                jack.[i] <- statistic buffer
            let jackMean = Array.sum jack / float n
            let fn = float n
            let mutable num = 0.0
            let mutable den = 0.0
            for i in 0 .. n - 1 do
                let u = (fn - 1.0) * (jackMean - jack.[i])
                num <- num + u * u * u
                den <- den + u * u
            let num = num / (fn * fn * fn)
            let den = den / (fn * fn)
            if not (den > 0.0) || Array.exists Double.IsNaN jack then
                Error "BCa is undefined: the jackknife values of the statistic are all equal (or not numbers), so the acceleration is 0/0; use the percentile interval"
            else
                let a = 1.0 / 6.0 * num / Math.Pow(den, 1.5)
                let alpha = (1.0 - level) / 2.0
                let zAlpha = Normal.InvCDF(0.0, 1.0, alpha)
                let adjust (z: float) =
                    let num1 = z0 + z
                    Normal.CDF(0.0, 1.0, z0 + num1 / (1.0 - a * num1))
                let a1 = adjust zAlpha
                let a2 = adjust (-zAlpha)
                let sorted = Array.sort replicates
                Ok { Lower = percentileOfSorted sorted (a1 * 100.0)
                     Upper = percentileOfSorted sorted (a2 * 100.0)
                     Level = level
                     Method = BCa
                     Quantiles = (a1, a2) }

    /// <summary>
    /// A bootstrap confidence interval of a statistic: draws the replicates (see <c>replicates</c>),
    /// then forms the percentile or BCa interval. scipy's defaults are BCa, level 0.95, B = 9999.
    /// </summary>
    /// <param name="method">Percentile or BCa.</param>
    /// <param name="level">Confidence level, 0 &lt; level &lt; 1.</param>
    /// <param name="seed">Seed of the resampling.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="statistic">The statistic (see <c>replicates</c> for the buffer contract).</param>
    /// <param name="data">The sample: at least 2 finite values.</param>
    /// <returns><c>Ok</c> interval, or <c>Error</c> where BCa is undefined (see <c>tryBcaInterval</c>).</returns>
    [<CompiledName("TryConfidenceInterval")>]
    let tryConfidenceInterval (method: IntervalMethod) (level: float) (seed: int64) (resamples: int)
                              (statistic: float[] -> float) (data: float[]) : Result<ConfidenceInterval, string> =
        Validation.openUnitInterval (nameof level) level
        let reps = replicates seed resamples statistic data
        match method with
        | Percentile -> Ok (percentileInterval level reps)
        | BCa -> tryBcaInterval level statistic data reps

    // ---- prefix curves ------------------------------------------------------------------------

    /// Adds ψ_{i+1} = √(c_i / s) of one resample to the deviation sums at i, or counts it unbounded (s = 0).
    let inline private addPsi (c: float[]) (reference: float[]) (s1: float[]) (s2: float[]) (inf: int[]) (i: int) (s: float) =
        if s > 0.0 then
            let d = sqrt (c.[i] / s) - reference.[i]
            s1.[i] <- s1.[i] + d
            s2.[i] <- s2.[i] + d * d
        else inf.[i] <- inf.[i] + 1

    /// Accumulates resamples [b0, b1) into s1/s2/inf for the ψ kernel.
    let private psiBlock (seed: int64) (beta: float) (c: float[]) (g2: float[]) (reference: float[])
                         (b0: int) (b1: int) (rng: Xoshiro256StarStar)
                         (s1: float[]) (s2: float[]) (inf: int[]) =
        let t = g2.Length
        for b in b0 .. b1 - 1 do
            rng.Reset(seed, int64 b)
            let mutable s = 0.0
            for i in 0 .. t - 1 do
                s <- beta * s + g2.[rng.NextInt t]
                addPsi c reference s1 s2 inf i s

    let inline private rotl (v: Vector256<uint64>) (k: int) =
        Vector256.BitwiseOr(Vector256.ShiftLeft(v, k), Vector256.ShiftRightLogical(v, 64 - k))

    /// The rare branch of Lemire's method for one lane of the four-lane kernel: if the lane's low
    /// product fell below the threshold, draw again from that lane's stream, exactly as NextInt
    /// does. Inlined with a constant lane and no calls, so the hot loop keeps its vectors in registers.
    let inline private redrawLane (lane: int) (m: Vector256<uint64>) (t: int) (threshold: uint32)
                                  (v0: Vector256<uint64>) (v1: Vector256<uint64>) (v2: Vector256<uint64>)
                                  (v3: Vector256<uint64>) (idx: Vector256<uint64>) =
        let mutable low = uint32 (m.GetElement lane)
        if low >= threshold then struct (v0, v1, v2, v3, idx)
        else
            let mutable w0 = v0.GetElement lane
            let mutable w1 = v1.GetElement lane
            let mutable w2 = v2.GetElement lane
            let mutable w3 = v3.GetElement lane
            let mutable mm = 0UL
            while low < threshold do
                let result = Xoshiro256StarStar.Step(&w0, &w1, &w2, &w3)
                mm <- (result >>> 32) * uint64 t
                low <- uint32 mm
            struct (v0.WithElement(lane, w0), v1.WithElement(lane, w1), v2.WithElement(lane, w2),
                    v3.WithElement(lane, w3), idx.WithElement(lane, mm >>> 32))

    /// The states of the streams (seed, b) … (seed, b + 3) in the lanes of four vectors: word j of
    /// stream b + l in lane l of the j-th vector.
    let inline private seedFour (seed: int64) (b: int) =
        let struct (a0, a1, a2, a3) = Xoshiro256StarStar.SeedState(seed, int64 b)
        let struct (e0, e1, e2, e3) = Xoshiro256StarStar.SeedState(seed, int64 (b + 1))
        let struct (f0, f1, f2, f3) = Xoshiro256StarStar.SeedState(seed, int64 (b + 2))
        let struct (h0, h1, h2, h3) = Xoshiro256StarStar.SeedState(seed, int64 (b + 3))
        struct (Vector256.Create(a0, e0, f0, h0), Vector256.Create(a1, e1, f1, h1),
                Vector256.Create(a2, e2, f2, h2), Vector256.Create(a3, e3, f3, h3))

    /// The next draw of four xoshiro256** streams (the lanes of v0…v3): in each lane exactly the index
    /// Xoshiro256StarStar.NextInt bound would give (Lemire's method with its threshold; the rare
    /// redraw lane by lane), and g² at those four indices (one gather). Inlined into the kernels, so
    /// that the state stays in registers.
    let inline private drawFour (v0: byref<Vector256<uint64>>) (v1: byref<Vector256<uint64>>)
                                (v2: byref<Vector256<uint64>>) (v3: byref<Vector256<uint64>>)
                                (bound: int) (boundV: Vector256<uint64>) (threshold: uint32)
                                (g2Ptr: nativeptr<float>) (g2: float[]) : Vector256<float> =
        // xoshiro256** in four lanes: rotl(s1·5, 7)·9 with the products as shifts and adds
        let r = rotl (Vector256.ShiftLeft(v1, 2) + v1) 7
        let r = Vector256.ShiftLeft(r, 3) + r
        let tt = Vector256.ShiftLeft(v1, 17)
        v2 <- Vector256.Xor(v2, v0)
        v3 <- Vector256.Xor(v3, v1)
        v1 <- Vector256.Xor(v1, v2)
        v0 <- Vector256.Xor(v0, v3)
        v2 <- Vector256.Xor(v2, tt)
        v3 <- rotl v3 45
        // Lemire: m = (r >> 32)·bound; index = m >> 32, rejected (rarely, p < bound/2^32) if low < threshold
        let m = Vector256.ShiftRightLogical(r, 32) * boundV
        let mutable idx = Vector256.ShiftRightLogical(m, 32)
        if Vector256.LessThanAny(Vector256.BitwiseAnd(m, Vector256.Create 0xFFFFFFFFUL), boundV) then
            let struct (a0, a1, a2, a3, ai) = redrawLane 0 m bound threshold v0 v1 v2 v3 idx
            let struct (b0, b1, b2, b3, bi) = redrawLane 1 m bound threshold a0 a1 a2 a3 ai
            let struct (c0, c1, c2, c3, ci) = redrawLane 2 m bound threshold b0 b1 b2 b3 bi
            let struct (d0, d1, d2, d3, di) = redrawLane 3 m bound threshold c0 c1 c2 c3 ci
            v0 <- d0
            v1 <- d1
            v2 <- d2
            v3 <- d3
            idx <- di
        // the indices are < bound ≤ g2.Length, so the gather stays inside the pinned array
        if X86.Avx2.IsSupported then X86.Avx2.GatherVector256(g2Ptr, idx.AsInt64(), 8uy)
        else
            Vector256.Create(g2.[int (idx.GetElement 0)], g2.[int (idx.GetElement 1)],
                             g2.[int (idx.GetElement 2)], g2.[int (idx.GetElement 3)])

    /// Adds four resamples' deviations d at i to the sums in lane (resample) order, as addPsi adds
    /// them one resample after another; a lane whose S is 0 (a resampled prefix of zeros) is counted
    /// unbounded instead.
    let inline private addFourInOrder (s1: float[]) (s2: float[]) (inf: int[]) (i: int) (sv: Vector256<float>) (d: Vector256<float>) =
        if Vector256.GreaterThanAll(sv, Vector256<float>.Zero) then
            let dd = d * d
            s1.[i] <- (((s1.[i] + d.GetElement 0) + d.GetElement 1) + d.GetElement 2) + d.GetElement 3
            s2.[i] <- (((s2.[i] + dd.GetElement 0) + dd.GetElement 1) + dd.GetElement 2) + dd.GetElement 3
        else
            for l in 0 .. 3 do
                if sv.GetElement l > 0.0 then
                    let dl = d.GetElement l
                    s1.[i] <- s1.[i] + dl
                    s2.[i] <- s2.[i] + dl * dl
                else inf.[i] <- inf.[i] + 1

    /// The ψ kernel four resamples at a time: four xoshiro256** streams in the lanes of Vector256
    /// (producing exactly the indices of Xoshiro256StarStar(seed, b).NextInt), one gather, and
    /// S, ψ and the deviation sums lane-wise. Lane l of a group accumulates resamples b0 + 4g + l;
    /// lanes are added in order at the end of the block, then the (B mod 4) leftover resamples by
    /// the scalar kernel. With <c>inOrder</c> (a series with exact zeros, where a resampled prefix
    /// can be all zeros and ψ unbounded) each lane's deviation is instead added to the sums, or
    /// counted unbounded, resample by resample as the scalar kernel does (addPsi): the same draws and
    /// the same sums, bit for bit, as the scalar kernel; without it every g² must be > 0.
    /// (Inlined into the two kernels below with a constant <c>inOrder</c>, so that neither carries the other's branch.)
    let inline private psiBlockSimdWith (inOrder: bool) (seed: int64) (beta: float) (c: float[]) (g2: float[]) (reference: float[])
                             (b0: int) (b1: int) (rng: Xoshiro256StarStar)
                             (s1: float[]) (s2: float[]) (inf: int[]) =
        let t = g2.Length
        let acc1 = Array.zeroCreate<Vector256<float>> t
        let acc2 = Array.zeroCreate<Vector256<float>> t
        let groups = (b1 - b0) / 4
        let tv = Vector256.Create(uint64 t)
        let threshold = (0u - uint32 t) % uint32 t
        let betaV = Vector256.Create beta
        use g2Ptr = fixed g2
        for grp in 0 .. groups - 1 do
            let b = b0 + 4 * grp
            let struct (w0, w1, w2, w3) = seedFour seed b
            let mutable v0 = w0
            let mutable v1 = w1
            let mutable v2 = w2
            let mutable v3 = w3
            let mutable sv = Vector256<float>.Zero
            for i in 0 .. t - 1 do
                sv <- betaV * sv + drawFour &v0 &v1 &v2 &v3 t tv threshold g2Ptr g2
                let d = Vector256.Sqrt(Vector256.Create c.[i] / sv) - Vector256.Create reference.[i]
                if inOrder then addFourInOrder s1 s2 inf i sv d
                else
                    acc1.[i] <- acc1.[i] + d
                    acc2.[i] <- acc2.[i] + d * d
        if not inOrder then
            for i in 0 .. t - 1 do
                let a = acc1.[i]
                let q = acc2.[i]
                s1.[i] <- s1.[i] + (((a.GetElement 0 + a.GetElement 1) + a.GetElement 2) + a.GetElement 3)
                s2.[i] <- s2.[i] + (((q.GetElement 0 + q.GetElement 1) + q.GetElement 2) + q.GetElement 3)
        if b0 + 4 * groups < b1 then
            psiBlock seed beta c g2 reference (b0 + 4 * groups) b1 rng s1 s2 inf

    /// The SIMD ψ kernel summing lane-wise (every g² > 0).
    let private psiBlockSimdLanes seed beta c g2 reference b0 b1 rng s1 s2 inf =
        psiBlockSimdWith false seed beta c g2 reference b0 b1 rng s1 s2 inf

    /// The SIMD ψ kernel summing in resample order (a series with exact zeros).
    let private psiBlockSimdInOrder seed beta c g2 reference b0 b1 rng s1 s2 inf =
        psiBlockSimdWith true seed beta c g2 reference b0 b1 rng s1 s2 inf

    /// Accumulates resamples [b0, b1) for a general prefix statistic.
    let private genericBlock (seed: int64) (stat: IPrefixStatistic) (g: float[]) (reference: float[])
                             (b0: int) (b1: int) (rng: Xoshiro256StarStar)
                             (s1: float[]) (s2: float[]) (inf: int[]) =
        let t = g.Length
        for b in b0 .. b1 - 1 do
            rng.Reset(seed, int64 b)
            stat.Reset()
            for i in 0 .. t - 1 do
                let v = stat.Push g.[rng.NextInt t]
                if Double.IsInfinity v then inf.[i] <- inf.[i] + 1
                elif Double.IsNaN v then
                    invalidOp $"the prefix statistic returned NaN at t = {i + 1} on resample {b}; it must be defined on every prefix"
                else
                    let d = v - reference.[i]
                    s1.[i] <- s1.[i] + d
                    s2.[i] <- s2.[i] + d * d

    /// The sums of one block of resamples.
    [<Sealed; AllowNullLiteral>]
    type private BlockSums(t: int) =
        member val S1 = Array.zeroCreate<float> t
        member val S2 = Array.zeroCreate<float> t
        member val Inf = Array.zeroCreate<int> t

    /// Runs the blocks and combines them in block order.
    let private runCurve (parallelBlocks: bool) (resamples: int) (t: int) (reference: float[])
                         (makeWorker: unit -> (int -> int -> Xoshiro256StarStar -> float[] -> float[] -> int[] -> unit)) =
        let blocks = (resamples + blockSize - 1) / blockSize
        let compute (blk: int) =
            let sums = BlockSums t
            let b0 = blk * blockSize
            let b1 = min resamples (b0 + blockSize)
            (makeWorker ()) b0 b1 (Xoshiro256StarStar(0L, 0L)) sums.S1 sums.S2 sums.Inf
            sums
        let parts = Work.run parallelBlocks blocks compute
        let s1 = Array.zeroCreate<float> t
        let s2 = Array.zeroCreate<float> t
        let inf = Array.zeroCreate<int> t
        for blk in 0 .. blocks - 1 do
            let part = parts.[blk]
            for i in 0 .. t - 1 do
                s1.[i] <- s1.[i] + part.S1.[i]
                s2.[i] <- s2.[i] + part.S2.[i]
                inf.[i] <- inf.[i] + part.Inf.[i]
        let b = float resamples
        let mean = Array.zeroCreate<float> t
        let var = Array.zeroCreate<float> t
        for i in 0 .. t - 1 do
            if inf.[i] > 0 then
                mean.[i] <- Double.PositiveInfinity
                var.[i] <- Double.PositiveInfinity
            else
                mean.[i] <- reference.[i] + s1.[i] / b
                var.[i] <- max 0.0 ((s2.[i] - s1.[i] * s1.[i] / b) / (b - 1.0))
        { Original = reference; Mean = mean; Variance = var; Unbounded = inf; Resamples = resamples }

    /// ψ of every prefix of the original series (same arithmetic as the resample kernel).
    let private psiReference (beta: float) (c: float[]) (g2: float[]) =
        let t = g2.Length
        let r = Array.zeroCreate<float> t
        let mutable s = 0.0
        for i in 0 .. t - 1 do
            s <- beta * s + g2.[i]
            r.[i] <- if s > 0.0 then sqrt (c.[i] / s) else Double.PositiveInfinity
        r

    let private psiConstants (beta2: float) (t: int) =
        let lb = log beta2
        let oneMinusBeta = 1.0 - beta2
        Array.init t (fun i -> -(Accurate.expm1 (float (i + 1) * lb)) / oneMinusBeta)

    let private checkBeta2 (beta2: float) = Validation.openUnitInterval (nameof beta2) beta2

    let private psiCurveCore (parallelBlocks: bool) (beta2: float) (seed: int64) (resamples: int) (g: float[]) =
        let t = g.Length
        let c = psiConstants beta2 t
        let g2 = g |> Array.map (fun v -> v * v)
        let reference = psiReference beta2 c g2
        // a reference of +inf (leading zeros in the original series) would poison the deviations:
        // shift by 0 there instead; the +inf prefixes are counted separately anyway
        let shift = reference |> Array.map (fun v -> if Double.IsInfinity v then 0.0 else v)
        // with every g² > 0 no resampled prefix is all zeros and the SIMD kernel sums lane-wise;
        // a series with exact zeros takes it in resample order, the scalar kernel's sums bit for bit
        let inOrder = not (g2 |> Array.forall (fun v -> v > 0.0))
        let curve =
            runCurve parallelBlocks resamples t shift (fun () ->
                if Vector256.IsHardwareAccelerated && inOrder then fun b0 b1 rng s1 s2 inf -> psiBlockSimdInOrder seed beta2 c g2 shift b0 b1 rng s1 s2 inf
                elif Vector256.IsHardwareAccelerated then fun b0 b1 rng s1 s2 inf -> psiBlockSimdLanes seed beta2 c g2 shift b0 b1 rng s1 s2 inf
                else fun b0 b1 rng s1 s2 inf -> psiBlock seed beta2 c g2 shift b0 b1 rng s1 s2 inf)
        { curve with Original = reference }

    /// Resamples [b0, b1) of the per-t scheme (<c>FirstT</c>): resample b draws, for t = 1..T in turn,
    /// t fresh indices from [0, t) from the stream (seed, b); O(T²/2) per resample.
    let private firstTBlock (seed: int64) (beta: float) (c: float[]) (g2: float[]) (reference: float[])
                            (b0: int) (b1: int) (rng: Xoshiro256StarStar)
                            (s1: float[]) (s2: float[]) (inf: int[]) =
        for b in b0 .. b1 - 1 do
            rng.Reset(seed, int64 b)
            for n in 1 .. g2.Length do
                let mutable s = 0.0
                for _ in 1 .. n do s <- beta * s + g2.[rng.NextInt n]
                addPsi c reference s1 s2 inf (n - 1) s

    /// The per-t kernel four resamples at a time, as <c>psiBlockSimdWith</c>: four xoshiro256** streams
    /// in the lanes of Vector256 (exactly the indices of Xoshiro256StarStar(seed, b).NextInt t for
    /// t = 1..T in turn, Lemire's threshold for each t), one gather per draw, and each lane's deviation
    /// added to the sums, or counted unbounded, resample by resample as <c>firstTBlock</c> does: the
    /// same draws and the same sums, bit for bit. The (B mod 4) leftover resamples by <c>firstTBlock</c>.
    let private firstTBlockSimd (seed: int64) (beta: float) (c: float[]) (g2: float[]) (reference: float[])
                                (b0: int) (b1: int) (rng: Xoshiro256StarStar)
                                (s1: float[]) (s2: float[]) (inf: int[]) =
        let t = g2.Length
        let groups = (b1 - b0) / 4
        let betaV = Vector256.Create beta
        use g2Ptr = fixed g2
        for grp in 0 .. groups - 1 do
            let b = b0 + 4 * grp
            let struct (w0, w1, w2, w3) = seedFour seed b
            let mutable v0 = w0
            let mutable v1 = w1
            let mutable v2 = w2
            let mutable v3 = w3
            for n in 1 .. t do
                let nv = Vector256.Create(uint64 n)
                let threshold = (0u - uint32 n) % uint32 n
                let mutable sv = Vector256<float>.Zero
                for _ in 1 .. n do
                    sv <- betaV * sv + drawFour &v0 &v1 &v2 &v3 n nv threshold g2Ptr g2
                let i = n - 1
                let d = Vector256.Sqrt(Vector256.Create c.[i] / sv) - Vector256.Create reference.[i]
                addFourInOrder s1 s2 inf i sv d
        if b0 + 4 * groups < b1 then
            firstTBlock seed beta c g2 reference (b0 + 4 * groups) b1 rng s1 s2 inf

    /// The block worker of the per-t scheme: the four-lane kernel where Vector256 is accelerated.
    let private firstTKernel (seed: int64) (beta: float) (c: float[]) (g2: float[]) (reference: float[]) =
        if Vector256.IsHardwareAccelerated then
            fun b0 b1 rng s1 s2 inf -> firstTBlockSimd seed beta c g2 reference b0 b1 rng s1 s2 inf
        else fun b0 b1 rng s1 s2 inf -> firstTBlock seed beta c g2 reference b0 b1 rng s1 s2 inf

    let private psiCurveFirstTCore (parallelBlocks: bool) (beta2: float) (seed: int64) (resamples: int) (g: float[]) =
        let c = psiConstants beta2 g.Length
        let g2 = g |> Array.map (fun v -> v * v)
        let reference = psiReference beta2 c g2
        let shift = reference |> Array.map (fun v -> if Double.IsInfinity v then 0.0 else v)
        let curve = runCurve parallelBlocks resamples g.Length shift (fun () -> firstTKernel seed beta2 c g2 shift)
        { curve with Original = reference }

    let private curveCore (scheme: PsiResampling) =
        match scheme with
        | WholeSeries -> psiCurveCore
        | FirstT -> psiCurveFirstTCore

    let private checkSeries (name: string) (g: float[]) =
        Validation.minLength name 1 "gradient values" g
        Validation.allFinite name g

    /// Checks a batch of series (naming the series and index of a bad value), then runs one curve per
    /// series in parallel, each with sequential blocks.
    let private checkedBatch (core: bool -> float -> int64 -> int -> float[] -> PrefixCurve) (beta2: float) (seed: int64) (resamples: int)
                             (series: float[][]) : PrefixCurve[] =
        checkBeta2 beta2
        checkResamples resamples
        Validation.minLength (nameof series) 1 "series" series
        series |> Array.iteri (fun i g ->
            if isNull g then invalidArg (nameof series) $"expected an array at index {i}, got null"
            if g.Length = 0 then invalidArg (nameof series) $"expected a non-empty series at index {i}, got an empty array"
            for j in 0 .. g.Length - 1 do
                if Double.IsNaN g.[j] || Double.IsInfinity g.[j] then
                    invalidArg (nameof series) $"expected finite values, got {Validation.formatValue g.[j]} in series {i} at index {j}")
        let out = Array.zeroCreate<PrefixCurve> series.Length
        Parallel.For(0, series.Length, fun i -> out.[i] <- core false beta2 seed resamples series.[i]) |> ignore
        out

    /// <summary>
    /// The bootstrap curve of Adam's adaptive learning rate ψ_t (β₂ as given) over every prefix
    /// t = 1..T of a gradient series, resampling t gradients from the whole series (<c>WholeSeries</c>:
    /// Var[ψ_t] for independent draws from the window's gradients), in O(B·T) without per-resample arrays.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1 (PyTorch's default 0.999).</param>
    /// <param name="seed">Seed; resample b uses stream b.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="g">The gradient series g₁..g_T of one weight: at least one finite value.</param>
    /// <returns>ψ_t of the original series and the bootstrap mean and variance of ψ_t for each t.</returns>
    /// <remarks>ψ_t = √((1 − β₂^t) / ((1 − β₂) Σᵢ β₂^(t−i) g*ᵢ²)) on the resampled series g*
    /// (see <c>AdaptiveLR.psi</c>); the sum is updated in O(1) per t. A resampled prefix of exact
    /// zeros makes ψ unbounded: it is counted in <c>Unbounded</c> and the mean and variance at that t
    /// are +∞.</remarks>
    [<CompiledName("PsiCurve")>]
    let psiCurve (beta2: float) (seed: int64) (resamples: int) (g: float[]) : PrefixCurve =
        checkBeta2 beta2
        checkResamples resamples
        checkSeries (nameof g) g
        psiCurveCore true beta2 seed resamples g

    /// <summary>
    /// <c>psiCurve</c> for many weights at once (e.g. the hundreds of weights of a trace): series in
    /// parallel, each with the same seed, so every curve equals <c>psiCurve beta2 seed resamples g</c>.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="seed">Seed shared by all series (each series' resample b uses stream b).</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="series">One gradient series per weight; lengths may differ.</param>
    /// <returns>One curve per series, in input order.</returns>
    [<CompiledName("PsiCurves")>]
    let psiCurves (beta2: float) (seed: int64) (resamples: int) (series: float[][]) : PrefixCurve[] =
        checkedBatch psiCurveCore beta2 seed resamples series

    /// <summary>
    /// The notebook's bootstrap curve of ψ_t (<c>FirstT</c>): for each t = 1..T afresh, B resamples of
    /// t gradients drawn with replacement from the first t, g₁..g_t — the sampling variability of ψ_t
    /// computed from the gradients seen up to t. O(B·T²/2).
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="seed">Seed; resample b (its draws for every t, in order) uses stream b.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="g">The gradient series g₁..g_T of one weight: at least one finite value.</param>
    /// <returns>ψ_t of the original series and the bootstrap mean and variance of ψ_t for each t
    /// (variance 0 at t = 1: one value); +∞ and a count in <c>Unbounded</c> where a resample is all zeros.</returns>
    [<CompiledName("PsiCurveFirstT")>]
    let psiCurveFirstT (beta2: float) (seed: int64) (resamples: int) (g: float[]) : PrefixCurve =
        checkBeta2 beta2
        checkResamples resamples
        checkSeries (nameof g) g
        psiCurveFirstTCore true beta2 seed resamples g

    /// <summary>
    /// The curves of either scheme for many weights at once: series in parallel, each with the same
    /// seed, so every curve equals the single-series function's (<c>psiCurve</c> or <c>psiCurveFirstT</c>).
    /// </summary>
    /// <param name="scheme">What is resampled (<c>WholeSeries</c> or <c>FirstT</c>).</param>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="seed">Seed shared by all series.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="series">One gradient series per weight; lengths may differ.</param>
    /// <returns>One curve per series, in input order.</returns>
    [<CompiledName("PsiCurvesWith")>]
    let psiCurvesWith (scheme: PsiResampling) (beta2: float) (seed: int64) (resamples: int) (series: float[][]) : PrefixCurve[] =
        checkedBatch (curveCore scheme) beta2 seed resamples series

    /// <summary>
    /// <c>psiCurves</c> for the columns of a row-major float32 matrix — a trace of shape
    /// [iterations, weights]: column j is the gradient series of weight j.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="seed">Seed shared by all columns.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="columns">Number of weights (columns) ≥ 1; <c>data.Length</c> must be a multiple of it.</param>
    /// <param name="data">Row-major values: (iteration r, weight c) at <c>data[r * columns + c]</c>.</param>
    /// <returns>One curve per column.</returns>
    [<CompiledName("PsiCurvesOfColumns")>]
    let psiCurvesOfColumns32 (beta2: float) (seed: int64) (resamples: int) (columns: int) (data: float32[]) : PrefixCurve[] =
        Validation.notNull (nameof data) data
        Validation.atLeast (nameof columns) 1 columns
        if data.Length = 0 || data.Length % columns <> 0 then
            invalidArg (nameof data) $"expected a non-empty length that is a multiple of columns = {columns}, got {data.Length}"
        Validation.allFinite32 (nameof data) data
        let rows = data.Length / columns
        let series = Array.init columns (fun c -> Array.init rows (fun r -> float data.[r * columns + c]))
        psiCurves beta2 seed resamples series

    /// <summary>
    /// The bootstrap curve of any prefix statistic (see <see cref="T:Research.Analysis.IPrefixStatistic"/>):
    /// resample the series, push the resampled values one by one, and collect the mean and variance of
    /// the statistic at every prefix length.
    /// </summary>
    /// <param name="create">Makes a fresh statistic; called once per worker thread.</param>
    /// <param name="seed">Seed; resample b uses stream b.</param>
    /// <param name="resamples">Number of resamples B ≥ 2.</param>
    /// <param name="series">The series g₁..g_T: at least one finite value.</param>
    /// <returns>The statistic of the original prefixes and its bootstrap mean and variance for each t.</returns>
    [<CompiledName("PrefixCurve")>]
    let prefixCurve (create: unit -> IPrefixStatistic) (seed: int64) (resamples: int) (series: float[]) : PrefixCurve =
        checkResamples resamples
        checkSeries (nameof series) series
        let t = series.Length
        let first = create ()
        first.Reset()
        let reference = series |> Array.map first.Push
        let shift = reference |> Array.map (fun v -> if Double.IsInfinity v || Double.IsNaN v then 0.0 else v)
        let curve =
            runCurve true resamples t shift (fun () ->
                let stat = create ()
                fun b0 b1 rng s1 s2 inf -> genericBlock seed stat series shift b0 b1 rng s1 s2 inf)
        { curve with Original = reference }
