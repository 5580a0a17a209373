namespace Research.Analysis

open System

/// <summary>
/// Argument checks shared by the statistics modules. Each check raises
/// <see cref="T:System.ArgumentException"/> at once, with the parameter's name, what was expected,
/// the value received and, where there is one, a way to fix the call.
/// </summary>
/// <remarks>
/// These are for caller errors (empty input, NaN, a p-value of 1.5). Data-dependent outcomes such
/// as an EM run that does not converge are reported as values in the result records instead.
/// </remarks>
module Validation =

    let private describe (x: float) =
        if Double.IsNaN x then "NaN"
        elif Double.IsPositiveInfinity x then "+infinity"
        elif Double.IsNegativeInfinity x then "-infinity"
        else x.ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// <summary>Formats a float for an error message (NaN and infinities spelled out).</summary>
    /// <param name="x">The value to format.</param>
    /// <returns>The round-trip text of <paramref name="x"/>.</returns>
    let formatValue (x: float) : string = describe x

    /// <summary>Raises when <paramref name="value"/> is null.</summary>
    /// <param name="name">The parameter's name, as the caller spells it.</param>
    /// <param name="value">The array to check.</param>
    let notNull (name: string) (value: 'T[]) : unit =
        if isNull value then
            raise (ArgumentNullException(name, $"{name}: expected an array, got null"))

    /// <summary>Raises unless the array has at least <paramref name="minimum"/> elements.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="minimum">The smallest acceptable length.</param>
    /// <param name="what">What the array holds and why the minimum, e.g. "observations (Shapiro–Wilk needs n ≥ 3)".</param>
    /// <param name="value">The array to check.</param>
    let minLength (name: string) (minimum: int) (what: string) (value: 'T[]) : unit =
        notNull name value
        if value.Length < minimum then
            let got = if value.Length = 0 then "an empty array" else $"{value.Length} element(s)"
            invalidArg name $"expected at least {minimum} {what}, got {got}"

    /// <summary>Raises on the first NaN or infinite element, naming its index and value.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="value">The array to check.</param>
    let allFinite (name: string) (value: float[]) : unit =
        notNull name value
        for i in 0 .. value.Length - 1 do
            let x = value.[i]
            if Double.IsNaN x || Double.IsInfinity x then
                invalidArg name
                    $"expected finite values, got {describe x} at index {i}; remove or impute missing values before the call"

    /// <summary>Single-precision twin of <see cref="M:Research.Analysis.Validation.allFinite"/>.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="value">The array to check.</param>
    let allFinite32 (name: string) (value: float32[]) : unit =
        notNull name value
        for i in 0 .. value.Length - 1 do
            let x = value.[i]
            if Single.IsNaN x || Single.IsInfinity x then
                invalidArg name
                    $"expected finite values, got {describe (float x)} at index {i}; remove or impute missing values before the call"

    /// <summary>Raises unless every element lies in [0, 1] (NaN included in the failure).</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="value">The p-values to check.</param>
    let allProbabilities (name: string) (value: float[]) : unit =
        notNull name value
        for i in 0 .. value.Length - 1 do
            let p = value.[i]
            if not (p >= 0.0 && p <= 1.0) then
                invalidArg name $"expected p-values in [0, 1], got {describe p} at index {i}"

    /// <summary>Raises unless <c>0 &lt; x &lt; 1</c>.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="x">The value to check (a level such as alpha or a confidence level).</param>
    let openUnitInterval (name: string) (x: float) : unit =
        if not (x > 0.0 && x < 1.0) then
            invalidArg name $"expected 0 < {name} < 1, got {describe x}"

    /// <summary>Raises unless <c>x &gt; 0</c> and finite.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="x">The value to check.</param>
    let positive (name: string) (x: float) : unit =
        if not (x > 0.0 && not (Double.IsInfinity x)) then
            invalidArg name $"expected a finite {name} > 0, got {describe x}"

    /// <summary>Raises unless <c>x ≥ 0</c> and finite.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="x">The value to check.</param>
    let nonNegative (name: string) (x: float) : unit =
        if not (x >= 0.0 && not (Double.IsInfinity x)) then
            invalidArg name $"expected a finite {name} ≥ 0, got {describe x}"

    /// <summary>Raises unless the integer is at least <paramref name="minimum"/>.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="minimum">The smallest acceptable value.</param>
    /// <param name="x">The value to check.</param>
    let atLeast (name: string) (minimum: int) (x: int) : unit =
        if x < minimum then invalidArg name $"expected {name} ≥ {minimum}, got {x}"

    /// <summary>Raises unless two arrays have the same length.</summary>
    /// <param name="name">The name of the second array (the one reported as wrong).</param>
    /// <param name="expected">The length it must have.</param>
    /// <param name="reference">What the expected length comes from, e.g. "weights".</param>
    /// <param name="value">The array to check.</param>
    let sameLength (name: string) (expected: int) (reference: string) (value: 'T[]) : unit =
        notNull name value
        if value.Length <> expected then
            invalidArg name $"expected {expected} elements (the length of {reference}), got {value.Length}"

    /// <summary>
    /// Raises when the sample has zero range (all values identical): a statistic that divides by
    /// the spread is undefined there.
    /// </summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="what">Which procedure needs a spread, for the message.</param>
    /// <param name="value">The sample.</param>
    let notConstant (name: string) (what: string) (value: float[]) : unit =
        if value.Length > 0 then
            let mutable lo = value.[0]
            let mutable hi = value.[0]
            for x in value do
                if x < lo then lo <- x
                if x > hi then hi <- x
            if hi = lo then
                invalidArg name
                    $"expected a sample with non-zero range, got {value.Length} identical values ({describe lo}); {what} is undefined for a constant sample"
