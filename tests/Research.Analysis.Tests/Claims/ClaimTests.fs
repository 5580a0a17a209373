namespace Research.Tests

open Expecto
open Research.Analysis

/// Claims as Expecto tests: a claim whose verdict differs from its expectation fails its test
/// with the numbers behind the verdict; every result (including claims recorded as refuted, and
/// claims with no expectation) is printed, so nothing is hidden.
module ClaimTests =

    /// One test for one claim; the evidence is produced inside the test (lazily, once per test run).
    let testClaim (evidence: Lazy<'E>) (provenance: unit -> (string * string) list) (claim: Claim<'E>) : Test =
        testCase $"{claim.Id}: {claim.Statement}" <| fun () ->
            let r = Claims.evaluate (provenance ()) evidence.Value claim
            let expected = match r.Expected with Some e -> string e | None -> "no expectation"
            printfn "claim %s: %O (expected: %s) — %s" r.Id r.Verdict expected (Claims.describe r.Effect)
            match Claims.check r with
            | Ok() -> ()
            | Error message -> failtest message

    /// A test list for several claims on the same evidence.
    let testClaims (name: string) (evidence: Lazy<'E>) (provenance: unit -> (string * string) list) (claims: Claim<'E> list) : Test =
        testList name [ for c in claims -> testClaim evidence provenance c ]

    /// One test per evaluated claim (e.g. the claims of a runner's result), checked against
    /// <paramref name="expectations"/> by id where given (a tier's pinned verdicts), else against
    /// the claim's own expectation.
    let ofResults (name: string) (expectations: Map<string, Verdict option>) (results: Lazy<ClaimResult list>) (ids: string list) : Test =
        testList name [
            for id in ids ->
                testCase id <| fun () ->
                    match results.Value |> List.tryFind (fun r -> r.Id = id) with
                    | None -> failtest $"claim '{id}' was not evaluated by the run"
                    | Some r ->
                        let r = match expectations.TryFind id with Some e -> { r with Expected = e } | None -> r
                        let expected = match r.Expected with Some e -> string e | None -> "no expectation"
                        printfn "claim %s: %O (expected: %s) — %s" r.Id r.Verdict expected (Claims.describe r.Effect)
                        match Claims.check r with
                        | Ok() -> ()
                        | Error message -> failtest message ]
