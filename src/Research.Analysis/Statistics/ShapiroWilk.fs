namespace Research.Analysis

open System
open System.Collections.Generic
open System.Threading.Tasks
open MathNet.Numerics
open MathNet.Numerics.Distributions
open System.Runtime.Intrinsics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices

/// <summary>The outcome of one Shapiro–Wilk test.</summary>
type ShapiroWilkResult =
    { /// The Shapiro–Wilk statistic W, in (0, 1]; values near 1 are consistent with normality.
      W: float
      /// The p-value of W under the null hypothesis of normality (Royston 1995), in [0, 1].
      PValue: float
      /// The sample size n.
      N: int
      /// <c>Some message</c> when the p-value is outside the range Royston validated (n &gt; 5000);
      /// W itself is still exact.
      Warning: string option }

/// <summary>Why a sample could not be tested (the typed twin of the exceptions raised by
/// <c>ShapiroWilk.test</c>).</summary>
type ShapiroWilkError =
    /// Fewer than three observations: W is undefined. Carries the sample size.
    | TooFewValues of n: int
    /// A NaN or infinite observation, at the given index.
    | NonFiniteValue of index: int * value: float
    /// All observations are equal (zero range): W is undefined. Carries the common value.
    | ZeroRange of value: float

    /// <summary>A sentence describing the problem and how to fix it.</summary>
    member e.Message =
        match e with
        | TooFewValues n -> $"expected at least 3 observations (Shapiro–Wilk needs n ≥ 3), got {n}"
        | NonFiniteValue (i, v) ->
            $"expected finite values, got {Validation.formatValue v} at index {i}; remove or impute missing values before the call"
        | ZeroRange v ->
            $"expected a sample with non-zero range, got all values equal to {Validation.formatValue v}; W is undefined for a constant sample (R: \"all 'x' values are identical\")"

