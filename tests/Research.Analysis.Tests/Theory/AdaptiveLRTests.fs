/// Tests of AdaptiveLR against ../shared/reference/psi.json (numpy float64 closed forms as in the
/// notebook, and 40-digit mpmath values with β₂ taken as the double 0.999).
module Research.Analysis.Tests.AdaptiveLRTests

open System
open Expecto
open Research.Analysis
open Research.Tests
open Research.Analysis.Tests.Support

let private root = lazy (Reference.load "psi.json")

/// β₂ of the file (0.999 in psi.json; read, not assumed).
let private beta = lazy (Reference.num (Reference.prop "beta" root.Value))
let private column (name: string) = Reference.floats (Reference.prop name root.Value)
let private mp40 (name: string) = Reference.floats (Reference.prop name (Reference.prop "mp40_beta_as_double" root.Value))

/// The issue's tolerance: 1e-12 relative.
let private tol = 1e-12

/// Steps where numpy's textbook value is itself accurate to `tol` (judged by the 40-digit column):
/// the numpy column is only a valid judge there. Everywhere, we are compared with mpmath.
let private numpyAccurate (numpy: float[]) (exact: float[]) t =
    let a, e = numpy.[t - 1], exact.[t - 1]
    not (Double.IsNaN a) && abs (a - e) <= tol * abs e

type private Series =
    { Name: string; G: float[]; Psi: float[]; Rectified: float[]; Recursive: float[]; Sigma2: float
      TheoryVar: float[]; TheoryVarRectified: float[]; MpPsi: float[]; MpRectified: float[] }

/// Every series of psi.json, each parsed on its own (one that cannot be read, or whose columns do not
/// have one value per gradient, is one failing test).
let private series =
    lazy (
        referenceCases "psi.json" (fun () -> root.Value) "series" (fun _ s ->
            let mp = Reference.prop "mp40_with_beta_as_double" s
            let c =
                { Name = (Reference.prop "name" s).GetString()
                  G = Reference.floats (Reference.prop "g" s)
                  Psi = Reference.floats (Reference.prop "psi_t" s)
                  Rectified = Reference.floats (Reference.prop "rectified_psi_t" s)
                  Recursive = Reference.floats (Reference.prop "psi_t_recursive_form" s)
                  Sigma2 = Reference.num (Reference.prop "sigma2_var_ddof0" s)
                  TheoryVar = Reference.floats (Reference.prop "theory_var" s)
                  TheoryVarRectified = Reference.floats (Reference.prop "theory_var_rectified" s)
                  MpPsi = Reference.floats (Reference.prop "psi_t" mp)
                  MpRectified = Reference.floats (Reference.prop "rectified_psi_t" mp) }
            for name, column in [ "psi_t", c.Psi; "rectified_psi_t", c.Rectified; "psi_t_recursive_form", c.Recursive
                                  "theory_var", c.TheoryVar; "theory_var_rectified", c.TheoryVarRectified
                                  "mp40 psi_t", c.MpPsi; "mp40 rectified_psi_t", c.MpRectified ] do
                if column.Length <> c.G.Length then
                    failwithf "%s has %d values for %d gradients" name column.Length c.G.Length
            c))

/// The steps of the file's per-t columns (t = 1..T with T the length of its "t" list).
let private steps = lazy [ 1 .. (Reference.prop "t" root.Value).GetArrayLength() ]

/// The steps of a series that the file's per-t columns (ρ_t, r_t) cover.
let private seriesSteps (s: Series) = [ 1 .. min s.G.Length steps.Value.Length ]

