module Research.Tests.ClaimsTests

open Expecto
open Research.Analysis

let private effect lo est hi = Effect.Interval("ratio", est, lo, hi, 0.95, 100)

[<Tests>]
let tests =
    testList "Claims" [
        testList "DecisionRule" [
            let above = DecisionRule.intervalAbove 1.0
            for (lo, est, hi), expected in
                [ (1.2, 1.5, 1.9), Holds; (0.5, 0.7, 0.9), Refuted; (0.8, 1.1, 1.4), Inconclusive
                  (nan, 1.5, nan), Inconclusive ] do
                testCase $"intervalAbove 1: [{lo}, {hi}] -> {expected}" <| fun () ->
                    Expect.equal (above.Decide(effect lo est hi)) expected "verdict"
            let within = DecisionRule.intervalWithin 0.8 1.25
            for (lo, est, hi), expected in
                [ (0.9, 1.0, 1.1), Holds; (1.3, 1.5, 1.7), Refuted; (0.7, 1.0, 1.1), Inconclusive ] do
                testCase $"intervalWithin [0.8, 1.25]: [{lo}, {hi}] -> {expected}" <| fun () ->
                    Expect.equal (within.Decide(effect lo est hi)) expected "verdict"
            testCase "estimateAtLeast on counts" <| fun () ->
                let r = DecisionRule.estimateAtLeast 0.0
                Expect.equal (r.Decide(Effect.Point("d", 0.0, 1))) Holds "equal counts hold"
                Expect.equal (r.Decide(Effect.Point("d", -1.0, 1))) Refuted "fewer refutes"
        ]

        testList "an effect that cannot be judged is inconclusive under every rule, with the reason" [
            let rules =
                [ "intervalAbove 1", DecisionRule.intervalAbove 1.0; "intervalBelow 1", DecisionRule.intervalBelow 1.0
                  "intervalWithin [0.8, 1.25]", DecisionRule.intervalWithin 0.8 1.25
                  "estimateAtLeast 0", DecisionRule.estimateAtLeast 0.0; "estimateAbove 0", DecisionRule.estimateAbove 0.0 ]
            let bad =
                [ "lower > upper", effect 2.0 1.5 1.1, "the interval's lower bound 2 exceeds its upper bound 1.1"
                  "infinite estimate", Effect.Interval("ratio", infinity, 1.2, infinity, 0.95, 10), "the estimate is Infinity, not a finite number"
                  "infinite point estimate", Effect.Point("count", -infinity, 3), "the estimate is -Infinity, not a finite number"
                  "half-open interval", effect 1.2 1.5 nan, "the interval [1.2, NaN] has only one bound"
                  "interval without estimate", effect 1.2 nan 1.9, "the interval [1.2, 1.9] has no estimate (NaN)" ]
            for name, e, why in bad do
                yield testCase $"{name}: Problem says why" <| fun () ->
                    Expect.equal e.Problem (Some why) "the reason"
                for ruleName, rule in rules ->
                    testCase $"{name} under {ruleName}" <| fun () -> Expect.equal (rule.Decide e) Inconclusive "never holds"
            yield testCase "evaluate: a claim's own rule cannot judge it 'holds' either, and the reason is in the details" <| fun () ->
                let lenient = { Text = "always holds"; Decide = fun _ -> Holds }
                let claim = Claims.create "c" "s" "src" "ev" lenient (Some Holds) (fun () -> effect 3.0 2.0 1.0)
                let r = Claims.evaluate [] () claim
                Expect.equal r.Verdict Inconclusive "inconclusive"
                Expect.contains r.Effect.Details ("cannot be judged", "the interval's lower bound 3 exceeds its upper bound 1") "reason recorded"
            yield testCase "a valid interval that excludes its estimate is still judged (percentile intervals can)" <| fun () ->
                Expect.equal ((DecisionRule.intervalAbove 1.0).Decide(effect 1.2 1.1 1.5)) Holds "judged"
        ]

        testCase "evaluate keeps the provenance and check explains a surprise with its numbers" <| fun () ->
            let claim =
                Claims.create "ratio-above-one" "A is more variable than B" "notebook, cell 12" "traces A and B"
                    (DecisionRule.intervalAbove 1.0) (Some Holds) (fun (lo, hi) -> effect lo ((lo + hi) / 2.0) hi)
            let ok = Claims.evaluate [ "seed", "1" ] (1.1, 1.3) claim
            Expect.equal ok.Verdict Holds "holds"
            Expect.equal ok.Provenance [ "seed", "1" ] "provenance kept"
            Expect.equal (Claims.check ok) (Ok()) "as expected"
            let bad = Claims.evaluate [] (0.2, 0.4) claim
            Expect.equal bad.Verdict Refuted "refuted"
            Expect.isTrue bad.Surprising "surprising"
            match Claims.check bad with
            | Ok() -> failtest "a refuted claim expected to hold must fail"
            | Error m ->
                for f in [ "ratio-above-one"; "expected to be holds"; "is refuted"; "[0.2, 0.4]" ] do
                    Expect.stringContains m f "message"

        testCase "a claim recorded as refuted passes its check and is still shown in the table" <| fun () ->
            let claim =
                Claims.create "c" "s" "src" "ev" (DecisionRule.estimateAbove 0.0) (Some Refuted) (fun x -> Effect.Point("x", x, 3))
            let r = Claims.evaluate [] -1.0 claim
            Expect.equal (Claims.check r) (Ok()) "recorded refutation is not a failure"
            let t = Claims.toTable "claims" (Some "claims.csv") [ r ]
            Expect.equal t.Rows.Length 1 "one row"
            Expect.contains t.Rows.Head "refuted" "verdict in the table"
    
        testCase "the README's example compiles and behaves as documented" <| fun () ->
            let pValues = [| 0.001; 0.008; 0.039; 0.041; 0.042; 0.06; 0.074; 0.205; 0.212; 0.216 |]
            // --- as in README.md, "Claims" ---
            let claim =
                Claims.create "bh-at-least-holm" "Benjamini–Hochberg rejects at least as many hypotheses as Holm"
                    "gradient-distribution notebook" "Shapiro–Wilk p-values"
                    (DecisionRule.estimateAtLeast 0.0) (Some Holds)
                    (fun (ps: float[]) ->
                        let holm = MultipleTesting.holm 0.05 ps
                        let bh = MultipleTesting.benjaminiHochberg 0.05 ps
                        Effect.Point("BH − Holm rejections", float (bh.RejectedCount - holm.RejectedCount), ps.Length))
            let result = Claims.evaluate [ "seed", "0" ] pValues claim
            // ---
            Expect.equal result.Verdict Holds "BH rejects at least as many"
            Expect.equal (Claims.check result) (Ok()) "as expected"
            let test = ClaimTests.testClaim (lazy pValues) (fun () -> []) claim
            Expect.isTrue (match test with TestLabel(name, _, _) -> name.StartsWith "bh-at-least-holm" | _ -> false) "an Expecto test named by the claim"
    ]
