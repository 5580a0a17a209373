namespace Research.Analysis

open System
open System.Diagnostics
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open Argu
open Research.Core.Data

/// <summary>How much of a study to run.</summary>
[<RequireQualifiedAccess>]
type Tier =
    /// The default: minutes on a 2-core machine, what `./run.sh` and CI-sized runs use.
    | Quick
    /// The seed notebook's own scale.
    | Full

    /// "quick" or "full", as on the command line.
    override t.ToString() = match t with Quick -> "quick" | Full -> "full"

/// <summary>MNIST as a study gets it: both splits, where they came from, and their checksums.</summary>
type MnistData =
    { /// The 60,000 training images (or a stand-in, in tests).
      Train: MnistSplit
      /// The 10,000 test images (or a stand-in).
      Test: MnistSplit
      /// The folder the files were read from (or a description of the stand-in).
      Source: string
      /// One entry per IDX file: (file name, MD5 of its uncompressed content). Part of every run's identity.
      Checksums: (string * string) list
      /// True when every checksum equals the distribution's (Mnist.Files); false for a stand-in or
      /// when the user allowed other data.
      Verified: bool }

/// <summary>Loading MNIST with its checksums verified.</summary>
[<RequireQualifiedAccess>]
module MnistData =

    let private md5OfContent (path: string) =
        use file = File.OpenRead path
        let mutable head = [| 0uy; 0uy |]
        let read = file.Read(head, 0, 2)
        file.Position <- 0L
        use stream: Stream = if read = 2 && head.[0] = 0x1Fuy && head.[1] = 0x8Buy then new GZipStream(file, CompressionMode.Decompress) else file
        Convert.ToHexString(MD5.HashData stream).ToLowerInvariant()

    /// <summary>The MD5 of each of the four files in <paramref name="directory"/> (raw or .gz).</summary>
    /// <returns>(file name, MD5) for every file present, in Mnist.Files order; missing files are left out.</returns>
    let checksums (directory: string) : (string * string) list =
        [ for KeyValue(name, _) in Mnist.Files do
            let raw = Path.Combine(directory, name)
            let path = if File.Exists raw then Some raw elif File.Exists(raw + ".gz") then Some(raw + ".gz") else None
            match path with
            | Some p -> yield Path.GetFileName p, md5OfContent p
            | None -> () ]

    /// <summary>
    /// Reads both splits from <paramref name="directory"/> and checks each file's MD5 against the
    /// distribution's. A file with another checksum (a valid header on random pixels, shuffled labels)
    /// is refused unless <paramref name="allowUnverified"/> is true, in which case the run says so.
    /// </summary>
    /// <exception cref="T:System.IO.InvalidDataException">A checksum differs and unverified data is not allowed.</exception>
    let load (allowUnverified: bool) (directory: string) : MnistData =
        let train = Mnist.LoadTrain directory
        let test = Mnist.LoadTest directory
        let sums = checksums directory
        let wrong =
            [ for file, md5 in sums do
                let name = file.Replace(".gz", "")
                let expected = Mnist.Files.[name]
                if md5 <> expected then yield $"{Path.Combine(directory, file)}: expected MD5 {expected}, found {md5}" ]
        if not wrong.IsEmpty && not allowUnverified then
            raise (InvalidDataException(
                $"""MNIST data differs from the distribution ({String.Join("; ", wrong)}). Delete the folder and run ./run.sh to fetch it again, or pass --allow-unverified-data to use these files anyway."""))
        { Train = train; Test = test; Source = Path.GetFullPath directory; Checksums = sums; Verified = wrong.IsEmpty }

    /// <summary>A stand-in (generated data, in tests), recorded as unverified.</summary>
    let standIn (description: string) (train: MnistSplit) (test: MnistSplit) : MnistData =
        { Train = train; Test = test; Source = description; Checksums = [ "stand-in", description ]; Verified = false }

