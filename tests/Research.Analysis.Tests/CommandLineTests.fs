/// The command line (`./run.sh …`): every study listed, and every bad argument one line naming it.
module Research.Tests.CommandLineTests

open System
open System.IO
open Expecto
open Research.Analysis

/// Runs the command line; returns (exit code, standard output, standard error).
let private cli (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = CommandLine.run (Array.ofList args) out err
    code, out.ToString(), err.ToString()

let private oneLine (text: string) =
    let lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    Expect.equal lines.Length 1 $"exactly one line: {text}"
    lines.[0]

[<Tests>]
let tests =
    testList "CommandLine" [
        testCase "list names every study" <| fun () ->
            let code, out, _ = cli [ "list" ]
            Expect.equal code 0 "exit code"
            for s in StudyRegistry.all do Expect.stringContains out s.Name $"lists {s.Name}"

        testCase "a misspelt option names it and lists the valid ones" <| fun () ->
            let code, _, err = cli [ "adam-vs-radam"; "--sede"; "1" ]
            Expect.equal code 2 "usage error"
            let line = oneLine err
            Expect.stringContains line "'--sede'" "names the option"
            Expect.stringContains line "--seed" "lists the valid ones"

        testCase "an unknown study names it and lists the studies" <| fun () ->
            let code, _, err = cli [ "nosuchstudy" ]
            Expect.equal code 2 "usage error"
            let line = oneLine err
            Expect.stringContains line "'nosuchstudy'" "names it"
            Expect.stringContains line "adam-vs-radam" "lists the studies"

        testCase "bad values are one line each, never a stack trace" <| fun () ->
            for args, fragment in
                [ [ "adam-vs-radam"; "--seed"; "abc" ], "'--seed' must be followed by <int64>, but was 'abc'"
                  [ "adam-vs-radam"; "--seed"; "99999999999999999999" ], "'--seed' must be followed by <int64>"
                  [ "adam-vs-radam"; "--tier"; "medium" ], "<quick|full>"
                  [ "adam-vs-radam"; "--steps"; "0" ], "--steps: expected a whole number ≥ 1, got 0"
                  [ "adam-vs-radam"; "--steps"; "-5" ], "--steps: expected a whole number ≥ 1, got -5"
                  [ "adam-vs-radam"; "--record"; "0" ], "--record: expected 3 ≤ N ≤ --steps (469), got 0"
                  [ "adam-vs-radam"; "--steps"; "10"; "--record"; "50" ], "--record: expected 3 ≤ N ≤ --steps (10), got 50"
                  [ "adam-vs-radam"; "--traces" ], "--traces: expected one or more trace folders, got none"
                  [ "adam-vs-radam"; "--traces"; "/no/such/folder" ], "'/no/such/folder' is not a folder"
                  [ "adam-vs-radam"; "--traces"; "/etc/hostname" ], "--traces: '/etc/hostname' is a file (/etc/hostname); pass trace folders, each with a manifest.json"
                  [ "adam-vs-radam"; "--traces"; "/tmp" ], "--traces: '/tmp' has no manifest.json (/tmp), so it is not a trace folder"
                  [ "adam-vs-radam"; "--traces"; "/tmp"; "/tmp/" ], "--traces: '/tmp' has no manifest.json"
                  [ "adam-vs-radam"; "--resamples"; "1" ], "--resamples: expected B ≥ 2, got 1"
                  [ "adam-vs-radam"; "--weights-per-group"; "0" ], "--weights-per-group: expected a whole number ≥ 1, got 0"
                  [ "adam-vs-radam"; "--steps"; "99999999999" ], "'--steps' must be followed by <int>"
                  [ "adam-vs-radam"; "--seed"; "1"; "--seed"; "2" ], "'--seed'"
                  [ "adam-vs-radam"; "--seed"; "-1" ], "--seed: expected a whole number ≥ 0 (as --seeds), got -1"
                  [ "adam-vs-radam"; "--seeds"; "3..1" ], "--seeds: '3..1' is not a range lo..hi of seeds 0 ≤ lo ≤ hi"
                  [ "adam-vs-radam"; "--out"; "" ], "--out: expected a folder, got an empty string"
                  [ "adam-vs-radam"; "--out"; "/etc/hostname" ], "is a file"
                  [ "--steps"; "5" ], "options that belong to one study go after its name"
                  [ "list"; "extra" ], "list takes no arguments" ] do
                let code, _, err = cli args
                Expect.equal code 2 $"usage error for {args}"
                let line = oneLine err
                Expect.stringContains line fragment $"{args}"
                Expect.isFalse (line.Contains "   at ") "no stack trace"

        testCase "--traces: the same folder twice, and a trace file linked from outside, are one line each before anything runs" <| fun () ->
            let dir = Path.Combine(Path.GetTempPath(), $"cli-trace-{Guid.NewGuid():N}")
            Directory.CreateDirectory dir |> ignore
            File.WriteAllText(Path.Combine(dir, "manifest.json"), "{}")
            let code, _, err = cli [ "adam-vs-radam"; "--traces"; dir; dir + "/" ]
            Expect.equal code 2 "usage error"
            Expect.equal (oneLine err) $"error: adam-vs-radam: --traces: {dir} is given twice; pass each trace folder once" "twice"
            let outside = Path.Combine(Path.GetTempPath(), $"outside-{Guid.NewGuid():N}.npy")
            File.WriteAllText(outside, "secret")
            File.CreateSymbolicLink(Path.Combine(dir, "g.npy"), outside) |> ignore
            let code, _, err = cli [ "adam-vs-radam"; "--traces"; dir ]
            Expect.equal code 2 "usage error"
            let line = oneLine err
            Expect.stringContains line $"--traces: {dir}/g.npy: g.npy of the trace is a symbolic link to {outside}, outside the trace directory" "names the link"
            Expect.isFalse (line.Contains "secret") "the linked file's content is not shown"

        testCase "--help for a study shows the common and the study's own options" <| fun () ->
            let code, out, _ = cli [ "adam-vs-radam"; "--help" ]
            Expect.equal code 0 "exit code"
            for o in [ "--seed"; "--tier"; "--out"; "--check"; "--steps"; "--record"; "--traces" ] do
                Expect.stringContains out o $"mentions {o}"
    ]
