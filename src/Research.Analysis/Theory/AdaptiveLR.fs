namespace Research.Analysis

open System

/// <summary>What RAdam does at one step: rectify Adam's adaptive learning rate, or not use it.</summary>
type RadamStep =
    /// ρ_t is above the threshold: the step is lr·m̂_t·r_t·ψ_t. Carries r_t and the rectified
    /// adaptive learning rate r_t·ψ_t.
    | Adapted of rectification: float * rectifiedPsi: float
    /// ρ_t is at or below the threshold: RAdam takes the un-adapted step lr·m̂_t (SGD with
    /// momentum); ψ_t is not used, and r_t may not even be a real number (t = 3, 4 for β₂ = 0.999).
    | Unadapted

    /// <summary>The rectified ψ as an option: <c>Some (r_t·ψ_t)</c> when adapted, <c>None</c> otherwise.</summary>
    member s.RectifiedPsi : float option =
        match s with
        | Adapted (_, v) -> Some v
        | Unadapted -> None

/// <summary>
/// The theory of Adam's adaptive learning rate and RAdam's rectification, from Liu et al.,
/// "On the Variance of the Adaptive Learning Rate and Beyond" (ICLR 2020).
/// </summary>
/// <remarks>
/// <para>For one weight with gradients g₁, g₂, …, Adam's adaptive learning rate after t steps
/// (without ε) is ψ_t = √((1 − β₂^t) / ((1 − β₂) Σᵢ₌₁..t β₂^(t−i) gᵢ²)). If the g are
/// N(0, σ²), ψ_t² is approximately a scaled inverse χ² with ρ_t degrees of freedom, where
/// ρ_∞ = 2/(1 − β₂) − 1 and ρ_t = ρ_∞ − 2tβ₂^t/(1 − β₂^t) (the paper's eq. 5/6). Its variance
/// is approximately Var[ψ_t] ≈ ρ_t / (2(ρ_t − 2)(ρ_t − 4)σ²) (Theorem 2; finite only for ρ_t &gt; 4),
/// and RAdam multiplies ψ_t by r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t)) so that
/// Var[r_t ψ_t] equals the limit ρ_∞/(2(ρ_∞ − 2)(ρ_∞ − 4)σ²).</para>
/// <para><b>Where rectification is undefined.</b> The paper rectifies when ρ_t &gt; 4;
/// PyTorch's <c>torch.optim.RAdam</c> (1.13) when ρ_t &gt; 5, which with β₂ = 0.999 makes steps
/// 1–5 un-adapted and step 6 the first rectified one. Below the threshold RAdam takes the
/// un-adapted step lr·m̂_t. The radicand of r_t is negative for 2 &lt; ρ_t &lt; 4 (t = 3, 4 with
/// β₂ = 0.999), so r_t is not a real number there; at t = 1, 2 (ρ_t &lt; 2) it is real but
/// meaningless. These cases are explicit in the types: <c>tryRectification</c> returns an
/// option, <c>radamSteps</c> returns <see cref="T:Research.Analysis.RadamStep"/>, and the theoretical
/// variance is an option that is <c>None</c> for ρ_t ≤ 4. Nothing here returns NaN.</para>
/// <para><b>Precision.</b> 1 − β₂^t is computed as −expm1(t·ln β₂). The textbook ρ_t subtracts two
/// numbers near ρ_∞ and loses about 3e-8 relative at t = 2 (numpy's value in the reference); here
/// ρ_t = 1 + 2A_t/(1 − β₂^t) with A_t = (1 − β₂) Σ_{j&lt;t} j β₂^j, a sum of positive terms, whenever
/// the textbook form would cancel (ρ_t &lt; ρ_∞/4); otherwise the textbook form, which is then
/// accurate. Verified against <c>../shared/reference/psi.json</c>: ψ_t, ρ_t, r_t, r_t·ψ_t and the
/// theoretical variances equal numpy's values to 1e-12 relative wherever numpy's own value is that
/// accurate (numpy's textbook ρ_t is off by up to 1.4e-11 at t = 2, 4, 5, 7 and its r_2 by 3e-8), and
/// the 40-digit mpmath values at every t including t = 2: ρ_t within 5e-16, r_t within 1.5e-13
/// relative (the remaining error is the cancellation in ρ_2 − 2).</para>
/// </remarks>
[<RequireQualifiedAccess>]
module AdaptiveLR =

    /// <summary>PyTorch's RAdam threshold: rectify when ρ_t &gt; 5.</summary>
    [<Literal>]
    let PyTorchThreshold = 5.0

    /// <summary>The paper's threshold: rectify when ρ_t &gt; 4.</summary>
    [<Literal>]
    let PaperThreshold = 4.0

    let private checkBeta2 (beta2: float) = Validation.openUnitInterval (nameof beta2) beta2

    /// <summary>ρ_∞ = 2/(1 − β₂) − 1, the maximum length of the approximated simple moving average.</summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <returns>ρ_∞ (1999 for β₂ = 0.999).</returns>
    [<CompiledName("RhoInfinity")>]
    let rhoInfinity (beta2: float) : float =
        checkBeta2 beta2
        2.0 / (1.0 - beta2) - 1.0

    /// 1 − β^t without cancellation.
    let private oneMinusPow (logBeta: float) (t: int) = -(Accurate.expm1 (float t * logBeta))

    /// ρ_t for t = 1..count, by the cancellation-free sum while it is small, else the closed form.
    let private rhoSequence (beta2: float) (count: int) : float[] =
        let rinf = 2.0 / (1.0 - beta2) - 1.0
        let lb = log beta2
        let oneMinusBeta = 1.0 - beta2
        let out = Array.zeroCreate<float> count
        // A_t = (1 − β) Σ_{j=1}^{t−1} j β^j, built as A_{t+1} = A_t + t β^t (1 − β)
        let mutable a = 0.0
        let mutable useSum = true
        for t in 1 .. count do
            let d = oneMinusPow lb t
            let closed = rinf - 2.0 * float t * exp (float t * lb) / d
            if useSum && closed < rinf / 4.0 then
                out.[t - 1] <- 1.0 + 2.0 * a / d
            else
                useSum <- false
                out.[t - 1] <- closed
            a <- a + float t * exp (float t * lb) * oneMinusBeta
        out

    /// <summary>
    /// ρ_t = ρ_∞ − 2tβ₂^t/(1 − β₂^t), the degrees of freedom of the approximated simple moving
    /// average after t steps, computed without the cancellation of the textbook form.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="t">The step, t ≥ 1.</param>
    /// <returns>ρ_t (1 at t = 1, increasing towards ρ_∞).</returns>
    [<CompiledName("Rho")>]
    let rho (beta2: float) (t: int) : float =
        checkBeta2 beta2
        Validation.atLeast (nameof t) 1 t
        let rinf = 2.0 / (1.0 - beta2) - 1.0
        let lb = log beta2
        let closed = rinf - 2.0 * float t * exp (float t * lb) / oneMinusPow lb t
        if closed >= rinf / 4.0 then closed else (rhoSequence beta2 t).[t - 1]

    /// <summary>ρ_t for every step t = 1..steps (O(steps)).</summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="steps">The number of steps T ≥ 1.</param>
    /// <returns>ρ_1 … ρ_T.</returns>
    [<CompiledName("RhoSequence")>]
    let rhos (beta2: float) (steps: int) : float[] =
        checkBeta2 beta2
        Validation.atLeast (nameof steps) 1 steps
        rhoSequence beta2 steps

    let private rectificationOf (rinf: float) (rhoT: float) : float option =
        if not (rinf > 4.0) then None
        else
            let radicand = (rhoT - 4.0) * (rhoT - 2.0) * rinf / ((rinf - 4.0) * (rinf - 2.0) * rhoT)
            if radicand >= 0.0 then Some (sqrt radicand) else None

    /// <summary>
    /// The rectification term r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t)) where it is a
    /// real number.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="t">The step, t ≥ 1.</param>
    /// <returns><c>Some r_t</c> where the radicand is ≥ 0; <c>None</c> for 2 &lt; ρ_t &lt; 4 (t = 3, 4 with
    /// β₂ = 0.999) and whenever ρ_∞ ≤ 4 (β₂ ≤ 0.6). Note that r_t at ρ_t &lt; 2 (t = 1, 2) is real but
    /// not used by RAdam; use <c>radamSteps</c> for what RAdam does.</returns>
    [<CompiledName("TryRectification")>]
    let tryRectification (beta2: float) (t: int) : float option =
        let r = rho beta2 t
        rectificationOf (rhoInfinity beta2) r

    /// <summary>
    /// Adam's adaptive learning rate on every prefix of a gradient series:
    /// ψ_t = √((1 − β₂^t) / ((1 − β₂) Σᵢ₌₁..t β₂^(t−i) gᵢ²)), t = 1..T.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="g">The gradients g₁..g_T of one weight: at least one finite value.</param>
    /// <returns>ψ_1 … ψ_T; +∞ at t while g₁..g_t are all exactly zero (Adam's step without ε is unbounded there).</returns>
    [<CompiledName("Psi")>]
    let psi (beta2: float) (g: float[]) : float[] =
        checkBeta2 beta2
        Validation.minLength (nameof g) 1 "gradient values" g
        Validation.allFinite (nameof g) g
        let lb = log beta2
        let oneMinusBeta = 1.0 - beta2
        let out = Array.zeroCreate<float> g.Length
        let mutable s = 0.0
        for i in 0 .. g.Length - 1 do
            s <- beta2 * s + g.[i] * g.[i]
            out.[i] <- if s > 0.0 then sqrt (oneMinusPow lb (i + 1) / (oneMinusBeta * s)) else Double.PositiveInfinity
        out

    /// <summary>
    /// What RAdam does at every step t = 1..T of a gradient series: <c>Adapted (r_t, r_t·ψ_t)</c>
    /// where ρ_t exceeds the threshold, <c>Unadapted</c> (an SGD-with-momentum step) elsewhere.
    /// </summary>
    /// <param name="threshold">Rectify when ρ_t &gt; threshold: <c>AdaptiveLR.PyTorchThreshold</c> (5) or
    /// <c>AdaptiveLR.PaperThreshold</c> (4); must be ≥ 4, where r_t is real.</param>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="g">The gradients g₁..g_T: at least one finite value.</param>
    /// <returns>One step per t.</returns>
    [<CompiledName("RadamSteps")>]
    let radamSteps (threshold: float) (beta2: float) (g: float[]) : RadamStep[] =
        if not (threshold >= 4.0 && not (Double.IsInfinity threshold)) then
            invalidArg (nameof threshold) $"expected a threshold ≥ 4 (r_t is not real below ρ_t = 4; PyTorch uses 5, the paper 4), got {Validation.formatValue threshold}"
        let p = psi beta2 g
        let rs = rhoSequence beta2 g.Length
        let rinf = rhoInfinity beta2
        Array.init g.Length (fun i ->
            if rs.[i] > threshold then
                match rectificationOf rinf rs.[i] with
                | Some r -> Adapted (r, r * p.[i])
                | None -> Unadapted
            else Unadapted)

    /// <summary>
    /// The paper's approximation of the variance of ψ_t for N(0, σ²) gradients (Theorem 2):
    /// Var[ψ_t] ≈ ρ_t / (2(ρ_t − 2)(ρ_t − 4)σ²).
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0 &lt; β₂ &lt; 1.</param>
    /// <param name="sigma2">The gradient variance σ² &gt; 0.</param>
    /// <param name="t">The step, t ≥ 1.</param>
    /// <returns><c>Some variance</c> where ρ_t &gt; 4 (the approximation is finite and positive only
    /// there; t ≥ 5 for β₂ = 0.999), else <c>None</c>.</returns>
    [<CompiledName("TryTheoreticalVariance")>]
    let tryTheoreticalVariance (beta2: float) (sigma2: float) (t: int) : float option =
        Validation.positive (nameof sigma2) sigma2
        let r = rho beta2 t
        if r > 4.0 then Some (r / (2.0 * (r - 2.0) * (r - 4.0) * sigma2)) else None

    /// <summary>
    /// The variance RAdam's rectification aims at, Var[r_t ψ_t] ≈ ρ_∞ / (2(ρ_∞ − 2)(ρ_∞ − 4)σ²), the
    /// limit of <c>tryTheoreticalVariance</c> as t → ∞.
    /// </summary>
    /// <param name="beta2">Adam's β₂, 0.6 &lt; β₂ &lt; 1 (so that ρ_∞ &gt; 4).</param>
    /// <param name="sigma2">The gradient variance σ² &gt; 0.</param>
    /// <returns>The limiting variance.</returns>
    [<CompiledName("RectifiedTheoreticalVariance")>]
    let rectifiedTheoreticalVariance (beta2: float) (sigma2: float) : float =
        Validation.positive (nameof sigma2) sigma2
        let rinf = rhoInfinity beta2
        if not (rinf > 4.0) then
            invalidArg (nameof beta2) $"expected β2 > 0.6 (so that ρ∞ = 2/(1 − β2) − 1 > 4 and the variance is finite), got {Validation.formatValue beta2}"
        rinf / (2.0 * (rinf - 2.0) * (rinf - 4.0) * sigma2)