/// <summary>
/// The Shapiro–Wilk test of normality, by Royston's algorithm AS R94.
/// </summary>
/// <remarks>
/// <para>Source: P. Royston (1995), "Remark AS R94: A remark on Algorithm AS 181: The W-test for
/// normality", <i>Applied Statistics</i> 44(4), 547–551; ported from R's
/// <c>src/library/stats/src/swilk.c</c> (R 4.2.2), which runs it in double precision with exact
/// normal quantiles. The coefficients use <c>Normal.InvCDF</c> from MathNet.Numerics and the
/// upper tail of the p-value uses <c>erfc</c>, the complementary form R's
/// <c>pnorm(..., lower.tail = FALSE)</c> also uses, so tiny p-values keep their precision.</para>
/// <para>Verified against <c>../shared/reference/shapiro.json</c> on all 30 samples (n = 3 … 5000):
/// R 4.2.2 <c>shapiro.test</c> to 1e-13 on W and 1e-11 on p (tested; the largest differences
/// observed are 7e-16 on W and 9e-13 on p), and scipy 1.10.1 <c>stats.shapiro</c> loosely (W within
/// 2e-5; p within 1e-5 for n ≤ 100 and 1e-2 beyond), because scipy runs the same Fortran routine in
/// single precision.</para>
/// <para>Conventions kept from R: the sample is sorted first; when its range is below 1e-10 it is
/// divided by the range before the computation; for n = 3 the exact p-value
/// 6/π (asin √W − asin √¾) is used and clipped at 0 (scipy 1.10 can return a negative p there, scipy
/// issue 18322); for n ≤ 11 and log(1 − W) ≥ γ(n) the p-value is 1e-99, as in R. Unlike R, samples
/// with more than 5000 values are accepted: W is computed exactly and the result carries a
/// <c>Warning</c> that the p-value approximation was validated only up to n = 5000. Where swilk.c
/// divides each value by the range, this code multiplies by the reciprocal (at most an ulp apart;
/// W is scale-invariant).</para>
/// <para>Batched forms compute the coefficients once per sample size. <c>testColumns32</c>, for the
/// trace layout [iterations, weights], sorts eight series at once in SIMD lanes with Batcher's
/// odd–even merge network (n ≤ 8,192; above that one series at a time) and forms W lane-wise with the same arithmetic as the single
/// test, so its results equal <c>test</c> on each column bit for bit; the other forms sort each
/// series with an O(n) bucket pass. All spread the series over the cores.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module ShapiroWilk =

    /// The largest n for which Royston validated the p-value approximation.
    [<Literal>]
    let MaxValidatedN = 5000

    // ---- AS R94 polynomial coefficients (as in swilk.c) -------------------------------------
    let private g = [| -2.273; 0.459 |]
    let private c1 = [| 0.0; 0.221157; -0.147981; -2.07119; 4.434685; -2.706056 |]
    let private c2 = [| 0.0; 0.042981; -0.293762; -1.752461; 5.682633; -3.582633 |]
    let private c3 = [| 0.544; -0.39978; 0.025054; -6.714e-4 |]
    let private c4 = [| 1.3822; -0.77857; 0.062767; -0.0020322 |]
    let private c5 = [| -1.5861; -0.31082; -0.083751; 0.0038915 |]
    let private c6 = [| -0.4803; -0.082676; 0.0030302 |]

    /// AS 181.2: the polynomial cc[0] + cc[1] x + … evaluated in swilk.c's order.
    let private poly (cc: float[]) (x: float) =
        let nord = cc.Length
        let mutable ret = cc.[0]
        if nord > 1 then
            let mutable p = x * cc.[nord - 1]
            for j in nord - 2 .. -1 .. 1 do
                p <- (p + cc.[j]) * x
            ret <- ret + p
        ret

    /// Per-worker scratch space for sorting.
    [<NoEquality; NoComparison>]
    type internal Scratch =
        { Values: float[]
          Work: float[]
          Counts: int[] }

    let internal scratch (capacity: int) =
        { Values = Array.zeroCreate capacity; Work = Array.zeroCreate capacity; Counts = Array.zeroCreate (capacity + 1) }

    /// Sorts values[0..n) ascending given their minimum and maximum (finite, lo < hi): a bucket
    /// pass (n equal-width buckets) followed by insertion sort, O(n) for continuous data; falls back
    /// to introsort (Array.Sort) when one bucket holds more than 24 values (strong ties or outliers).
    let internal sortFinite (sc: Scratch) (n: int) (lo: float) (hi: float) =
        let x = sc.Values
        if n <= 24 then
            for i in 1 .. n - 1 do
                let v = x.[i]
                let mutable j = i - 1
                while j >= 0 && x.[j] > v do
                    x.[j + 1] <- x.[j]
                    j <- j - 1
                x.[j + 1] <- v
        else
            let counts = sc.Counts
            let work = sc.Work
            let scale = float n / (hi - lo)
            let last = n - 1
            System.Array.Clear(counts, 0, n + 1)
            for i in 0 .. n - 1 do
                let b = min last (int ((x.[i] - lo) * scale))
                counts.[b + 1] <- counts.[b + 1] + 1
            let mutable crowded = false
            for b in 1 .. n do
                if counts.[b] > 24 then crowded <- true
                counts.[b] <- counts.[b] + counts.[b - 1]
            if crowded then System.Array.Sort(x, 0, n)
            else
                for i in 0 .. n - 1 do
                    let v = x.[i]
                    let b = min last (int ((v - lo) * scale))
                    work.[counts.[b]] <- v
                    counts.[b] <- counts.[b] + 1
                // each value is now in its bucket; order within buckets by insertion
                for i in 1 .. n - 1 do
                    let v = work.[i]
                    let mutable j = i - 1
                    while j >= 0 && work.[j] > v do
                        work.[j + 1] <- work.[j]
                        j <- j - 1
                    work.[j + 1] <- v
                System.Array.Copy(work, x, n)

    /// Everything about W that depends on n only: computed once per sample size.
    [<NoEquality; NoComparison>]
    type internal Plan =
        { N: int
          /// Full antisymmetric coefficient vector in sorted-sample order (c_i = −c_{n+1−i}).
          Coefficients: float[]
          /// Coefficients centred by their (numerically tiny) mean, as swilk.c forms them.
          Centred: float[]
          /// Sum of squares of Centred.
          Ssa: float }

    let internal plan (n: int) : Plan =
        let nn2 = n / 2
        let a = Array.zeroCreate<float> (nn2 + 1) // 1-based, as in swilk.c
        let an = float n
        if n = 3 then
            a.[1] <- 0.70710678 // swilk.c: sqrt(1/2) to 8 digits; R keeps this value
        else
            let an25 = an + 0.25
            let mutable summ2 = 0.0
            for i in 1 .. nn2 do
                a.[i] <- Normal.InvCDF(0.0, 1.0, (float i - 0.375) / an25)
                summ2 <- summ2 + a.[i] * a.[i]
            summ2 <- summ2 * 2.0
            let ssumm2 = sqrt summ2
            let rsn = 1.0 / sqrt an
            let a1 = poly c1 rsn - a.[1] / ssumm2
            let mutable i1 = 2
            let mutable fac = 0.0
            if n > 5 then
                i1 <- 3
                let a2 = -a.[2] / ssumm2 + poly c2 rsn
                fac <- sqrt ((summ2 - 2.0 * (a.[1] * a.[1]) - 2.0 * (a.[2] * a.[2]))
                             / (1.0 - 2.0 * (a1 * a1) - 2.0 * (a2 * a2)))
                a.[2] <- a2
            else
                fac <- sqrt ((summ2 - 2.0 * (a.[1] * a.[1])) / (1.0 - 2.0 * (a1 * a1)))
            a.[1] <- a1
            for i in i1 .. nn2 do
                a.[i] <- a.[i] / -fac
        // full vector in 0-based sorted order: position i pairs with j = n-1-i
        let coef = Array.zeroCreate<float> n
        for i in 0 .. n - 1 do
            let j = n - 1 - i
            if i <> j then coef.[i] <- float (sign (i - j)) * a.[1 + min i j]
        // swilk.c accumulates sa as -a[1] + the signed coefficients in order; same sum here
        let mutable sa = 0.0
        for i in 0 .. n - 1 do
            sa <- sa + coef.[i]
        sa <- sa / an
        let centred = Array.zeroCreate<float> n
        let mutable ssa = 0.0
        for i in 0 .. n - 1 do
            let asa = coef.[i] - sa
            centred.[i] <- asa
            ssa <- ssa + asa * asa
        { N = n; Coefficients = coef; Centred = centred; Ssa = ssa }

    /// <summary>
    /// The significance level of a given W for a sample of size n (AS R94's "W input negative"
    /// mode): the p-value without the data.
    /// </summary>
    /// <param name="n">The sample size, n ≥ 3.</param>
    /// <param name="w">The statistic, 0 ≤ W ≤ 1.</param>
    /// <returns>The p-value in [0, 1]; 1e-99 where swilk.c returns it (n ≤ 11, log(1 − W) ≥ γ(n)).</returns>
    [<CompiledName("PValue")>]
    let pValue (n: int) (w: float) : float =
        Validation.atLeast (nameof n) 3 n
        if not (w >= 0.0 && w <= 1.0) then
            invalidArg (nameof w) $"expected a W statistic in [0, 1], got {Validation.formatValue w}"
        let w1 = 1.0 - w
        let an = float n
        if n = 3 then
            // exact p-value; constants exactly as in swilk.c (6/pi and asin(sqrt(3/4)))
            let pi6 = 1.90985931710274
            let stqr = 1.04719755119660
            let pw = pi6 * (asin (sqrt w) - stqr)
            if pw < 0.0 then 0.0 else min pw 1.0
        else
            let y0 = log w1
            let xx = log an
            let mutable early = false
            let mutable y = y0
            let mutable m = 0.0
            let mutable s = 0.0
            if n <= 11 then
                let gamma = poly g an
                if y0 >= gamma then early <- true
                else
                    y <- -log (gamma - y0)
                    m <- poly c3 an
                    s <- exp (poly c4 an)
            else
                m <- poly c5 xx
                s <- exp (poly c6 xx)
            if early then 1e-99
            else
                // upper tail of N(m, s) at y via erfc: no cancellation for tiny p
                0.5 * SpecialFunctions.Erfc((y - m) / (s * Constants.Sqrt2))

    let private warningFor n =
        if n > MaxValidatedN then
            Some $"n = {n} exceeds {MaxValidatedN}, the largest sample size for which Royston's p-value approximation was validated: W is exact, the p-value is an extrapolation"
        else None

    /// W and p from the sums of squares and cross-products of the range-scaled, centred sample.
    let private finish (p: Plan) (ssx: float) (sax: float) : ShapiroWilkResult =
        let n = p.N
        let ssa = p.Ssa
        let ssassx = sqrt (ssa * ssx)
        // 1 - W formed without cancellation, as in swilk.c; clamp rounding below zero (W = 1)
        let w1 = max 0.0 ((ssassx - sax) * (ssassx + sax) / (ssa * ssx))
        let w = 1.0 - w1
        { W = w; PValue = pValue n w; N = n; Warning = warningFor n }

    /// W and p for a sorted, finite sample x[0..n-1] with non-zero range.
    let internal ofSorted (p: Plan) (x: float[]) : ShapiroWilkResult =
        let n = p.N
        let mutable range = x.[n - 1] - x.[0]
        if range < 1e-10 then
            // R's shapiro.test rescales x by its range first (avoids ifault = 6 in swilk)
            for i in 0 .. n - 1 do
                x.[i] <- x.[i] / range
            range <- x.[n - 1] - x.[0]
        let an = float n
        // swilk.c divides every x by the range; multiplying by its reciprocal differs by at most an
        // ulp per value (W is scale-invariant; the scaling only guards against under/overflow)
        let inv = 1.0 / range
        let mutable sx = 0.0
        for i in 0 .. n - 1 do
            sx <- sx + x.[i] * inv
        sx <- sx / an
        let centred = p.Centred
        let mutable ssx = 0.0
        let mutable sax = 0.0
        for i in 0 .. n - 1 do
            let xsx = x.[i] * inv - sx
            ssx <- ssx + xsx * xsx
            sax <- sax + centred.[i] * xsx
        finish p ssx sax

    /// After values[0..n) were filled with lo/hi tracked: the zero-range check, then the sort.
    let private finishLoad (sc: Scratch) (n: int) (lo: float) (hi: float) : ShapiroWilkError voption =
        if hi = lo then ValueSome (ZeroRange lo)
        else
            sortFinite sc n lo hi
            ValueNone

    /// Checks a sample, copying it into sc.Values (sorted). Returns the error, if any.
    let private load (x: float[]) (sc: Scratch) : ShapiroWilkError voption =
        let n = x.Length
        if n < 3 then ValueSome (TooFewValues n)
        else
            let buffer = sc.Values
            let mutable err = ValueNone
            let mutable lo = Double.PositiveInfinity
            let mutable hi = Double.NegativeInfinity
            let mutable i = 0
            while err.IsNone && i < n do
                let v = x.[i]
                if Double.IsNaN v || Double.IsInfinity v then err <- ValueSome (NonFiniteValue (i, v))
                buffer.[i] <- v
                if v < lo then lo <- v
                if v > hi then hi <- v
                i <- i + 1
            if err.IsSome then err else finishLoad sc n lo hi

    let private load32 (x: float32[]) (sc: Scratch) : ShapiroWilkError voption =
        let n = x.Length
        if n < 3 then ValueSome (TooFewValues n)
        else
            let buffer = sc.Values
            let mutable err = ValueNone
            let mutable lo = Double.PositiveInfinity
            let mutable hi = Double.NegativeInfinity
            let mutable i = 0
            while err.IsNone && i < n do
                let v = x.[i]
                if Single.IsNaN v || Single.IsInfinity v then err <- ValueSome (NonFiniteValue (i, float v))
                let d = float v
                buffer.[i] <- d
                if d < lo then lo <- d
                if d > hi then hi <- d
                i <- i + 1
            if err.IsSome then err else finishLoad sc n lo hi

    /// <summary>
    /// Tests one sample; returns a typed error instead of raising for bad data.
    /// </summary>
    /// <param name="x">The sample (any order), at least 3 finite values, not all equal.</param>
    /// <returns><c>Ok</c> with W, p and n, or <c>Error</c> saying why the sample cannot be tested.</returns>
    [<CompiledName("TryTest")>]
    let tryTest (x: float[]) : Result<ShapiroWilkResult, ShapiroWilkError> =
        Validation.notNull (nameof x) x
        let sc = scratch (max 3 x.Length)
        match load x sc with
        | ValueSome e -> Error e
        | ValueNone -> Ok (ofSorted (plan x.Length) sc.Values)

    /// <summary>
    /// The Shapiro–Wilk test of one sample: W and its p-value (R's <c>shapiro.test</c>).
    /// </summary>
    /// <param name="x">The sample (any order; not modified), at least 3 finite values, not all equal.</param>
    /// <returns>W, the p-value, n and a warning for n &gt; 5000.</returns>
    /// <exception cref="T:System.ArgumentException">Fewer than 3 values, a NaN or infinite value, or zero range.</exception>
    [<CompiledName("Test")>]
    let test (x: float[]) : ShapiroWilkResult =
        match tryTest x with
        | Ok r -> r
        | Error e -> invalidArg (nameof x) e.Message

    /// <summary>
    /// The coefficients a_i of W for sample size n, in the order of the sorted sample
    /// (antisymmetric: a_i = −a_{n+1−i}; the middle one is 0 for odd n), so that
    /// W = (Σ a_i x_(i))² / Σ (x_i − x̄)².
    /// </summary>
    /// <param name="n">The sample size, n ≥ 3.</param>
    /// <returns>A fresh array of n coefficients.</returns>
    [<CompiledName("Coefficients")>]
    let coefficients (n: int) : float[] =
        Validation.atLeast (nameof n) 3 n
        Array.copy (plan n).Coefficients

    // ---- batched forms ----------------------------------------------------------------------

    /// Runs `one` for every series index in parallel with a per-worker buffer; plans are made once
    /// per distinct length before the parallel loop.
    let private runBatch (count: int) (lengthOf: int -> int)
                         (loadInto: int -> Scratch -> ShapiroWilkError voption)
                         : Result<ShapiroWilkResult, ShapiroWilkError>[] =
        let plans = Dictionary<int, Plan>()
        let mutable maxLen = 3
        for s in 0 .. count - 1 do
            let n = lengthOf s
            if n > maxLen then maxLen <- n
            if n >= 3 && not (plans.ContainsKey n) then plans.[n] <- plan n
        let perItem = 32
        let items = (count + perItem - 1) / perItem
        use scratches = new Threading.ThreadLocal<Scratch>(fun () -> scratch maxLen)
        let compute (item: int) =
            let sc = scratches.Value
            let first = item * perItem
            Array.init (min perItem (count - first)) (fun k ->
                let s = first + k
                match loadInto s sc with
                | ValueSome e -> Error e
                | ValueNone -> Ok (ofSorted plans.[lengthOf s] sc.Values))
        Work.run true items compute |> Array.concat

    let private unwrap (name: string) (results: Result<ShapiroWilkResult, ShapiroWilkError>[]) =
        results
        |> Array.mapi (fun s r ->
            match r with
            | Ok v -> v
            | Error e -> invalidArg name $"series {s}: {e.Message}")

    /// <summary>
    /// Tests many series at once, each with its own typed outcome. Coefficients are computed once
    /// per distinct length and the series are spread over all cores.
    /// </summary>
    /// <param name="series">The series; lengths may differ.</param>
    /// <returns>One result per series, in the input order.</returns>
    [<CompiledName("TryTestMany")>]
    let tryTestMany (series: float[][]) : Result<ShapiroWilkResult, ShapiroWilkError>[] =
        Validation.notNull (nameof series) series
        series |> Array.iteri (fun i s -> if isNull s then invalidArg (nameof series) $"expected an array at index {i}, got null")
        runBatch series.Length (fun s -> series.[s].Length) (fun s buf -> load series.[s] buf)

    /// <summary>Tests many series at once (see <c>tryTestMany</c>); raises on the first bad series.</summary>
    /// <param name="series">The series; lengths may differ.</param>
    /// <returns>One result per series, in the input order.</returns>
    /// <exception cref="T:System.ArgumentException">A series is too short, has a NaN/infinite value or zero range (the message names its index).</exception>
    [<CompiledName("TestMany")>]
    let testMany (series: float[][]) : ShapiroWilkResult[] =
        tryTestMany series |> unwrap (nameof series)

    /// <summary>Single-precision twin of <c>tryTestMany</c> (trace files are float32; values are widened to double).</summary>
    /// <param name="series">The series; lengths may differ.</param>
    /// <returns>One result per series, in the input order.</returns>
    [<CompiledName("TryTestMany")>]
    let tryTestMany32 (series: float32[][]) : Result<ShapiroWilkResult, ShapiroWilkError>[] =
        Validation.notNull (nameof series) series
        series |> Array.iteri (fun i s -> if isNull s then invalidArg (nameof series) $"expected an array at index {i}, got null")
        runBatch series.Length (fun s -> series.[s].Length) (fun s buf -> load32 series.[s] buf)

    /// <summary>Single-precision twin of <c>testMany</c>.</summary>
    /// <param name="series">The series; lengths may differ.</param>
    /// <returns>One result per series, in the input order.</returns>
    /// <exception cref="T:System.ArgumentException">A series is too short, has a NaN/infinite value or zero range.</exception>
    [<CompiledName("TestMany")>]
    let testMany32 (series: float32[][]) : ShapiroWilkResult[] =
        tryTestMany32 series |> unwrap (nameof series)

    let private loadColumn (data: float32[]) (columns: int) (rows: int) (c: int) (sc: Scratch) =
        let buffer = sc.Values
        let mutable err = ValueNone
        let mutable lo = Double.PositiveInfinity
        let mutable hi = Double.NegativeInfinity
        let mutable r = 0
        while err.IsNone && r < rows do
            let v = data.[r * columns + c]
            if Single.IsNaN v || Single.IsInfinity v then err <- ValueSome (NonFiniteValue (r, float v))
            let d = float v
            buffer.[r] <- d
            if d < lo then lo <- d
            if d > hi then hi <- d
            r <- r + 1
        if err.IsSome then err else finishLoad sc rows lo hi

    /// Batcher's odd–even merge sort network (Knuth, TAOCP vol. 3, §5.3.4) for n inputs: the
    /// network for the next power of two, keeping the comparators whose both indices are < n
    /// (the others only touch +∞ padding). Returns (low index, high index) per comparator.
    let internal sortingNetwork (n: int) : int[] * int[] =
        let mutable nn = 1
        while nn < n do nn <- nn * 2
        let lo = ResizeArray<int>()
        let hi = ResizeArray<int>()
        let mutable p = 1
        while p < nn do
            let mutable k = p
            while k >= 1 do
                let mutable j = k % p
                while j <= nn - 1 - k do
                    for i in 0 .. min (k - 1) (nn - j - k - 1) do
                        if (i + j) / (2 * p) = (i + j + k) / (2 * p) && i + j + k < n then
                            lo.Add(i + j)
                            hi.Add(i + j + k)
                    j <- j + 2 * k
                k <- k / 2
            p <- p * 2
        lo.ToArray(), hi.ToArray()

    /// Columns per SIMD block (one Vector256<float32>).
    let private lanes = 8

    /// The SIMD path is used for column blocks of series up to this length. A network costs
    /// O(n log² n) compare-exchanges, each on 8 series at once, against O(n log n) scalar
    /// comparisons (or O(n) bucket steps) per series for the scalar path, and it never branches on
    /// the data: measured faster at n = 100, 1,000 and 5,000 (bench/Research.Benchmarks, "Shapiro–Wilk
    /// by n"). Up to 8,192 its block (n vectors of 32 bytes, 256 KB) stays in a core's L2 cache.
    let private maxNetworkLength = 8192

    /// Tests the 8 columns c0..c0+7 of a row-major float32 matrix at once: loads 8 columns a row at
    /// a time, sorts all 8 with the network in SIMD lanes (exact: sorting float32 values equals
    /// sorting their double widenings), then forms swilk.c's sums lane-wise in double with the same
    /// operations, in the same order, as the scalar path. Lanes with a NaN/infinite value or a range
    /// below 1e-10 (zero included) go through the scalar path, which reports or rescales them.
    let private testBlock (p: Plan) (netLo: int[]) (netHi: int[]) (data: float32[]) (columns: int) (rows: int) (c0: int)
                          (blk: Vector256<float32>[]) (sc: Scratch) (results: Result<ShapiroWilkResult, ShapiroWilkError>[]) (r0: int)
                          (scalarColumn: int -> Scratch -> ShapiroWilkError voption) =
        let mutable nonFinite = Vector256<float32>.Zero
        for r in 0 .. rows - 1 do
            let v = Vector256.Create<float32>(ReadOnlySpan<float32>(data, r * columns + c0, lanes))
            blk.[r] <- v
            nonFinite <- nonFinite + (v - v) // 0 for finite lanes, NaN otherwise
        // the network's indices are < rows ≤ blk.Length by construction: no bounds checks in the hot loop
        let lo0 = &MemoryMarshal.GetArrayDataReference netLo
        let hi0 = &MemoryMarshal.GetArrayDataReference netHi
        let b0 = &MemoryMarshal.GetArrayDataReference blk
        for q in 0 .. netLo.Length - 1 do
            let pa = &Unsafe.Add(&b0, Unsafe.Add(&lo0, q))
            let pb = &Unsafe.Add(&b0, Unsafe.Add(&hi0, q))
            let a = pa
            let b = pb
            pa <- Vector256.Min(a, b)
            pb <- Vector256.Max(a, b)
        let an = float rows
        let centred = p.Centred
        for half in 0 .. 1 do
            let widen (v: Vector256<float32>) = if half = 0 then Vector256.WidenLower v else Vector256.WidenUpper v
            let lo = widen blk.[0]
            let range = widen blk.[rows - 1] - lo
            let inv = Vector256<float>.One / range
            let mutable sx = Vector256<float>.Zero
            for i in 0 .. rows - 1 do
                sx <- sx + widen blk.[i] * inv
            sx <- sx / Vector256.Create an
            let mutable ssx = Vector256<float>.Zero
            let mutable sax = Vector256<float>.Zero
            for i in 0 .. rows - 1 do
                let xsx = widen blk.[i] * inv - sx
                ssx <- ssx + xsx * xsx
                sax <- sax + Vector256.Create centred.[i] * xsx
            for l in 0 .. 3 do
                let lane = 4 * half + l
                let c = c0 + lane
                if Single.IsNaN(nonFinite.GetElement lane) || not (range.GetElement l >= 1e-10) then
                    results.[r0 + lane] <-
                        match scalarColumn c sc with
                        | ValueSome e -> Error e
                        | ValueNone -> Ok (ofSorted p sc.Values)
                else
                    results.[r0 + lane] <- Ok (finish p (ssx.GetElement l) (sax.GetElement l))

    /// <summary>
    /// Tests every column of a row-major float32 matrix — the layout of a trace file, shape
    /// [iterations, weights] — with a typed outcome per column.
    /// </summary>
    /// <param name="columns">The number of series (columns), ≥ 1; <c>data.Length</c> must be a multiple of it.</param>
    /// <param name="data">Row-major values: element (row r, column c) is <c>data[r * columns + c]</c>.</param>
    /// <returns>One result per column; each series has <c>data.Length / columns</c> values.</returns>
    [<CompiledName("TryTestColumns")>]
    let tryTestColumns32 (columns: int) (data: float32[]) : Result<ShapiroWilkResult, ShapiroWilkError>[] =
        Validation.notNull (nameof data) data
        Validation.atLeast (nameof columns) 1 columns
        if data.Length % columns <> 0 then
            invalidArg (nameof data) $"expected a length that is a multiple of columns = {columns}, got {data.Length}"
        let rows = data.Length / columns
        if rows < 3 then
            invalidArg (nameof data) $"expected at least 3 rows (Shapiro–Wilk needs n ≥ 3 per series), got {rows} rows of {columns} columns"
        let scalarColumn = loadColumn data columns rows
        if rows > maxNetworkLength || not Vector256.IsHardwareAccelerated || columns < lanes then
            runBatch columns (fun _ -> rows) scalarColumn
        else
            let p = plan rows
            let netLo, netHi = sortingNetwork rows
            // work items of 4 SIMD blocks (32 columns); the last columns % 8 series take the scalar path
            let blocks = columns / lanes
            let blocksPerItem = 4
            let items = (blocks + blocksPerItem - 1) / blocksPerItem
            use buffers = new Threading.ThreadLocal<struct (Vector256<float32>[] * Scratch)>(fun () ->
                struct (Array.zeroCreate<Vector256<float32>> rows, scratch rows))
            let compute (item: int) =
                let struct (blk, sc) = buffers.Value
                let b0 = item * blocksPerItem
                let b1 = min blocks (b0 + blocksPerItem)
                let out = Array.zeroCreate<Result<ShapiroWilkResult, ShapiroWilkError>> ((b1 - b0) * lanes)
                for b in b0 .. b1 - 1 do
                    testBlock p netLo netHi data columns rows (b * lanes) blk sc out ((b - b0) * lanes) scalarColumn
                out
            let simdPart = Work.run true items compute |> Array.concat
            let sc = scratch rows
            let tail =
                Array.init (columns - blocks * lanes) (fun k ->
                    match scalarColumn (blocks * lanes + k) sc with
                    | ValueSome e -> Error e
                    | ValueNone -> Ok (ofSorted p sc.Values))
            Array.append simdPart tail

    /// <summary>Tests every column of a row-major float32 matrix (see <c>tryTestColumns32</c>); raises on the first bad column.</summary>
    /// <param name="columns">The number of series (columns).</param>
    /// <param name="data">Row-major values, shape [rows, columns].</param>
    /// <returns>One result per column.</returns>
    /// <exception cref="T:System.ArgumentException">Bad shape, or a column with NaN/infinite values or zero range.</exception>
    [<CompiledName("TestColumns")>]
    let testColumns32 (columns: int) (data: float32[]) : ShapiroWilkResult[] =
        tryTestColumns32 columns data |> unwrap (nameof data)
