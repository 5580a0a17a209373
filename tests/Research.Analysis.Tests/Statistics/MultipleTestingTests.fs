/// Tests of MultipleTesting against ../shared/reference/multitest.json (statsmodels 0.13.5
/// multipletests at alpha = 0.05, R 4.2.2 p.adjust) and reference/multitest_alpha.json
/// (statsmodels 0.13.5 at alpha = 0.01, 0.1, 0.25, on p-value vectors stored in that file; made by
/// reference/make_multitest_alpha_reference.py).
module Research.Analysis.Tests.MultipleTestingTests

open System
open System.IO
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open Research.Analysis
open Research.Tests
open Research.Analysis.Tests.Support

type M = MultipleTesting.Method

type private Vector =
    { Name: string; P: float[]; Alpha: float; Statsmodels: JsonElement; AlphaSidak: float; AlphaBonf: float; R: JsonElement }

/// Every vector of multitest.json, each parsed on its own (one that cannot be read is one failing test).
let private vectors =
    lazy (
        referenceCases "multitest.json" (fun () -> Reference.load "multitest.json") "vectors" (fun _ v ->
            { Name = (Reference.prop "name" v).GetString()
              P = Reference.floats (Reference.prop "p" v)
              Alpha = Reference.num (Reference.prop "alpha" v)
              Statsmodels = Reference.prop "statsmodels" v
              AlphaSidak = Reference.num (Reference.prop "alphacSidak" v)
              AlphaBonf = Reference.num (Reference.prop "alphacBonf" v)
              R = Reference.prop "R_p.adjust" v }))

/// Every vector of reference/multitest_alpha.json: its own p-values (nothing is looked up in the
/// shared file by name) and the results at each α.
let private alphaVectors =
    lazy (
        let load () =
            use doc = JsonDocument.Parse(File.ReadAllText(localReference "multitest_alpha.json"))
            doc.RootElement.Clone()
        referenceCases "multitest_alpha.json" load "vectors" (fun _ v ->
            (Reference.prop "name" v).GetString(), Reference.floats (Reference.prop "p" v),
            [ for r in (Reference.prop "results" v).EnumerateArray() -> r ]))

/// statsmodels and R agree to 2.2e-16; the issue asks for 1e-12.
let private tol = 1e-12

let private compare (what: string) (expectedReject: bool[]) (expectedAdj: float[]) (a: MultipleTesting.Adjustment) =
    allClose tol $"{what}: adjusted p" expectedAdj a.AdjustedPValues
    Expect.sequenceEqual a.Reject expectedReject $"{what}: reject"
    Expect.equal a.RejectedCount (expectedReject |> Array.filter id |> Array.length) $"{what}: count"

let private rMethods =
    [ "holm", M.Holm; "hochberg", M.SimesHochberg; "hommel", M.Hommel
      "bonferroni", M.Bonferroni; "BH", M.BenjaminiHochberg; "BY", M.BenjaminiYekutieli ]

let private pGen =
    gen {
        let! n = Gen.choose (1, 200)
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! kind = Gen.choose (0, 2)
        let rng = Xoshiro256StarStar(int64 seed, 0L)
        return
            Array.init n (fun _ ->
                match kind with
                | 0 -> rng.NextDouble()
                | 1 -> Math.Round(rng.NextDouble() * 20.0) / 20.0 // ties, 0 and 1
                | _ -> Math.Pow(rng.NextDouble(), 4.0)) // many small p-values
    }

let private alphaGen = Gen.elements [ 0.001; 0.01; 0.05; 0.1; 0.2; 0.5 ]

