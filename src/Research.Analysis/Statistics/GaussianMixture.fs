namespace Research.Analysis

open System
open System.Threading.Tasks
open System.Runtime.Intrinsics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices

/// <summary>How EM is started for each restart.</summary>
type MixtureInitialization =
    /// scikit-learn's default (<c>init_params="kmeans"</c>): k-means++ seeding (greedy, 2 + ⌊ln k⌋
    /// candidates per centre), Lloyd's iterations to a fixed point, then the component parameters of
    /// the hard clustering.
    | KMeans
    /// scikit-learn's <c>init_params="random"</c>: random responsibilities (uniform, normalised per
    /// point), then the parameters they imply.
    | Random

/// <summary>The parameters of a one-dimensional Gaussian mixture.</summary>
type MixtureParameters =
    { /// Mixing weights, one per component, summing to 1.
      Weights: float[]
      /// Component means.
      Means: float[]
      /// Component variances (for a fit: including the <c>RegCovar</c> floor, as scikit-learn's <c>covariances_</c>).
      Variances: float[] }

/// <summary>The state after one EM iteration (for following the trajectory).</summary>
type MixtureStep =
    { /// The iteration, from 1.
      Iteration: int
      /// The mean log-likelihood of the E-step of this iteration (parameters before its M-step);
      /// scikit-learn's <c>lower_bound_</c> had it stopped here.
      LowerBound: float
      /// The parameters after this iteration's M-step.
      Parameters: MixtureParameters }

/// <summary>A longer run from the best restart (the "emEM" strategy of Biernacki, Celeux and
/// Govaert 2003: short runs from many starts, then one long run from the best), EM accelerated by
/// SQUAREM (Varadhan and Roland 2008), to a tighter tolerance than scikit-learn's.</summary>
type MixtureRefinement =
    { /// Stop when the mean log-likelihood changes by less than this between iterations (e.g. 1e-8).
      Tolerance: float
      /// Maximum further EM iterations.
      MaxIterations: int }

/// <summary>Settings for fitting a mixture; <c>MixtureOptions.Create k</c> gives scikit-learn's defaults.</summary>
type MixtureOptions =
    { /// Number of components k ≥ 1.
      Components: int
      /// How each restart is initialised (default <c>KMeans</c>).
      Initialization: MixtureInitialization
      /// Number of restarts (scikit-learn's <c>n_init</c>, default 1); the restart with the highest final lower bound wins.
      Restarts: int
      /// Seed for the initialisations (restart r uses stream r of <c>Xoshiro256StarStar(seed, r)</c>).
      Seed: int64
      /// Stop when the mean log-likelihood changes by less than this between iterations (default 1e-3).
      Tolerance: float
      /// Maximum EM iterations per restart (default 100).
      MaxIterations: int
      /// Added to every variance after each M-step (scikit-learn's <c>reg_covar</c>, default 1e-6); in
      /// units of the data's variance when <c>Standardize</c> is set.
      RegCovar: float
      /// Fit on the standardised data (x − mean)/sd and transform the result back (default false,
      /// as scikit-learn). The fit is then equivariant under x ↦ a·x + b (a ≠ 0): the same
      /// responsibilities, KS distance and BIC differences at any scale, and <c>RegCovar</c> is a
      /// variance floor of <c>RegCovar</c>·Var(x) instead of an absolute one. An absolute floor makes
      /// fits depend on the data's units: 1e-6 is larger than the variance of most per-weight
      /// gradients. A constant sample is fitted unscaled.
      Standardize: bool
      /// After the restarts, continue EM from the best one to a tighter tolerance (None: no refinement, as scikit-learn).
      Refine: MixtureRefinement option }

    /// <summary>
    /// Options for k components; every omitted argument takes scikit-learn 1.2.1's default
    /// (k-means init, 1 restart, seed 0, tol 1e-3, max_iter 100, reg_covar 1e-6). From C#:
    /// <c>MixtureOptions.Create(5, restarts: 5)</c>; from F#: <c>MixtureOptions.Create(5, restarts = 5)</c>.
    /// </summary>
    /// <param name="components">Number of components k ≥ 1.</param>
    /// <param name="restarts">Number of restarts (default 1).</param>
    /// <param name="seed">Seed of the initialisations (default 0).</param>
    /// <param name="tolerance">Convergence threshold on the change of the mean log-likelihood (default 1e-3).</param>
    /// <param name="maxIterations">Maximum EM iterations per restart (default 100).</param>
    /// <param name="regCovar">Variance floor added after each M-step (default 1e-6).</param>
    /// <param name="randomInitialization">true for <c>Random</c> initialisation (sklearn's init_params="random"); default false: <c>KMeans</c>.</param>
    /// <param name="standardize">Fit on standardised data (scale-invariant; <c>regCovar</c> relative to the data's variance); default false.</param>
    /// <returns>The options (no refinement: set <c>Refine</c> for one).</returns>
    static member Create(components: int,
                         [<Optional; DefaultParameterValue(1)>] restarts: int,
                         [<Optional; DefaultParameterValue(0L)>] seed: int64,
                         [<Optional; DefaultParameterValue(1e-3)>] tolerance: float,
                         [<Optional; DefaultParameterValue(100)>] maxIterations: int,
                         [<Optional; DefaultParameterValue(1e-6)>] regCovar: float,
                         [<Optional; DefaultParameterValue(false)>] randomInitialization: bool,
                         [<Optional; DefaultParameterValue(false)>] standardize: bool) : MixtureOptions =
        { Components = components
          Initialization = (if randomInitialization then Random else KMeans)
          Restarts = restarts
          Seed = seed
          Tolerance = tolerance
          MaxIterations = maxIterations
          RegCovar = regCovar
          Standardize = standardize
          Refine = None }

/// <summary>A fitted one-dimensional Gaussian mixture.</summary>
type MixtureFit =
    { /// Weights, means and variances (variances include <c>RegCovar</c>), in the fit's component order.
      Parameters: MixtureParameters
      /// Whether the winning restart stopped because the change fell below the tolerance (with a
      /// refinement: whether the refinement did). <c>false</c> means it used all its iterations: the
      /// parameters are usable but not converged.
      Converged: bool
      /// EM iterations of the winning restart (scikit-learn's <c>n_iter_</c>), refinement included.
      Iterations: int
      /// scikit-learn's <c>lower_bound_</c>: the mean log-likelihood at the last E-step, before the final M-step.
      LowerBound: float
      /// Total log-likelihood Σ log p(x_i) under the final parameters.
      LogLikelihood: float
      /// Mean log-likelihood under the final parameters (scikit-learn's <c>score(X)</c>).
      MeanLogLikelihood: float
      /// Bayesian information criterion −2 log L + p ln n with p = 3k − 1 free parameters (lower is better).
      Bic: float
      /// Akaike information criterion −2 log L + 2p.
      Aic: float
      /// Number of data points n.
      SampleSize: int
      /// Number of restarts tried.
      Restarts: int
      /// The winning restart's iterations: lower bound and parameters after each M-step.
      History: MixtureStep[] }

/// <summary>The outcome of choosing the number of components by BIC.</summary>
type MixtureSelection =
    { /// The numbers of components tried, in the order given.
      Candidates: int[]
      /// The fit for each candidate, in the same order.
      Fits: MixtureFit[]
      /// The fit with the lowest BIC.
      Best: MixtureFit
      /// Its number of components.
      BestComponents: int }

/// <summary>A sample drawn from a mixture.</summary>
type MixtureSample =
    { /// The drawn values.
      Values: float[]
      /// The component each value was drawn from.
      Components: int[] }

