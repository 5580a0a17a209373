namespace Research.Analysis

open System

/// <summary>Per-position quantiles of many curves of equal length: a median line and a band.</summary>
type CurveBand =
    { /// Median over curves at each position.
      Median: float[]
      /// 10% quantile over curves at each position.
      Q10: float[]
      /// 90% quantile over curves at each position.
      Q90: float[]
      /// Number of curves summarised.
      Curves: int }

/// <summary>
/// Sample quantiles by linear interpolation between order statistics: numpy's default
/// (<c>numpy.quantile(a, q)</c>, method "linear", Hyndman and Fan 1996 type 7), computed exactly as
/// numpy 1.24 does it, including its <c>_lerp</c> form (a + (b − a)·γ below γ = ½, b − (b − a)·(1 − γ)
/// from ½ on), so results agree with numpy to the last bit.
/// </summary>
/// <remarks>The one quantile of the toolkit: bootstrap percentile intervals, bands over weights and
/// seeds, histogram ranges and report tables all use it.</remarks>
[<RequireQualifiedAccess>]
module Quantile =

    /// <summary>The q-quantile of values already sorted ascending (all finite).</summary>
    /// <param name="q">The probability, 0 ≤ q ≤ 1.</param>
    /// <param name="sorted">Finite values in ascending order.</param>
    /// <returns>The quantile; NaN for an empty array.</returns>
    /// <exception cref="T:System.ArgumentException">q outside [0, 1].</exception>
    [<CompiledName("OfSorted")>]
    let ofSorted (q: float) (sorted: float[]) : float =
        if not (q >= 0.0 && q <= 1.0) then
            invalidArg (nameof q) $"expected a probability 0 ≤ q ≤ 1, got {q}; pass a fraction (0.95), not a percentage (95)"
        let n = sorted.Length
        if n = 0 then nan
        else
            let virtualIndex = float (n - 1) * q
            let lo = max 0 (min (n - 1) (int (floor virtualIndex)))
            let hi = min (n - 1) (lo + 1)
            let gamma = virtualIndex - float lo
            let a = sorted.[lo]
            let b = sorted.[hi]
            let diff = b - a
            if gamma >= 0.5 then b - diff * (1.0 - gamma) else a + diff * gamma

    /// <summary>The q-quantile of the finite values of an array (NaN and ±∞ are left out).</summary>
    /// <param name="q">The probability, 0 ≤ q ≤ 1.</param>
    /// <param name="values">Values in any order.</param>
    /// <returns>The quantile of the finite values; NaN when there are none.</returns>
    [<CompiledName("OfFinite")>]
    let ofFinite (q: float) (values: float[]) : float =
        ofSorted q (values |> Array.filter Double.IsFinite |> Array.sort)

    /// <summary>The median of the finite values (NaN when there are none).</summary>
    [<CompiledName("Median")>]
    let median (values: float[]) : float = ofFinite 0.5 values

    /// <summary>
    /// Median and 10–90% band across curves at each position (finite values only; NaN where a
    /// position has none).
    /// </summary>
    /// <param name="curves">Curves of equal length (per weight, per seed …).</param>
    /// <returns>The band; empty arrays when there are no curves.</returns>
    /// <exception cref="T:System.ArgumentException">Curves of different lengths.</exception>
    [<CompiledName("Band")>]
    let band (curves: float[][]) : CurveBand =
        if curves.Length = 0 then { Median = [||]; Q10 = [||]; Q90 = [||]; Curves = 0 }
        else
            let t = curves.[0].Length
            curves |> Array.iteri (fun i c ->
                if c.Length <> t then
                    invalidArg (nameof curves) $"expected curves of one length {t}, got length {c.Length} at index {i}")
            let columns = Array.init t (fun i -> curves |> Array.map (fun c -> c.[i]) |> Array.filter Double.IsFinite |> Array.sort)
            { Median = columns |> Array.map (ofSorted 0.5)
              Q10 = columns |> Array.map (ofSorted 0.1)
              Q90 = columns |> Array.map (ofSorted 0.9)
              Curves = curves.Length }

    /// <summary>The mean of a curve over the 1-based positions first..last (finite values only).</summary>
    /// <param name="first">First position (1-based).</param>
    /// <param name="last">Last position (clipped to the curve's length).</param>
    /// <param name="curve">The curve.</param>
    /// <returns>The mean; NaN when the window holds no finite value.</returns>
    [<CompiledName("WindowMean")>]
    let windowMean (first: int, last: int) (curve: float[]) : float =
        let vals = [| for t in max 1 first .. min last curve.Length do if Double.IsFinite curve.[t - 1] then yield curve.[t - 1] |]
        if vals.Length = 0 then nan else Array.average vals