[<Tests>]
let tests =
    testList "Statistics.MultipleTesting" [
        testList "statsmodels 0.13.5 multipletests (multitest.json, each vector's own alpha): adjusted p to 1e-12, same rejections" [
            yield! testCases (vectors.Force()) (fun v ->
              [ for m in M.All ->
                    testCase $"{v.Name} {m.StatsmodelsName}" <| fun () ->
                        let e = requireProp v.Name m.StatsmodelsName v.Statsmodels
                        let a = MultipleTesting.adjust m v.Alpha v.P
                        compare $"{v.Name}/{m.StatsmodelsName}" (Reference.bools (Reference.prop "reject" e))
                            (Reference.floats (Reference.prop "pvals_corrected" e)) a
                        close 1e-15 "alphacSidak" v.AlphaSidak a.AlphaSidak
                        close 1e-15 "alphacBonf" v.AlphaBonf a.AlphaBonferroni ])
        ]

        testList "statsmodels 0.13.5 at alpha 0.01, 0.1, 0.25 (reference/multitest_alpha.json)" [
            yield! testCases (alphaVectors.Force()) (fun (name, p, results) ->
              [ for i, r in List.indexed results ->
                    let label =
                        match Reference.tryProp "method" r, Reference.tryProp "alpha" r with
                        | Some m, Some a -> $"{m.GetString()} alpha={Reference.num a}"
                        | _ -> $"results[{i}]"
                    testCase $"{name} {label}" <| fun () ->
                        let alpha = Reference.num (Reference.prop "alpha" r)
                        let mName = (Reference.prop "method" r).GetString()
                        let a = MultipleTesting.adjust (M.Parse mName) alpha p
                        compare $"{name}/{mName}/{alpha}" (Reference.bools (Reference.prop "reject" r))
                            (Reference.floats (Reference.prop "pvals_corrected" r)) a
                        close 1e-15 "alphacSidak" (Reference.num (Reference.prop "alphacSidak" r)) a.AlphaSidak ])
        ]

        testList "R 4.2.2 p.adjust (multitest.json): adjusted p to 1e-12" [
            yield! testCases (vectors.Force()) (fun v ->
              [ for rName, m in rMethods ->
                    testCase $"{v.Name} {rName}" <| fun () ->
                        let expected = Reference.floats (requireProp v.Name rName v.R)
                        let a = MultipleTesting.adjust m v.Alpha v.P
                        allClose tol $"{v.Name}/{rName}" expected a.AdjustedPValues ])
        ]

        testList "method names" [
            testCase "every statsmodels name and alias parses, round-trips through StatsmodelsName" <| fun () ->
                let aliases =
                    [ [ "b"; "bonf"; "bonferroni" ], M.Bonferroni
                      [ "s"; "sidak" ], M.Sidak
                      [ "h"; "holm" ], M.Holm
                      [ "hs"; "holm-sidak" ], M.HolmSidak
                      [ "sh"; "simes-hochberg"; "hochberg" ], M.SimesHochberg
                      [ "ho"; "hommel" ], M.Hommel
                      [ "fdr_bh"; "fdr_i"; "fdr_p"; "fdri"; "fdrp"; "BH" ], M.BenjaminiHochberg
                      [ "fdr_by"; "fdr_n"; "fdr_c"; "fdrn"; "fdrcorr"; "BY" ], M.BenjaminiYekutieli
                      [ "fdr_tsbh"; "fdr_2sbh" ], M.TwoStageBH
                      [ "fdr_tsbky"; "fdr_2sbky"; "fdr_twostage" ], M.TwoStageBKY
                      [ "fdr_gbs" ], M.GavrilovBenjaminiSarkar ]
                for names, m in aliases do
                    for n in names do
                        Expect.equal (M.Parse n) m $"parse {n}"
                        Expect.equal (M.Parse (n.ToUpperInvariant())) m $"parse {n} upper case"
                    Expect.equal (M.Parse m.StatsmodelsName) m $"round trip {m}"
            testCase "an unknown name raises, listing the known ones" <| fun () ->
                throwsArg "name" [ "expected a multiple-testing method"; "fdr_bh"; "\"fdr_xx\"" ] (fun () -> M.Parse "fdr_xx")
                Expect.isNone (M.TryParse "fdr_xx") "TryParse"
        ]

        testList "bad input: the error names the argument and the problem" [
            testCase "empty p-values" <| fun () ->
                throwsArg "pValues" [ "at least 1"; "empty" ] (fun () -> MultipleTesting.adjust M.Holm 0.05 [||])
            testCase "p-value above 1" <| fun () ->
                throwsArg "pValues" [ "[0, 1]"; "1.5"; "index 1" ] (fun () -> MultipleTesting.adjust M.Holm 0.05 [| 0.1; 1.5 |])
            testCase "negative p-value" <| fun () ->
                throwsArg "pValues" [ "[0, 1]"; "-0.1"; "index 0" ] (fun () -> MultipleTesting.adjust M.BenjaminiHochberg 0.05 [| -0.1; 0.5 |])
            testCase "NaN p-value" <| fun () ->
                throwsArg "pValues" [ "[0, 1]"; "NaN"; "index 2" ] (fun () -> MultipleTesting.adjust M.Hommel 0.05 [| 0.1; 0.2; nan |])
            testCase "alpha outside (0, 1)" <| fun () ->
                throwsArg "alpha" [ "0 < alpha < 1"; "got 1.5" ] (fun () -> MultipleTesting.adjust M.Holm 1.5 [| 0.1 |])
                throwsArg "alpha" [ "0 < alpha < 1"; "got 0" ] (fun () -> MultipleTesting.adjust M.Holm 0.0 [| 0.1 |])
        ]

        testList "properties (FsCheck, fixed replay seed)" [
            testCase "adjusted p-values lie in [0, 1] for every method" <| fun () ->
                checkProperty "range" 200 (Prop.forAll (Arb.fromGen (Gen.zip pGen alphaGen)) (fun (p, alpha) ->
                    M.All |> Array.forall (fun m ->
                        (MultipleTesting.adjust m alpha p).AdjustedPValues |> Array.forall (fun v -> v >= 0.0 && v <= 1.0))))

            testCase "adjusted p-values are monotone in the raw p-values for every method" <| fun () ->
                checkProperty "monotone" 200 (Prop.forAll (Arb.fromGen (Gen.zip pGen alphaGen)) (fun (p, alpha) ->
                    M.All |> Array.forall (fun m ->
                        let adj = (MultipleTesting.adjust m alpha p).AdjustedPValues
                        let order = Array.init p.Length id |> Array.sortBy (fun i -> p.[i])
                        Seq.pairwise order |> Seq.forall (fun (i, j) -> adj.[i] <= adj.[j]))))

            testCase "adjusted ≥ raw for the FWER methods, BH and BY (the two-stage and GBS methods rescale by an estimated null fraction, so they can go below)" <| fun () ->
                let methods = [| M.Bonferroni; M.Sidak; M.HolmSidak; M.Holm; M.SimesHochberg; M.Hommel; M.BenjaminiHochberg; M.BenjaminiYekutieli |]
                checkProperty "adjusted ≥ raw" 200 (Prop.forAll (Arb.fromGen pGen) (fun p ->
                    methods |> Array.forall (fun m ->
                        Array.forall2 (fun raw adj -> adj >= raw) p (MultipleTesting.adjust m 0.05 p).AdjustedPValues)))

            testCase "BH rejects a superset of Holm's rejections" <| fun () ->
                checkProperty "BH ⊇ Holm" 300 (Prop.forAll (Arb.fromGen (Gen.zip pGen alphaGen)) (fun (p, alpha) ->
                    let holm = MultipleTesting.holm alpha p
                    let bh = MultipleTesting.benjaminiHochberg alpha p
                    Array.forall2 (fun h b -> not h || b) holm.Reject bh.Reject))

            testCase "results do not depend on the input order" <| fun () ->
                checkProperty "permutation" 100 (Prop.forAll (Arb.fromGen (Gen.zip pGen alphaGen)) (fun (p, alpha) ->
                    let perm = Array.init p.Length (fun i -> (i * 7919 + 13) % p.Length)
                    let perm = if Array.distinct perm |> Array.length = p.Length then perm else Array.rev (Array.init p.Length id)
                    let q = perm |> Array.map (fun i -> p.[i])
                    M.All |> Array.forall (fun m ->
                        let a = MultipleTesting.adjust m alpha p
                        let b = MultipleTesting.adjust m alpha q
                        perm |> Array.mapi (fun k i -> a.AdjustedPValues.[i] = b.AdjustedPValues.[k] && a.Reject.[i] = b.Reject.[k])
                        |> Array.forall id)))
        ]
    ]