/// <summary>
/// What the runner gives a study while it runs: the seed and named random streams derived from it,
/// its working folder, progress reporting with time per step, and the data.
/// </summary>
/// <remarks>Steps are declared by the study (<c>Study.Steps</c>); <c>Step</c> starts the next one and
/// prints "[k/n] name". Random choices take a seed from <c>Stream "purpose"</c>, never from
/// hand-numbered offsets of the study seed.</remarks>
type StudyContext(study: string, seed: int64, tier: Tier, directory: string, steps: string list, log: TextWriter,
                  data: Lazy<MnistData>) =
    let timings = ResizeArray<string * float>()
    let streams = ResizeArray<string * int64>()
    let mutable current: (string * Stopwatch) option = None
    let mutable index = 0

    let close () =
        match current with
        | Some(name, clock) ->
            timings.Add(name, clock.Elapsed.TotalSeconds)
            current <- None
        | None -> ()

    /// The study's name ("adam-vs-radam").
    member _.StudyName = study
    /// The study seed.
    member _.Seed = seed
    /// The tier being run.
    member _.Tier = tier
    /// The run's working folder: traces and every file of the result go here.
    member _.Directory = directory
    /// Progress output (one line per event).
    member _.Log = log

    /// <summary>A seed for one named random source (weight sample, bootstrap, restarts …), derived from
    /// the study seed and the name (<c>TorchRuntime.DeriveSeed</c>), and listed in the report.</summary>
    member _.Stream(purpose: string) : int64 =
        let s = RandomStreams.forStudy study seed purpose
        if not (streams |> Seq.exists (fun (p, _) -> p = purpose)) then streams.Add((purpose, s))
        s

    /// <summary>Starts the next declared step and prints "[k/n] name".</summary>
    /// <exception cref="T:System.InvalidOperationException">A name the study did not declare, or steps out of order.</exception>
    member _.Step(name: string) : unit =
        close ()
        let n = List.length steps
        if index >= n || steps.[index] <> name then
            let declared = String.Join(", ", steps)
            invalidOp $"study {study}: step '{name}' is not the next declared step (declared: {declared}); fix the study's Steps list"
        index <- index + 1
        log.WriteLine $"[{index}/{n}] {name}"
        current <- Some(name, Stopwatch.StartNew())

    /// <summary>One progress line inside the current step.</summary>
    member _.Info(line: string) : unit = log.WriteLine("    " + line)

    /// <summary>MNIST, loaded (and checksummed) on first use.</summary>
    member _.Mnist: MnistData = data.Value

    /// <summary>Whether MNIST was loaded by this run.</summary>
    member _.MnistLoaded = data.IsValueCreated

    /// Named streams used so far, in first-use order.
    member _.Streams: (string * int64) list = List.ofSeq streams

    /// Closes the current step and returns (step, seconds) for every step run.
    member _.Finish() : (string * float) list =
        close ()
        List.ofSeq timings

/// <summary>What a study's run hands back to the runner.</summary>
type StudyOutput =
    { /// The report's title.
      Title: string
      /// One paragraph under the title: what was run and what it reproduces.
      Summary: string
      /// The study's own report blocks (figures, tables, prose), in reading order.
      Blocks: ReportBlock list
      /// Every claim, evaluated.
      Claims: ClaimResult list
      /// Study facts for the methods section (model, data, per-run results …).
      Methods: (string * string) list
      /// Files the run read or wrote that its result depends on: (path relative to the run folder or
      /// absolute, SHA-256). Traces, external inputs.
      Inputs: (string * string) list }