/// <summary>Confidence intervals for proportions.</summary>
[<RequireQualifiedAccess>]
module Proportion =

    /// <summary>
    /// The Wilson score interval for k successes in n trials (Wilson 1927; Agresti and Coull 1998),
    /// as R's <c>prop.test(k, n, correct = FALSE)$conf.int</c> and statsmodels'
    /// <c>proportion_confint(k, n, method="wilson")</c>.
    /// </summary>
    /// <param name="level">Confidence level, 0 &lt; level &lt; 1.</param>
    /// <param name="k">Successes, 0 ≤ k ≤ n.</param>
    /// <param name="n">Trials, n ≥ 1.</param>
    /// <returns>(lower, upper).</returns>
    [<CompiledName("Wilson")>]
    let wilson (level: float) (k: int) (n: int) : float * float =
        Validation.openUnitInterval (nameof level) level
        if n < 1 then invalidArg (nameof n) $"expected at least 1 trial, got {n}"
        if k < 0 || k > n then invalidArg (nameof k) $"expected 0 ≤ k ≤ n = {n}, got {k}"
        let z = MathNet.Numerics.Distributions.Normal.InvCDF(0.0, 1.0, 1.0 - (1.0 - level) / 2.0)
        let nf = float n
        let p = float k / nf
        let d = 1.0 + z * z / nf
        let c = (p + z * z / (2.0 * nf)) / d
        let h = z * sqrt (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)) / d
        c - h, c + h

/// <summary>Histograms as densities.</summary>
[<RequireQualifiedAccess>]
module Histogram =

    /// <summary>
    /// A histogram of values sorted ascending, as densities (area 1 over all values) on equal-width
    /// bins spanning the [lowQ, highQ] quantiles (values outside are counted in the total only).
    /// </summary>
    /// <param name="bins">Number of bins ≥ 1.</param>
    /// <param name="lowQ">Quantile of the left edge (e.g. 0.005).</param>
    /// <param name="highQ">Quantile of the right edge (e.g. 0.995).</param>
    /// <param name="sorted">Finite values sorted ascending (at least one).</param>
    /// <returns>Bin edges (bins + 1) and densities (bins). A constant sample gets one unit-wide range around it.</returns>
    [<CompiledName("DensityOfSorted")>]
    let densityOfSorted (bins: int) (lowQ: float, highQ: float) (sorted: float[]) : float[] * float[] =
        Validation.atLeast (nameof bins) 1 bins
        Validation.minLength (nameof sorted) 1 "values" sorted
        let lo = Quantile.ofSorted lowQ sorted
        let hi = Quantile.ofSorted highQ sorted
        let lo, hi = if hi > lo then lo, hi else lo - 0.5, lo + 0.5
        let width = (hi - lo) / float bins
        let counts = Array.zeroCreate<float> bins
        for v in sorted do
            if v >= lo && v <= hi then
                let b = min (bins - 1) (int ((v - lo) / width))
                counts.[b] <- counts.[b] + 1.0
        let total = float sorted.Length
        Array.init (bins + 1) (fun i -> lo + float i * width), counts |> Array.map (fun c -> c / (total * width))