[<Tests>]
let tests =
    testList "Theory.AdaptiveLR" [
        testCase "ρ∞ = 2/(1 − β₂) − 1 (psi.json rho_inf)" <| fun () ->
            closeRel 1e-15 "ρ∞" (Reference.num (Reference.prop "rho_inf" root.Value)) (AdaptiveLR.rhoInfinity beta.Value)

        testList "ρ_t (psi.json)" [
            testCase "vs mpmath 40 digits, every t = 1..100, 1e-13 relative (t = 2 included)" <| fun () ->
                let exact = mp40 "rho_t"
                for t in steps.Value do closeRel 1e-13 $"ρ_{t}" exact.[t - 1] (AdaptiveLR.rho beta.Value t)
            testCase "vs numpy closed form, 1e-12 relative, where numpy is itself accurate to 1e-12" <| fun () ->
                let numpy, exact = column "rho_t", mp40 "rho_t"
                let checkedSteps = steps.Value |> List.filter (numpyAccurate numpy exact)
                // numpy loses 1.4e-11 at t = 2 and 1e-12..5e-12 at t = 4, 5, 7 by cancellation
                Expect.isGreaterThanOrEqual checkedSteps.Length 95 "numpy is accurate at most steps"
                for t in checkedSteps do closeRel tol $"ρ_{t}" numpy.[t - 1] (AdaptiveLR.rho beta.Value t)
            testCase "rhos (the O(T) sequence) equals rho at every t" <| fun () ->
                let all = AdaptiveLR.rhos beta.Value steps.Value.Length
                for t in steps.Value do Expect.equal all.[t - 1] (AdaptiveLR.rho beta.Value t) $"ρ_{t}"
            testCase "ρ_t beyond the switch to the closed form stays within 1e-13 of the cancellation-free sum" <| fun () ->
                // at t = 2000 the closed form is used; check continuity against the explicit sum
                let t = 2000
                let lb = log beta.Value
                let a = (1.0 - beta.Value) * (Seq.sum (seq { for j in 1 .. t - 1 -> float j * exp (float j * lb) }))
                let bySum = 1.0 + 2.0 * a / -(Math.Exp(float t * lb) - 1.0)
                closeRel 1e-12 "ρ_2000" bySum (AdaptiveLR.rho beta.Value t)
        ]

        testList "r_t (psi.json)" [
            testCase "undefined (None) exactly where the reference has null: t = 3, 4" <| fun () ->
                let numpy = column "r_t"
                for t in steps.Value do
                    let r = AdaptiveLR.tryRectification beta.Value t
                    Expect.equal r.IsNone (Double.IsNaN numpy.[t - 1]) $"r_{t} defined?"
            testCase "vs mpmath 40 digits where defined, 1e-12 relative (t = 2 included)" <| fun () ->
                let exact = mp40 "r_t"
                for t in steps.Value do
                    match AdaptiveLR.tryRectification beta.Value t with
                    | Some r -> closeRel tol $"r_{t}" exact.[t - 1] r
                    | None -> Expect.isTrue (Double.IsNaN exact.[t - 1]) $"r_{t} undefined in mpmath too"
            testCase "vs numpy closed form where numpy is accurate to 1e-12" <| fun () ->
                let numpy, exact = column "r_t", mp40 "r_t"
                for t in steps.Value |> List.filter (numpyAccurate numpy exact) do
                    closeRel tol $"r_{t}" numpy.[t - 1] (AdaptiveLR.tryRectification beta.Value t).Value
            testCase "vs the exact-decimal β₂ = 0.999 mpmath column at t ≥ 5 to 1e-12 (β₂ as a double differs by 1e-16)" <| fun () ->
                let dec = Reference.floats (Reference.prop "r_t" (Reference.prop "mp40_beta_exact_decimal" root.Value))
                for t in steps.Value |> List.filter (fun t -> t >= 5) do closeRel tol $"r_{t}" dec.[t - 1] (AdaptiveLR.tryRectification beta.Value t).Value
        ]

        testList "ψ_t on the psi.json gradient series" [
            yield! testCases (series.Force()) (fun s ->
              [ testCase $"{s.Name}: vs numpy (sum and recursive forms) and mpmath, 1e-12 relative" <| fun () ->
                    let psi = AdaptiveLR.psi beta.Value s.G
                    for t in 1 .. s.G.Length do
                        closeRel tol $"ψ_{t} numpy" s.Psi.[t - 1] psi.[t - 1]
                        closeRel tol $"ψ_{t} numpy recursive" s.Recursive.[t - 1] psi.[t - 1]
                        closeRel tol $"ψ_{t} mpmath" s.MpPsi.[t - 1] psi.[t - 1] ])
        ]

        testList "RAdam steps on the psi.json series" [
            yield! testCases (series.Force()) (fun s ->
              [ testCase $"{s.Name}: paper threshold (ρ_t > 4): t ≤ 4 unadapted, r_t·ψ_t from t = 5 vs mpmath" <| fun () ->
                    let st = AdaptiveLR.radamSteps AdaptiveLR.PaperThreshold beta.Value s.G
                    for t in 1 .. s.G.Length do
                        match st.[t - 1] with
                        | Adapted (_, v) ->
                            Expect.isGreaterThanOrEqual t 5 $"t = {t} adapted"
                            closeRel tol $"r_{t}ψ_{t} mpmath" s.MpRectified.[t - 1] v
                        | Unadapted -> Expect.isLessThanOrEqual t 4 $"t = {t} unadapted"
                testCase $"{s.Name}: PyTorch threshold (ρ_t > 5): steps 1–5 unadapted, from 6 adapted; vs numpy where accurate" <| fun () ->
                    let st = AdaptiveLR.radamSteps AdaptiveLR.PyTorchThreshold beta.Value s.G
                    for t in 1 .. s.G.Length do
                        match st.[t - 1] with
                        | Adapted (r, v) ->
                            Expect.isGreaterThanOrEqual t 6 $"t = {t} adapted"
                            closeRel 1e-15 "value = r·ψ" (r * (AdaptiveLR.psi beta.Value s.G).[t - 1]) v
                            if numpyAccurate s.Rectified s.MpRectified t then
                                closeRel tol $"r_{t}ψ_{t} numpy" s.Rectified.[t - 1] v
                        | Unadapted -> Expect.isLessThanOrEqual t 5 $"t = {t} unadapted"
                    if beta.Value = 0.999 && s.G.Length >= 6 then
                        Expect.isNone st.[4].RectifiedPsi "step 5 (ρ_5 = 4.996 ≤ 5)"
                        Expect.isSome st.[5].RectifiedPsi "step 6" ])
        ]

        testList "theoretical variance (psi.json theory_var, theory_var_rectified)" [
            yield! testCases (series.Force()) (fun s ->
              [ testCase $"{s.Name}: None for ρ_t ≤ 4 (t ≤ 4); the paper's formula at the 40-digit ρ_t, and numpy where its ρ_t is accurate" <| fun () ->
                    let rhoExact = mp40 "rho_t"
                    let numpyRho = column "rho_t"
                    for t in seriesSteps s do
                        match AdaptiveLR.tryTheoreticalVariance beta.Value s.Sigma2 t with
                        | None -> Expect.isLessThanOrEqual t 4 $"t = {t}"
                        | Some v ->
                            Expect.isGreaterThanOrEqual t 5 $"t = {t}"
                            let r = rhoExact.[t - 1]
                            closeRel tol $"Var ψ_{t} (mpmath ρ)" (r / (2.0 * (r - 2.0) * (r - 4.0) * s.Sigma2)) v
                            if abs (numpyRho.[t - 1] - r) <= 1e-14 * r then
                                closeRel tol $"Var ψ_{t} numpy" s.TheoryVar.[t - 1] v
                            closeRel tol $"Var r_{t}ψ_{t} numpy" s.TheoryVarRectified.[t - 1] (AdaptiveLR.rectifiedTheoreticalVariance beta.Value s.Sigma2) ])
        ]

        testList "bad input: the error names the argument and the problem" [
            testCase "β₂ = 1" <| fun () ->
                throwsArg "beta2" [ "0 < beta2 < 1"; "got 1" ] (fun () -> AdaptiveLR.rho 1.0 5)
            testCase "t = 0" <| fun () ->
                throwsArg "t" [ "t ≥ 1"; "got 0" ] (fun () -> AdaptiveLR.rho 0.999 0)
            testCase "empty gradient series" <| fun () ->
                throwsArg "g" [ "at least 1"; "empty" ] (fun () -> AdaptiveLR.psi 0.999 [||])
            testCase "NaN gradient" <| fun () ->
                throwsArg "g" [ "finite"; "NaN"; "index 1" ] (fun () -> AdaptiveLR.psi 0.999 [| 0.1; nan |])
            testCase "threshold below 4, where r_t is not real" <| fun () ->
                throwsArg "threshold" [ "≥ 4"; "got 3" ] (fun () -> AdaptiveLR.radamSteps 3.0 0.999 [| 0.1 |])
            testCase "non-positive σ²" <| fun () ->
                throwsArg "sigma2" [ "sigma2 > 0"; "got 0" ] (fun () -> AdaptiveLR.tryTheoreticalVariance 0.999 0.0 10)
            testCase "β₂ ≤ 0.6 has no finite rectified variance" <| fun () ->
                throwsArg "beta2" [ "β2 > 0.6"; "0.5" ] (fun () -> AdaptiveLR.rectifiedTheoreticalVariance 0.5 1.0)
            testCase "all-zero prefix: ψ is +∞ (documented), never NaN" <| fun () ->
                let p = AdaptiveLR.psi 0.999 [| 0.0; 0.0; 0.1 |]
                Expect.equal p.[0] infinity "ψ_1"
                Expect.equal p.[1] infinity "ψ_2"
                Expect.isTrue (Double.IsFinite p.[2]) "ψ_3 finite"
        ]
    ]