/// <summary>
/// A study: a question family of the seminars, with a name used everywhere (Core and Analysis
/// folders, script, tests, report folder), options with quick and full tiers, a run function and
/// its claims and report. The runner (<c>Runner</c>) does the rest the same way for every study.
/// </summary>
/// <typeparam name="Config">The study's configuration (every hyperparameter).</typeparam>
/// <typeparam name="Args">The study's own command-line options (an Argu union).</typeparam>
type Study<'Config, 'Args when 'Args :> IArgParserTemplate> =
    { /// Command-line and folder name, lower-case with dashes ("adam-vs-radam").
      Name: string
      /// One line saying what the study asks.
      Description: string
      /// The seminar notebooks (or lectures) it reproduces, corrects and extends.
      Notebooks: string list
      /// The steps a configuration's run goes through, in order (the runner adds "report" and "browser check").
      Steps: 'Config -> string list
      /// The configuration of each tier.
      Defaults: Tier -> 'Config
      /// Applies the study's command-line options to a tier's configuration; Error names the option.
      Configure: ParseResults<'Args> -> 'Config -> Result<'Config, string>
      /// Every hyperparameter as (name, value): shown in the methods section and hashed into the
      /// result folder's name, so two configurations never share a folder.
      Describe: 'Config -> (string * string) list
      /// Whether the configuration trains on MNIST (its checksums then join the identity).
      UsesMnist: 'Config -> bool
      /// Trains and records (or analyses recorded traces), evaluates the claims and builds the report.
      Run: StudyContext -> 'Config -> StudyOutput }

/// <summary>A study configured and ready to run (the runner's view, without the type parameters).</summary>
type PreparedStudy =
    { Name: string
      Description: string
      Notebooks: string list
      Steps: string list
      Tier: Tier
      /// Every hyperparameter (Study.Describe).
      Facts: (string * string) list
      UsesMnist: bool
      Run: StudyContext -> StudyOutput }

/// <summary>A study as the command line and the runner see it.</summary>
type IStudy =
    /// Its name ("adam-vs-radam").
    abstract Name: string
    /// One line.
    abstract Description: string
    /// What it reproduces.
    abstract Notebooks: string list
    /// The names of its own options ("--steps", …).
    abstract OptionNames: string list
    /// Help for its own options.
    abstract Usage: unit -> string
    /// Configures it for a tier from its own options (command-line tokens); Error names the problem.
    abstract Prepare: tier: Tier * arguments: string list -> Result<PreparedStudy, string>

/// <summary>Building and packing studies.</summary>
[<RequireQualifiedAccess>]
module Study =

    /// <summary>The study with a given configuration (bypassing the command line: scripts and tests).</summary>
    let prepare (tier: Tier) (config: 'C) (study: Study<'C, 'A>) : PreparedStudy =
        { Name = study.Name
          Description = study.Description
          Notebooks = study.Notebooks
          Steps = study.Steps config
          Tier = tier
          Facts = study.Describe config
          UsesMnist = study.UsesMnist config
          Run = fun ctx -> study.Run ctx config }

    /// The first line of an Argu error, without its "ERROR: " prefix.
    let internal firstLine (message: string) =
        let line = message.Split('\n').[0].Trim()
        if line.StartsWith "ERROR: " then line.Substring 7 else line

    /// <summary>The study behind the <see cref="T:Research.Analysis.IStudy"/> interface.</summary>
    let pack (study: Study<'C, 'A>) : IStudy =
        let parser = lazy (ArgumentParser.Create<'A>(programName = $"./run.sh {study.Name}"))
        let names () =
            [ for c in parser.Value.GetArgumentCases() do
                if not (List.isEmpty c.CommandLineNames.Value) then yield c.CommandLineNames.Value.Head ]
        { new IStudy with
            member _.Name = study.Name
            member _.Description = study.Description
            member _.Notebooks = study.Notebooks
            member _.OptionNames = names ()
            member _.Usage() = parser.Value.PrintUsage()
            member _.Prepare(tier, arguments) =
                try
                    let results = parser.Value.Parse(Array.ofList arguments, raiseOnUsage = true)
                    study.Configure results (study.Defaults tier)
                    |> Result.map (fun config -> prepare tier config study)
                with :? ArguParseException as e -> Error(firstLine e.Message) }