/// <summary>
/// One-dimensional Gaussian mixtures fitted by expectation–maximisation (Dempster, Laird and Rubin
/// 1977), following scikit-learn 1.2.1's <c>GaussianMixture(covariance_type="full")</c> on a single
/// feature.
/// </summary>
/// <remarks>
/// <para>Conventions copied from <c>sklearn/mixture/_base.py</c> and <c>_gaussian_mixture.py</c>
/// 1.2.1: component masses N_k = Σ r_ik + 10·ε; variances Σ r_ik (x_i − μ_k)² / N_k + reg_covar;
/// weights N_k / Σ N_k; responsibilities by log-sum-exp; stop when the mean log-likelihood changes
/// by less than <c>Tolerance</c>; <c>LowerBound</c> is the mean log-likelihood of the last E-step
/// (before the final M-step); BIC and AIC use p = 3k − 1. The E-step evaluates four points at a
/// time with vectorised exp/log. Both steps sum over fixed chunks of the data and add the chunk sums
/// in order (chunks go to several cores from 131,072 points on), so results do not depend on the
/// number of threads.</para>
/// <para>Initialisation: <c>KMeans</c> is k-means++ (sklearn's greedy variant) followed by Lloyd's
/// iterations, which in one dimension reduce to moving cut points between sorted centres; the
/// initial parameters are those of the final intervals, computed as sklearn computes them from
/// one-hot responsibilities. Restart r draws from <c>Xoshiro256StarStar(Seed, r)</c>, so fits are
/// reproducible but do not reproduce numpy's generator.</para>
/// <para>Verified against <c>../shared/reference/gmm.json</c> (scikit-learn 1.2.1): started from the
/// reference's initial parameters, the lower bound and parameters after every M-step agree to 1e-10
/// (largest difference observed 3e-13) and EM stops at the same iteration on all 6 data sets
/// (n = 200 … 20,000, k = 1 … 5). With its own initialisation, 5 restarts and EM run to a change
/// below 1e-6, the mean log-likelihood is at least scikit-learn's − 1e-6 on every data set, for its
/// k and for k = 5 (often higher by 1e-4 … 4e-2: sklearn's tol = 1e-3 stops early). With sklearn's
/// own settings (tol = 1e-3) our fits equal sklearn's to 1e-15 on 5 of those 11 fits, are higher by
/// 2e-5 on one, lower by 2e-6 … 7e-5 on four and by 4e-3 on one (k = 5 on one-component data:
/// another local optimum).
/// Component parameters are compared only through the likelihood.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module GaussianMixture =

    let private log2Pi = log (2.0 * Math.PI)

    /// Work buffers and chunking for one data set.
    [<NoEquality; NoComparison>]
    type private Workspace =
        { X: float[]
          K: int
          /// Responsibilities, component-major: r_ij at Resp[j * n + i]; only for the random
          /// initialisation (an EM step never stores them: its E-step accumulates the M-step's sums).
          Resp: float[]
          ChunkSize: int
          Chunks: int
          /// Per chunk (3k + 1 values): Σ r | Σ r x | Σ r (x − c)² | Σ log p(x), where c is the mean
          /// the E-step evaluated (the M-step's new mean when the sums come from stored responsibilities).
          Partial: float[]
          /// Per chunk, the E-step's vector scratch (<c>scratchLength k</c> vectors), so that chunks
          /// on different cores never share one and no step allocates.
          Scratch: Vector256<float>[] }

    let private chunkSize = 4096

    /// E- and M-steps are spread over cores from this many points on; below it a step takes well
    /// under a millisecond and a parallel loop costs more than it saves on a busy machine.
    let private parallelFrom = 131072

    /// The E-step works on blocks of this many vectors (4 points each) component by component, so
    /// that a component's constants stay in registers and k·block exps are independent.
    let private block = 16

    /// Vectors of E-step scratch per chunk: k·block log-densities, block maxima, block sums, and
    /// the k Σ r, k Σ r x and k Σ r (x − c)² accumulators.
    let private scratchLength (k: int) = k * block + 2 * block + 3 * k

    /// Four consecutive doubles as a vector.
    let inline private load4 (a: float[]) (i: int) : Vector256<float> =
        Vector256.Create<float>(ReadOnlySpan<float>(a, i, 4))

    let private workspace (x: float[]) (k: int) (responsibilities: bool) =
        let n = x.Length
        let chunks = (n + chunkSize - 1) / chunkSize
        { X = x; K = k; Resp = (if responsibilities then Array.zeroCreate (n * k) else [||]); ChunkSize = chunkSize; Chunks = chunks
          Partial = Array.zeroCreate (chunks * (3 * k + 1))
          Scratch = Array.zeroCreate (chunks * scratchLength k) }

    /// <summary>
    /// e^d for the E-step's d ≤ 0 (a log-density less the point's largest), every lane on its own
    /// and without a branch: d is clamped below at −746 (Math.Exp is exactly 0 below −745.134, half
    /// the smallest subnormal); d = n·ln 2 + r with n = round(d / ln 2) and |r| ≤ ln 2 / 2 (Cody–Waite
    /// with fused multiply-adds, ln 2 split in two doubles); e^r by its Taylor polynomial of degree 13
    /// (truncation below 5e-18) in Horner's form with fused multiply-adds; then e^r · 2^(n + 600) · 2^−600,
    /// where 2^(n + 600) is made in the exponent bits and is a normal double for every n here, so the
    /// scaling is exact wherever e^d is a normal double and rounds once where it is subnormal (or 0).
    /// </summary>
    /// <remarks>Within 1 ulp of <c>Math.Exp</c> (glibc's correctly rounded exp) on [−708, 0], equal to
    /// it on about 96 percent of arguments, and 0 below −746 exactly where Math.Exp is 0 (.NET 10's
    /// <c>Vector256.Exp</c> is within 2 ulp, equal on about 62 percent, costs about three times as
    /// much, and computes a whole vector with the scalar Math.Exp when one lane is below −708).
    /// NaN stays NaN. Tests: Statistics.GaussianMixture, "the E-step's exp".</remarks>
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let internal expOfNonPositive (d: Vector256<float>) : Vector256<float> =
        // MaxNative(lim, d) is vmaxpd on x64, which returns d when either is NaN
        let d = Vector256.MaxNative(Vector256.Create -746.0, d)
        // 1.5 · 2^52: adding it rounds to an integer held in the low mantissa bits
        let shifter = Vector256.Create 6755399441055744.0
        let t = Vector256.FusedMultiplyAdd(d, Vector256.Create 1.4426950408889634, shifter)
        let n = t - shifter
        let r = Vector256.FusedMultiplyAdd(n, Vector256.Create -0.6931471805599453, d)
        let r = Vector256.FusedMultiplyAdd(n, Vector256.Create -2.3190468138462996e-17, r)
        let mutable p = Vector256.Create 1.6059043836821613e-10
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 2.08767569878681e-09)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 2.505210838544172e-08)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 2.755731922398589e-07)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 2.7557319223985893e-06)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 2.48015873015873e-05)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.0001984126984126984)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.001388888888888889)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.008333333333333333)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.041666666666666664)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.16666666666666666)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 0.5)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 1.0)
        p <- Vector256.FusedMultiplyAdd(p, r, Vector256.Create 1.0)
        // the bits of 2^(n + 600): (n + 600 + 1023) << 52, with n in the low bits of t
        let scale = Vector256.ShiftLeft(t.AsUInt64() + Vector256.Create 1623UL, 52)
        p * scale.AsDouble() * Vector256.Create 2.409919865102884e-181

    /// <summary>
    /// ln s for the E-step's s ≥ 1 (a sum of exps whose largest term is e^0 = 1), every lane on its
    /// own: s = 2^k · m with m in [√2/2, √2), and ln m = ln(1 + f) by fdlibm's e_log.c (Remez polynomial
    /// in (f / (2 + f))², ln 2 split in two doubles). NaN stays NaN; below 1 the result is wrong
    /// (not this function's domain).
    /// </summary>
    /// <remarks>Within 1 ulp of <c>Math.Log</c> on [1, 2^1024), equal to it on about 96 percent of
    /// arguments (.NET 10's <c>Vector256.Log</c>: within 3 ulp, equal on about 83 percent), and inlined
    /// where <c>Vector256.Log</c> is a call. Tests: Statistics.GaussianMixture, "the E-step's log".</remarks>
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let internal logAtLeastOne (s: Vector256<float>) : Vector256<float> =
        let bits = s.AsUInt64()
        // k = the exponent of s / (√2/2), and m = s / 2^k
        let kb = Vector256.ShiftRightLogical(bits - Vector256.Create 0x3fe6a09e667f3bcdUL, 52)
        let m = (bits - Vector256.ShiftLeft(kb, 52)).AsDouble()
        // k as a double: 2^52 + k from the bits, less 2^52
        let kd = (kb ||| Vector256.Create 0x4330000000000000UL).AsDouble() - Vector256.Create 4503599627370496.0
        let f = m - Vector256<float>.One
        let sv = f / (Vector256.Create 2.0 + f)
        let z = sv * sv
        let w = z * z
        let t1 = w * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create 1.531383769920937332e-01, Vector256.Create 2.222219843214978396e-01), Vector256.Create 3.999999999940941908e-01)
        let t2 =
            z * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create 1.479819860511658591e-01, Vector256.Create 1.818357216161805012e-01),
                                                                         Vector256.Create 2.857142874366239149e-01), Vector256.Create 6.666666666666735130e-01)
        let hfsq = Vector256.Create 0.5 * f * f
        let lnS = kd * Vector256.Create 6.93147180369123816490e-01 - ((hfsq - (sv * (hfsq + (t2 + t1)) + kd * Vector256.Create 1.90821492927058770002e-10)) - f)
        // + (s − s): 0 for finite s, NaN for NaN
        lnS + (s - s)

    /// E-step over x[lo..hi): the chunk's Σ r, Σ r x, Σ r (x − c)² (c = the component's mean in
    /// <c>means</c>, the one being evaluated) and Σ lse into partial[off..], the sums the M-step
    /// needs, so that no responsibility is stored and read back. Four points at a time with
    /// Vector256 (exp and log inlined), in blocks of <c>block</c> vectors taken component by
    /// component (every lane and every sum sees the same operations in the same order as point by
    /// point), scalar tail. <c>scratch</c> holds <c>scratchLength k</c> vectors from <c>so</c> on.
    let private eStepChunk (x: float[]) (k: int) (lo: int) (hi: int)
                           (pc: float[]) (mupc: float[]) (cst: float[]) (means: float[]) (partial: float[]) (off: int)
                           (scratch: Vector256<float>[]) (so: int) =
        let half = Vector256.Create 0.5
        let xr = &MemoryMarshal.GetArrayDataReference x
        // buf: k·block log-densities, then exps | block maxima at mxo | block sums, then 1/sums, at sumo |
        // Σ r at acc + j, Σ r x at acc + k + j, Σ r (x − c)² at acc + 2k + j
        let buf = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference scratch, so)
        let mxo = k * block
        let sumo = mxo + block
        let acc = sumo + block
        for j in 0 .. 3 * k - 1 do Unsafe.Add(&buf, acc + j) <- Vector256<float>.Zero
        let mutable lseV = Vector256<float>.Zero
        let mutable i = lo
        while i + 4 <= hi do
            let nb = min block ((hi - i) / 4)
            for b in 0 .. nb - 1 do Unsafe.Add(&buf, mxo + b) <- Vector256.Create Double.NegativeInfinity
            for j in 0 .. k - 1 do
                let pcv = Vector256.Create pc.[j]
                let mupcv = Vector256.Create mupc.[j]
                let cstv = Vector256.Create cst.[j]
                for b in 0 .. nb - 1 do
                    let y = Vector256.LoadUnsafe(&xr, unativeint (i + 4 * b)) * pcv - mupcv
                    let v = cstv - half * (y * y)
                    Unsafe.Add(&buf, j * block + b) <- v
                    Unsafe.Add(&buf, mxo + b) <- Vector256.MaxNative(Unsafe.Add(&buf, mxo + b), v)
            for b in 0 .. nb - 1 do Unsafe.Add(&buf, sumo + b) <- Vector256<float>.Zero
            for j in 0 .. k - 1 do
                for b in 0 .. nb - 1 do
                    let e = expOfNonPositive (Unsafe.Add(&buf, j * block + b) - Unsafe.Add(&buf, mxo + b))
                    Unsafe.Add(&buf, j * block + b) <- e
                    Unsafe.Add(&buf, sumo + b) <- Unsafe.Add(&buf, sumo + b) + e
            for b in 0 .. nb - 1 do
                let s = Unsafe.Add(&buf, sumo + b)
                lseV <- lseV + (Unsafe.Add(&buf, mxo + b) + logAtLeastOne s)
                Unsafe.Add(&buf, sumo + b) <- Vector256<float>.One / s
            for j in 0 .. k - 1 do
                let mutable nkv = Unsafe.Add(&buf, acc + j)
                let mutable sxv = Unsafe.Add(&buf, acc + k + j)
                let mutable s2v = Unsafe.Add(&buf, acc + 2 * k + j)
                let cv = Vector256.Create means.[j]
                for b in 0 .. nb - 1 do
                    let r = Unsafe.Add(&buf, j * block + b) * Unsafe.Add(&buf, sumo + b)
                    let xv = Vector256.LoadUnsafe(&xr, unativeint (i + 4 * b))
                    let d = xv - cv
                    nkv <- nkv + r
                    sxv <- sxv + r * xv
                    s2v <- s2v + r * (d * d)
                Unsafe.Add(&buf, acc + j) <- nkv
                Unsafe.Add(&buf, acc + k + j) <- sxv
                Unsafe.Add(&buf, acc + 2 * k + j) <- s2v
            i <- i + 4 * nb
        let nk = Array.zeroCreate<float> k
        let sx = Array.zeroCreate<float> k
        let s2 = Array.zeroCreate<float> k
        for j in 0 .. k - 1 do
            nk.[j] <- Vector256.Sum(Unsafe.Add(&buf, acc + j))
            sx.[j] <- Vector256.Sum(Unsafe.Add(&buf, acc + k + j))
            s2.[j] <- Vector256.Sum(Unsafe.Add(&buf, acc + 2 * k + j))
        let mutable lse = Vector256.Sum lseV
        let lp = Array.zeroCreate<float> k
        while i < hi do
            let xi = x.[i]
            let mutable mx = Double.NegativeInfinity
            for j in 0 .. k - 1 do
                let y = xi * pc.[j] - mupc.[j]
                let v = cst.[j] - 0.5 * (y * y)
                lp.[j] <- v
                if v > mx then mx <- v
            let mutable s = 0.0
            for j in 0 .. k - 1 do
                let e = exp (lp.[j] - mx)
                lp.[j] <- e
                s <- s + e
            lse <- lse + (mx + log s)
            let inv = 1.0 / s
            for j in 0 .. k - 1 do
                let r = lp.[j] * inv
                let d = xi - means.[j]
                nk.[j] <- nk.[j] + r
                sx.[j] <- sx.[j] + r * xi
                s2.[j] <- s2.[j] + r * (d * d)
            i <- i + 1
        for j in 0 .. k - 1 do
            partial.[off + j] <- nk.[j]
            partial.[off + k + j] <- sx.[j]
            partial.[off + 2 * k + j] <- s2.[j]
        partial.[off + 3 * k] <- lse

    /// E-step over all data: per-chunk Σ r, Σ r x, Σ r (x − μ)² (μ: <paramref name="means"/>) and Σ lse.
    /// Returns the mean log-likelihood (the lower bound).
    let private eStep (ws: Workspace) (weights: float[]) (means: float[]) (precChol: float[]) =
        let k = ws.K
        let x = ws.X
        let n = x.Length
        // log N(x | μ, σ²) + log w = cst_k − ½ (x·pc_k − μ_k·pc_k)², as sklearn forms it
        let cst = Array.init k (fun j -> -0.5 * log2Pi + log precChol.[j] + log weights.[j])
        let mupc = Array.init k (fun j -> means.[j] * precChol.[j])
        let stride = 3 * k + 1
        let chunk (c: int) =
            let lo = c * ws.ChunkSize
            eStepChunk x k lo (min n (lo + ws.ChunkSize)) precChol mupc cst means ws.Partial (c * stride) ws.Scratch (c * scratchLength k)
        if n < parallelFrom then (for c in 0 .. ws.Chunks - 1 do chunk c) else Parallel.For(0, ws.Chunks, chunk) |> ignore
        let mutable total = 0.0
        for c in 0 .. ws.Chunks - 1 do
            total <- total + ws.Partial.[c * stride + 3 * k]
        total / float n

    /// Σ r_ij (x_i − μ_j)² over x[lo..hi) into partial[off + 2k + j].
    let private varianceChunk (x: float[]) (n: int) (k: int) (lo: int) (hi: int) (means: float[])
                              (resp: float[]) (partial: float[]) (off: int) =
        let xr = &MemoryMarshal.GetArrayDataReference x
        let rr = &MemoryMarshal.GetArrayDataReference resp
        for j in 0 .. k - 1 do
            let mu = means.[j]
            let muv = Vector256.Create mu
            let mutable accv = Vector256<float>.Zero
            let mutable i = lo
            let baseIdx = j * n
            while i + 4 <= hi do
                let d = Vector256.LoadUnsafe(&xr, unativeint i) - muv
                accv <- accv + Vector256.LoadUnsafe(&rr, unativeint (baseIdx + i)) * (d * d)
                i <- i + 4
            let mutable acc = Vector256.Sum accv
            while i < hi do
                let d = x.[i] - mu
                acc <- acc + resp.[baseIdx + i] * (d * d)
                i <- i + 1
            partial.[off + 2 * k + j] <- acc

    /// <summary>
    /// M-step from the chunk sums of the last E-step, which evaluated the means <paramref name="centres"/>:
    /// N_j = Σ r + 10ε and μ_j = Σ r x / N_j as scikit-learn forms them, and the scatter about the new
    /// mean from the one about the old, Σ r (x − μ_j)² = Σ r (x − c)² − 2δ Σ r (x − c) + δ² Σ r with
    /// δ = μ_j − c: scikit-learn's two-pass Σ r (x − μ_j)² without storing r for a second pass. With c
    /// the previous mean, δ is the step of the mean, so nothing large cancels (should rounding take the
    /// scatter below 0, it is 0).
    /// </summary>
    let private mStep (ws: Workspace) (regCovar: float) (centres: float[]) : MixtureParameters * float[] =
        let k = ws.K
        let stride = 3 * k + 1
        let s0 = Array.zeroCreate<float> k
        let sx = Array.zeroCreate<float> k
        let s2 = Array.zeroCreate<float> k
        for c in 0 .. ws.Chunks - 1 do
            for j in 0 .. k - 1 do
                s0.[j] <- s0.[j] + ws.Partial.[c * stride + j]
                sx.[j] <- sx.[j] + ws.Partial.[c * stride + k + j]
                s2.[j] <- s2.[j] + ws.Partial.[c * stride + 2 * k + j]
        // sklearn: nk = resp.sum(axis=0) + 10 * finfo(float64).eps
        let eps10 = 10.0 * 2.220446049250313e-16
        let nk = Array.init k (fun j -> s0.[j] + eps10)
        let means = Array.init k (fun j -> sx.[j] / nk.[j])
        let variances =
            Array.init k (fun j ->
                let c = centres.[j]
                let delta = means.[j] - c
                let scatter = s2.[j] - 2.0 * delta * (sx.[j] - c * s0.[j]) + delta * delta * s0.[j]
                max scatter 0.0 / nk.[j] + regCovar)
        let total = Array.sum nk
        let weights = nk |> Array.map (fun v -> v / total)
        for j in 0 .. k - 1 do
            if not (variances.[j] > 0.0) then
                invalidOp $"component {j} has variance {Validation.formatValue variances.[j]} after an M-step; increase RegCovar, decrease the number of components, or scale the data"
        { Weights = weights; Means = means; Variances = variances }, variances |> Array.map (fun v -> 1.0 / sqrt v)

    /// The parameters of stored responsibilities ws.Resp and their chunk sums Σ r, Σ r x (the random
    /// initialisation), as scikit-learn's _initialize forms them: two passes, the scatter about the new
    /// means read from ws.Resp, and weights N_j / n (not renormalised).
    let private mStepFromResp (ws: Workspace) (regCovar: float) : MixtureParameters * float[] =
        let k = ws.K
        let x = ws.X
        let n = x.Length
        let stride = 3 * k + 1
        let nk = Array.create k 0.0
        let sx = Array.zeroCreate<float> k
        for c in 0 .. ws.Chunks - 1 do
            for j in 0 .. k - 1 do
                nk.[j] <- nk.[j] + ws.Partial.[c * stride + j]
                sx.[j] <- sx.[j] + ws.Partial.[c * stride + k + j]
        // sklearn: nk = resp.sum(axis=0) + 10 * finfo(float64).eps
        let eps10 = 10.0 * 2.220446049250313e-16
        for j in 0 .. k - 1 do nk.[j] <- nk.[j] + eps10
        let means = Array.init k (fun j -> sx.[j] / nk.[j])
        let chunk (c: int) =
            let lo = c * ws.ChunkSize
            varianceChunk x n k lo (min n (lo + ws.ChunkSize)) means ws.Resp ws.Partial (c * stride)
        if n < parallelFrom then (for c in 0 .. ws.Chunks - 1 do chunk c) else Parallel.For(0, ws.Chunks, chunk) |> ignore
        let variances = Array.zeroCreate<float> k
        for j in 0 .. k - 1 do
            let mutable s = 0.0
            for c in 0 .. ws.Chunks - 1 do
                s <- s + ws.Partial.[c * stride + 2 * k + j]
            variances.[j] <- s / nk.[j] + regCovar
        let weights = nk |> Array.map (fun v -> v / float n)
        for j in 0 .. k - 1 do
            if not (variances.[j] > 0.0) then
                invalidOp $"component {j} has variance {Validation.formatValue variances.[j]} after an M-step; increase RegCovar, decrease the number of components, or scale the data"
        { Weights = weights; Means = means; Variances = variances }, variances |> Array.map (fun v -> 1.0 / sqrt v)

    /// Chunk sums for given hard/soft responsibilities already in ws.Resp (used by the initialisation).
    let private sumsFromResp (ws: Workspace) =
        let k = ws.K
        let x = ws.X
        let n = x.Length
        let stride = 3 * k + 1
        for c in 0 .. ws.Chunks - 1 do
            let lo = c * ws.ChunkSize
            let hi = min n (lo + ws.ChunkSize)
            let off = c * stride
            for j in 0 .. stride - 1 do ws.Partial.[off + j] <- 0.0
            for j in 0 .. k - 1 do
                let mutable a = 0.0
                let mutable b = 0.0
                for i in lo .. hi - 1 do
                    let r = ws.Resp.[j * n + i]
                    a <- a + r
                    b <- b + r * x.[i]
                ws.Partial.[off + j] <- a
                ws.Partial.[off + k + j] <- b

    // ---- initialisation ---------------------------------------------------------------------

    /// Σ min(d2_i, (x_i − c)²), four points at a time.
    let private potential (x: float[]) (d2: float[]) (c: float) =
        let n = x.Length
        let cv = Vector256.Create c
        let mutable acc = Vector256<float>.Zero
        let mutable i = 0
        while i + 4 <= n do
            let d = load4 x i - cv
            acc <- acc + Vector256.Min(load4 d2 i, d * d)
            i <- i + 4
        let mutable s = Vector256.Sum acc
        while i < n do
            let d = x.[i] - c
            s <- s + min d2.[i] (d * d)
            i <- i + 1
        s

    /// d2_i ← min(d2_i, (x_i − c)²), four points at a time.
    let private lowerDistances (x: float[]) (d2: float[]) (c: float) =
        let n = x.Length
        let cv = Vector256.Create c
        let mutable i = 0
        while i + 4 <= n do
            let d = load4 x i - cv
            Vector256.Min(load4 d2 i, d * d).CopyTo(Span<float>(d2, i, 4))
            i <- i + 4
        while i < n do
            let d = x.[i] - c
            d2.[i] <- min d2.[i] (d * d)
            i <- i + 1

    /// k-means++ seeding (Arthur and Vassilvitskii 2007) with sklearn's greedy variant (2 + ⌊ln k⌋
    /// candidates per centre, keep the one that lowers the potential most), then Lloyd's
    /// iterations. In one dimension the clusters are intervals of the sorted data cut at the
    /// midpoints between sorted centres, so an iteration costs O(k log n). Returns the interval
    /// boundaries of the final clusters in sorted order: cluster j is sorted[cuts[j] .. cuts[j+1]).
    let private kmeansIntervals (x: float[]) (sorted: float[]) (prefix: float[]) (k: int) (rng: Xoshiro256StarStar) : int[] =
        let n = x.Length
        let centres = Array.zeroCreate<float> k
        centres.[0] <- x.[rng.NextInt n]
        let d2 = Array.init n (fun i -> let d = x.[i] - centres.[0] in d * d)
        let trials = 2 + int (log (float k))
        for c in 1 .. k - 1 do
            let total = Array.sum d2
            let mutable bestPot = Double.PositiveInfinity
            let mutable bestCentre = 0.0
            for _ in 1 .. trials do
                // draw a point with probability d2 / total
                let target = rng.NextDouble() * total
                let mutable acc = 0.0
                let mutable idx = -1
                let mutable i = 0
                while idx < 0 && i < n do
                    acc <- acc + d2.[i]
                    if acc > target && d2.[i] > 0.0 then idx <- i
                    i <- i + 1
                if idx < 0 then
                    // rounding at the end of the cumulative sum: take the last point with positive weight
                    idx <- Array.FindLastIndex(d2, fun v -> v > 0.0)
                let centre = x.[idx]
                let pot = potential x d2 centre
                if pot < bestPot then
                    bestPot <- pot
                    bestCentre <- centre
            centres.[c] <- bestCentre
            lowerDistances x d2 bestCentre
        let cuts = Array.create (k + 1) -1
        let newCuts = Array.zeroCreate<int> (k + 1)
        let mutable changed = true
        let mutable iter = 0
        while changed && iter < 300 do
            iter <- iter + 1
            Array.sortInPlace centres
            newCuts.[0] <- 0
            newCuts.[k] <- n
            for j in 1 .. k - 1 do
                let mid = 0.5 * (centres.[j - 1] + centres.[j])
                // first index with sorted value > mid (ties go to the left centre)
                let mutable lo = newCuts.[j - 1]
                let mutable hi = n
                while lo < hi do
                    let m = (lo + hi) >>> 1
                    if sorted.[m] <= mid then lo <- m + 1 else hi <- m
                newCuts.[j] <- lo
            changed <- false
            for j in 0 .. k do
                if newCuts.[j] <> cuts.[j] then changed <- true
                cuts.[j] <- newCuts.[j]
            for j in 0 .. k - 1 do
                let a = cuts.[j]
                let b = cuts.[j + 1]
                if b > a then centres.[j] <- (prefix.[b] - prefix.[a]) / float (b - a)
                else
                    // empty cluster: move its centre to the point farthest from its own centre
                    let mutable far = 0
                    let mutable farD = -1.0
                    for c in 0 .. k - 1 do
                        for i in cuts.[c] .. cuts.[c + 1] - 1 do
                            let d = abs (sorted.[i] - centres.[c])
                            if d > farD then
                                farD <- d
                                far <- i
                    centres.[j] <- sorted.[far]
                    changed <- true
        cuts

    /// The parameters of a hard clustering given as sorted intervals, exactly as sklearn's
    /// _initialize forms them from one-hot responsibilities: N_j = count + 10ε, μ_j = Σx / N_j,
    /// σ²_j = Σ(x − μ_j)² / N_j + reg_covar, w_j = N_j / n.
    let private intervalParameters (sorted: float[]) (cuts: int[]) (k: int) (regCovar: float) =
        let n = float sorted.Length
        let eps10 = 10.0 * 2.220446049250313e-16
        let nk = Array.init k (fun j -> float (cuts.[j + 1] - cuts.[j]) + eps10)
        let means =
            Array.init k (fun j ->
                let mutable sx = 0.0
                for i in cuts.[j] .. cuts.[j + 1] - 1 do sx <- sx + sorted.[i]
                sx / nk.[j])
        let variances =
            Array.init k (fun j ->
                let mutable ss = 0.0
                for i in cuts.[j] .. cuts.[j + 1] - 1 do
                    let d = sorted.[i] - means.[j]
                    ss <- ss + d * d
                ss / nk.[j] + regCovar)
        { Weights = nk |> Array.map (fun v -> v / n); Means = means; Variances = variances },
        variances |> Array.map (fun v -> 1.0 / sqrt v)

    let private initialise (ws: Workspace) (sorted: float[]) (prefix: float[]) (init: MixtureInitialization) (regCovar: float) (rng: Xoshiro256StarStar) =
        let k = ws.K
        let n = ws.X.Length
        match init with
        | KMeans -> intervalParameters sorted (kmeansIntervals ws.X sorted prefix k rng) k regCovar
        | Random ->
            for i in 0 .. n - 1 do
                let mutable s = 0.0
                for j in 0 .. k - 1 do
                    let u = rng.NextDouble()
                    ws.Resp.[j * n + i] <- u
                    s <- s + u
                for j in 0 .. k - 1 do ws.Resp.[j * n + i] <- ws.Resp.[j * n + i] / s
            sumsFromResp ws
            mStepFromResp ws regCovar

    // ---- validation --------------------------------------------------------------------------

    let private checkData (name: string) (x: float[]) =
        Validation.minLength name 2 "data points (a mixture needs n ≥ 2, as scikit-learn)" x
        Validation.allFinite name x

    /// A sorted copy of finite data: O(n) bucket sort for continuous data (see ShapiroWilk), introsort otherwise.
    let private sortedCopy (x: float[]) =
        let sc = ShapiroWilk.scratch x.Length
        Array.blit x 0 sc.Values 0 x.Length
        let lo = Array.min x
        let hi = Array.max x
        if hi > lo && not (Double.IsInfinity(hi - lo)) then ShapiroWilk.sortFinite sc x.Length lo hi
        sc.Values

    /// The number of distinct values of a sorted array.
    let private distinctCount (sorted: float[]) =
        let mutable c = if sorted.Length > 0 then 1 else 0
        for i in 1 .. sorted.Length - 1 do
            if sorted.[i] <> sorted.[i - 1] then c <- c + 1
        c

    let private checkOptions (o: MixtureOptions) (sorted: float[]) =
        Validation.atLeast "Components" 1 o.Components
        Validation.atLeast "Restarts" 1 o.Restarts
        Validation.atLeast "MaxIterations" 1 o.MaxIterations
        Validation.nonNegative "Tolerance" o.Tolerance
        Validation.nonNegative "RegCovar" o.RegCovar
        let distinct = distinctCount sorted
        if o.Components > distinct then
            invalidArg "Components"
                $"expected at most as many components as distinct data points ({distinct}), got {o.Components}; decrease the number of components"

    let private checkParameters (name: string) (p: MixtureParameters) =
        if obj.ReferenceEquals(p, null) then raise (ArgumentNullException name)
        Validation.minLength "Weights" 1 "component weight" p.Weights
        let k = p.Weights.Length
        Validation.sameLength "Means" k "Weights" p.Means
        Validation.sameLength "Variances" k "Weights" p.Variances
        Validation.allFinite "Weights" p.Weights
        Validation.allFinite "Means" p.Means
        Validation.allFinite "Variances" p.Variances
        p.Weights |> Array.iteri (fun j w ->
            if not (w > 0.0) then invalidArg "Weights" $"expected positive weights, got {Validation.formatValue w} at index {j}")
        let s = Array.sum p.Weights
        if abs (s - 1.0) > 1e-8 then invalidArg "Weights" $"expected weights summing to 1, got a sum of {Validation.formatValue s}"
        p.Variances |> Array.iteri (fun j v ->
            if not (v > 0.0) then invalidArg "Variances" $"expected positive variances, got {Validation.formatValue v} at index {j}")

    // ---- EM -----------------------------------------------------------------------------------

    /// Runs EM from parameters (and their precision Cholesky factors) until the change is < tol.
    let private em (ws: Workspace) (o: MixtureOptions) (start: MixtureParameters) (startPc: float[]) =
        let history = ResizeArray<MixtureStep>()
        let mutable p = start
        let mutable pc = startPc
        let mutable lower = Double.NegativeInfinity
        let mutable converged = false
        let mutable iter = 0
        while not converged && iter < o.MaxIterations do
            iter <- iter + 1
            let prev = lower
            lower <- eStep ws p.Weights p.Means pc
            let next, nextPc = mStep ws o.RegCovar p.Means
            p <- next
            pc <- nextPc
            history.Add { Iteration = iter; LowerBound = lower; Parameters = p }
            if abs (lower - prev) < o.Tolerance then converged <- true
        p, converged, iter, lower, history.ToArray()

    let private finish (ws: Workspace) (x: float[]) (o: MixtureOptions) (p: MixtureParameters) converged iters lower history =
        let n = x.Length
        let k = p.Weights.Length
        // score with the final parameters: an E-step's mean log-likelihood (its responsibilities are discarded)
        let mean = eStep ws p.Weights p.Means (p.Variances |> Array.map (fun v -> 1.0 / sqrt v))
        let total = mean * float n
        let pCount = float (3 * k - 1)
        { Parameters = p
          Converged = converged
          Iterations = iters
          LowerBound = lower
          LogLikelihood = total
          MeanLogLikelihood = mean
          Bic = -2.0 * mean * float n + pCount * log (float n)
          Aic = -2.0 * mean * float n + 2.0 * pCount
          SampleSize = n
          Restarts = o.Restarts
          History = history }

    // ---- standardisation ---------------------------------------------------------------------

    /// (location, scale) of the standardisation z = (x − location)/scale: the mean and the
    /// population standard deviation when <c>Standardize</c> is set (computed relative to the largest
    /// deviation, so neither tiny nor huge values under- or overflow), else (0, 1). A constant
    /// sample keeps (0, 1).
    let private standardisation (o: MixtureOptions) (x: float[]) : float * float =
        if not o.Standardize then 0.0, 1.0
        else
            let n = float x.Length
            let mean = Array.fold (fun acc v -> acc + v / n) 0.0 x
            let largest = x |> Array.fold (fun acc v -> max acc (abs (v - mean))) 0.0
            if not (largest > 0.0) || Double.IsInfinity largest then 0.0, 1.0
            else
                let mutable ss = 0.0
                for v in x do
                    let d = (v - mean) / largest
                    ss <- ss + d * d
                let sd = largest * sqrt (ss / n)
                if sd > 0.0 && Double.IsFinite sd then mean, sd else 0.0, 1.0

    let private isIdentity (location: float, scale: float) = location = 0.0 && scale = 1.0

    /// Parameters of standardised data in the data's units.
    let private toDataUnits (location: float, scale: float) (p: MixtureParameters) : MixtureParameters =
        { Weights = p.Weights
          Means = p.Means |> Array.map (fun mu -> location + scale * mu)
          Variances = p.Variances |> Array.map (fun v -> scale * scale * v) }

    /// A fit of standardised data in the data's units: parameters mapped back, log-likelihoods
    /// less n·log(scale) (the Jacobian), BIC and AIC plus 2n·log(scale).
    let private fitInDataUnits (map: float * float) (f: MixtureFit) : MixtureFit =
        if isIdentity map then f
        else
            let logScale = log (snd map)
            let n = float f.SampleSize
            { f with
                Parameters = toDataUnits map f.Parameters
                LowerBound = f.LowerBound - logScale
                LogLikelihood = f.LogLikelihood - n * logScale
                MeanLogLikelihood = f.MeanLogLikelihood - logScale
                Bic = f.Bic + 2.0 * n * logScale
                Aic = f.Aic + 2.0 * n * logScale
                History = f.History |> Array.map (fun h -> { h with LowerBound = h.LowerBound - logScale; Parameters = toDataUnits map h.Parameters }) }

    let private checkRefine (o: MixtureOptions) =
        match o.Refine with
        | Some r ->
            Validation.nonNegative "Refine.Tolerance" r.Tolerance
            Validation.atLeast "Refine.MaxIterations" 1 r.MaxIterations
        | None -> ()

    /// One EM step from p: the mean log-likelihood at p (the E-step) and the M-step's parameters.
    let private emStep (ws: Workspace) (regCovar: float) (p: MixtureParameters) (pc: float[]) =
        let lower = eStep ws p.Weights p.Means pc
        let next, nextPc = mStep ws regCovar p.Means
        lower, next, nextPc

    /// The parameters as an unconstrained vector (log weights, means, log variances), and back:
    /// any vector maps to valid parameters (weights by softmax, positive variances).
    let private toTheta (p: MixtureParameters) = Array.concat [ p.Weights |> Array.map log; p.Means; p.Variances |> Array.map log ]

    let private ofTheta (k: int) (theta: float[]) =
        let top = Array.max theta.[.. k - 1]
        let e = theta.[.. k - 1] |> Array.map (fun v -> exp (v - top))
        let total = Array.sum e
        { Weights = e |> Array.map (fun v -> v / total); Means = theta.[k .. 2 * k - 1]; Variances = theta.[2 * k ..] |> Array.map exp }

    /// <summary>
    /// Continues from a restart's result with EM accelerated by SQUAREM (Varadhan and Roland 2008,
    /// "Simple and globally convergent methods for accelerating the convergence of any EM
    /// algorithm", Scand. J. Statist. 35: scheme SqS3 with a stabilising EM step): two EM steps give
    /// r = θ₁ − θ₀ and v = θ₂ − 2θ₁ + θ₀; the extrapolation θ' = θ₀ − 2αr + α²v with α = min(−1, −‖r‖/‖v‖)
    /// (α = −1 is plain EM's θ₂) is followed by one EM step, and kept only if its log-likelihood is at
    /// least that at θ₁ (else θ₂: never worse than EM). On overlapping mixtures, where EM converges
    /// linearly and slowly, it needs several times fewer steps. The history records every E-step.
    /// </summary>
    let private refine (ws: Workspace) (o: MixtureOptions) (p: MixtureParameters, conv: bool, iters: int, lower: float, history: MixtureStep[]) =
        match o.Refine with
        | None -> p, conv, iters, lower, history
        | Some r ->
            let k = p.Weights.Length
            let steps = ResizeArray<MixtureStep>(history)
            let mutable current = p
            let mutable pc = p.Variances |> Array.map (fun v -> 1.0 / sqrt v)
            let mutable best = lower
            let mutable converged = false
            let mutable used = 0
            let record (l: float) (q: MixtureParameters) =
                used <- used + 1
                steps.Add { Iteration = iters + used; LowerBound = l; Parameters = q }
            while not converged && used + 3 <= r.MaxIterations do
                let l0, p1, pc1 = emStep ws o.RegCovar current pc
                record l0 p1
                let l1, p2, pc2 = emStep ws o.RegCovar p1 pc1
                record l1 p2
                let t0, t1, t2 = toTheta current, toTheta p1, toTheta p2
                let rv = Array.map2 (-) t1 t0
                let vv = Array.init t0.Length (fun i -> t2.[i] - 2.0 * t1.[i] + t0.[i])
                let norm (a: float[]) = sqrt (a |> Array.sumBy (fun v -> v * v))
                let nv = norm vv
                let alpha = if nv > 0.0 then min -1.0 (-(norm rv) / nv) else -1.0
                let extrapolated = Array.init t0.Length (fun i -> t0.[i] - 2.0 * alpha * rv.[i] + alpha * alpha * vv.[i])
                let accepted =
                    if alpha = -1.0 || not (Array.forall Double.IsFinite extrapolated) then None
                    else
                        let q = ofTheta k extrapolated
                        if not (Array.forall (fun v -> v > 0.0 && Double.IsFinite v) q.Variances) then None
                        else
                            try
                                let l, p3, pc3 = emStep ws o.RegCovar q (q.Variances |> Array.map (fun v -> 1.0 / sqrt v))
                                record l p3
                                if Double.IsFinite l && l >= l1 then Some(l, p3, pc3) else None
                            with :? InvalidOperationException -> None
                let l, next, nextPc =
                    match accepted with
                    | Some a -> a
                    | None -> l1, p2, pc2
                converged <- abs (l - best) < r.Tolerance
                best <- l
                current <- next
                pc <- nextPc
            current, converged, iters + used, best, steps.ToArray()

    /// <summary>
    /// Fits a k-component mixture by EM with <c>options.Restarts</c> initialisations; the restart
    /// with the highest final lower bound wins (scikit-learn's <c>GaussianMixture.fit</c>), and is
    /// refined when <c>options.Refine</c> says so.
    /// </summary>
    /// <param name="options">Components, initialisation, restarts, seed, tolerance, iterations, variance floor, standardisation, refinement (see <see cref="T:Research.Analysis.MixtureOptions"/>).</param>
    /// <param name="x">The data: at least 2 finite values with at least k distinct values.</param>
    /// <returns>The fit, in the data's units; <c>Converged = false</c> when the winning restart (or its refinement) used all iterations.</returns>
    /// <exception cref="T:System.ArgumentException">Bad options, NaN/infinite data, or k greater than the number of distinct values.</exception>
    [<CompiledName("Fit")>]
    let fit (options: MixtureOptions) (x: float[]) : MixtureFit =
        checkData (nameof x) x
        checkRefine options
        let map = standardisation options x
        let location, scale = map
        let z = if isIdentity map then x else x |> Array.map (fun v -> (v - location) / scale)
        let sorted = sortedCopy z
        checkOptions options sorted
        let prefix = Array.zeroCreate<float> (sorted.Length + 1)
        for i in 0 .. sorted.Length - 1 do prefix.[i + 1] <- prefix.[i] + sorted.[i]
        let ws = workspace z options.Components (options.Initialization = Random)
        let mutable best = None
        // EM is deterministic: a restart whose start equals an earlier restart's, bit for bit, ends where
        // that one ended and cannot win (the first of equal lower bounds is kept), so it is not run. In
        // one dimension k-means++ and Lloyd's iterations often reach the same intervals from different
        // seeds (at k = 1 always).
        let started = ResizeArray<MixtureParameters>()
        let same (a: MixtureParameters) (b: MixtureParameters) =
            let bits (x: float[]) (y: float[]) = Array.forall2 (fun (u: float) (v: float) -> BitConverter.DoubleToInt64Bits u = BitConverter.DoubleToInt64Bits v) x y
            bits a.Weights b.Weights && bits a.Means b.Means && bits a.Variances b.Variances
        for r in 0 .. options.Restarts - 1 do
            let rng = Xoshiro256StarStar(options.Seed, int64 r)
            let start, startPc = initialise ws sorted prefix options.Initialization options.RegCovar rng
            if not (started.Exists(fun earlier -> same earlier start)) then
                started.Add start
                let (p, conv, it, lower, hist) = em ws options start startPc
                match best with
                | Some (_, _, _, bestLower, _) when not (lower > bestLower) -> ()
                | _ -> best <- Some (p, conv, it, lower, hist)
        let (p, conv, it, lower, hist) = refine ws options best.Value
        finish ws z options p conv it lower hist |> fitInDataUnits map

    /// <summary>
    /// Runs EM from given initial parameters (scikit-learn with <c>weights_init</c>, <c>means_init</c>
    /// and <c>precisions_init = 1 / Variances</c>, <c>n_init = 1</c>): deterministic, for following a
    /// reference trajectory or refining a previous fit.
    /// </summary>
    /// <param name="options">Tolerance, MaxIterations, RegCovar, Standardize and Refine are used; Components must equal the length of <paramref name="start"/>'s arrays.</param>
    /// <param name="start">Initial weights (positive, summing to 1), means and variances (positive), in the data's units.</param>
    /// <param name="x">The data: at least 2 finite values.</param>
    /// <returns>The fit, with the history of every iteration.</returns>
    /// <exception cref="T:System.ArgumentException">Bad options, inconsistent or invalid start parameters, or bad data.</exception>
    [<CompiledName("FitFrom")>]
    let fitFrom (options: MixtureOptions) (start: MixtureParameters) (x: float[]) : MixtureFit =
        checkData (nameof x) x
        checkParameters (nameof start) start
        checkRefine options
        if start.Weights.Length <> options.Components then
            invalidArg (nameof start) $"expected {options.Components} components (options.Components), got {start.Weights.Length}"
        let map = standardisation options x
        let location, scale = map
        let z = if isIdentity map then x else x |> Array.map (fun v -> (v - location) / scale)
        checkOptions options (sortedCopy z)
        let ws = workspace z options.Components false
        let startCopy =
            { Weights = Array.copy start.Weights
              Means = start.Means |> Array.map (fun mu -> (mu - location) / scale)
              Variances = start.Variances |> Array.map (fun v -> v / (scale * scale)) }
        // sklearn: precisions_cholesky_ = sqrt(precisions_init)
        let pc = startCopy.Variances |> Array.map (fun v -> sqrt (1.0 / v))
        let o = { options with Restarts = 1 }
        let (p, conv, it, lower, hist) = em ws o startCopy pc |> refine ws o
        finish ws z o p conv it lower hist |> fitInDataUnits map

    let private checkModel (p: MixtureParameters) = checkParameters "model" p

    /// <summary>The mixture density Σ_k w_k N(x; μ_k, σ_k²) at each point.</summary>
    /// <param name="model">The mixture parameters (e.g. <c>fit.Parameters</c>).</param>
    /// <param name="x">Where to evaluate; finite values.</param>
    /// <returns>The densities, one per point.</returns>
    [<CompiledName("Density")>]
    let density (model: MixtureParameters) (x: float[]) : float[] =
        checkModel model
        Validation.notNull (nameof x) x
        Validation.allFinite (nameof x) x
        let k = model.Weights.Length
        x |> Array.map (fun xi ->
            let mutable s = 0.0
            for j in 0 .. k - 1 do
                let d = xi - model.Means.[j]
                s <- s + model.Weights.[j] * exp (-0.5 * d * d / model.Variances.[j]) / sqrt (2.0 * Math.PI * model.Variances.[j])
            s)

    /// <summary>Log of the mixture density at each point, by log-sum-exp (no underflow in the tails).</summary>
    /// <param name="model">The mixture parameters.</param>
    /// <param name="x">Where to evaluate; finite values.</param>
    /// <returns>log p(x_i), one per point (scikit-learn's <c>score_samples</c>).</returns>
    [<CompiledName("LogDensity")>]
    let logDensity (model: MixtureParameters) (x: float[]) : float[] =
        checkModel model
        Validation.notNull (nameof x) x
        Validation.allFinite (nameof x) x
        let k = model.Weights.Length
        let pc = model.Variances |> Array.map (fun v -> 1.0 / sqrt v)
        let cst = Array.init k (fun j -> -0.5 * log2Pi + log pc.[j] + log model.Weights.[j])
        let lp = Array.zeroCreate<float> k
        x |> Array.map (fun xi ->
            let mutable mx = Double.NegativeInfinity
            for j in 0 .. k - 1 do
                let y = (xi - model.Means.[j]) * pc.[j]
                lp.[j] <- cst.[j] - 0.5 * y * y
                if lp.[j] > mx then mx <- lp.[j]
            let mutable s = 0.0
            for j in 0 .. k - 1 do s <- s + exp (lp.[j] - mx)
            mx + log s)

    /// <summary>Posterior probability of each component for each point (scikit-learn's <c>predict_proba</c>), by log-sum-exp.</summary>
    /// <param name="model">The mixture parameters.</param>
    /// <param name="x">The points; finite values.</param>
    /// <returns>One row per point with k probabilities summing to 1.</returns>
    [<CompiledName("Posteriors")>]
    let posteriors (model: MixtureParameters) (x: float[]) : float[][] =
        checkModel model
        Validation.notNull (nameof x) x
        Validation.allFinite (nameof x) x
        let k = model.Weights.Length
        let pc = model.Variances |> Array.map (fun v -> 1.0 / sqrt v)
        let cst = Array.init k (fun j -> -0.5 * log2Pi + log pc.[j] + log model.Weights.[j])
        x |> Array.map (fun xi ->
            let lp = Array.zeroCreate<float> k
            let mutable mx = Double.NegativeInfinity
            for j in 0 .. k - 1 do
                let y = (xi - model.Means.[j]) * pc.[j]
                lp.[j] <- cst.[j] - 0.5 * y * y
                if lp.[j] > mx then mx <- lp.[j]
            let mutable s = 0.0
            for j in 0 .. k - 1 do
                lp.[j] <- exp (lp.[j] - mx)
                s <- s + lp.[j]
            for j in 0 .. k - 1 do lp.[j] <- lp.[j] / s
            lp)

    /// <summary>The most probable component of each point (scikit-learn's <c>predict</c>).</summary>
    /// <param name="model">The mixture parameters.</param>
    /// <param name="x">The points; finite values.</param>
    /// <returns>Component indices.</returns>
    [<CompiledName("Predict")>]
    let predict (model: MixtureParameters) (x: float[]) : int[] =
        posteriors model x
        |> Array.map (fun row ->
            let mutable best = 0
            for j in 1 .. row.Length - 1 do
                if row.[j] > row.[best] then best <- j
            best)

    /// <summary>Draws a sample from the mixture: a component by its weight, then a normal value.</summary>
    /// <param name="seed">Seed of the generator (<c>Xoshiro256StarStar(seed, 0)</c>); the same seed gives the same sample.</param>
    /// <param name="count">Number of values, ≥ 1.</param>
    /// <param name="model">The mixture parameters.</param>
    /// <returns>The values and the component of each.</returns>
    [<CompiledName("Sample")>]
    let sample (seed: int64) (count: int) (model: MixtureParameters) : MixtureSample =
        checkModel model
        Validation.atLeast (nameof count) 1 count
        let rng = Xoshiro256StarStar(seed, 0L)
        let k = model.Weights.Length
        let cumulative = Array.scan (+) 0.0 model.Weights |> Array.tail
        let values = Array.zeroCreate<float> count
        let comps = Array.zeroCreate<int> count
        for i in 0 .. count - 1 do
            let u = rng.NextDouble() * cumulative.[k - 1]
            let mutable j = 0
            while j < k - 1 && u >= cumulative.[j] do j <- j + 1
            comps.[i] <- j
            values.[i] <- model.Means.[j] + sqrt model.Variances.[j] * rng.NextNormal()
        { Values = values; Components = comps }

    /// <summary>
    /// Chooses the number of components by BIC: fits every k in <paramref name="components"/> with
    /// the same other options and keeps the fit with the lowest BIC (the first on a tie).
    /// </summary>
    /// <param name="options">Options shared by all fits (its <c>Components</c> is ignored).</param>
    /// <param name="components">The candidate numbers of components, each ≥ 1 and at most the number of distinct values.</param>
    /// <param name="x">The data.</param>
    /// <returns>Every fit in the order of <paramref name="components"/>, and the chosen one.</returns>
    [<CompiledName("SelectByBic")>]
    let selectByBic (options: MixtureOptions) (components: int[]) (x: float[]) : MixtureSelection =
        Validation.minLength (nameof components) 1 "candidate number of components" components
        checkData (nameof x) x
        let fits = components |> Array.map (fun k -> fit { options with Components = k } x)
        let mutable best = 0
        for i in 1 .. fits.Length - 1 do
            if fits.[i].Bic < fits.[best].Bic then best <- i
        { Candidates = Array.copy components; Fits = fits; Best = fits.[best]; BestComponents = components.[best] }

    /// <summary>The mixture's cumulative distribution function Σ_k w_k Φ((v − μ_k)/σ_k) at one point.</summary>
    /// <param name="model">The mixture parameters.</param>
    /// <param name="v">Where to evaluate.</param>
    [<CompiledName("Cdf")>]
    let cdf (model: MixtureParameters) (v: float) : float =
        let mutable s = 0.0
        for j in 0 .. model.Weights.Length - 1 do
            s <- s + model.Weights.[j] * MathNet.Numerics.Distributions.Normal.CDF(model.Means.[j], sqrt model.Variances.[j], v)
        s

    /// <summary>
    /// The Kolmogorov–Smirnov distance sup |F_n − F| between a sample sorted ascending and the
    /// mixture's CDF (the statistic of scipy.stats.kstest against the mixture's CDF).
    /// </summary>
    /// <param name="model">The mixture parameters.</param>
    /// <param name="sorted">Finite values sorted ascending (at least one).</param>
    [<CompiledName("KsDistanceOfSorted")>]
    let ksDistanceSorted (model: MixtureParameters) (sorted: float[]) : float =
        checkModel model
        Validation.minLength (nameof sorted) 1 "values" sorted
        let n = float sorted.Length
        let mutable d = 0.0
        for i in 0 .. sorted.Length - 1 do
            let f = cdf model sorted.[i]
            d <- max d (max (abs (f - float (i + 1) / n)) (abs (f - float i / n)))
        d
