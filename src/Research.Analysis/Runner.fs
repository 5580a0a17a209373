namespace Research.Analysis

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Runtime.InteropServices
open System.Security.Cryptography
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open Plotly.NET

/// <summary>How the runner runs a study.</summary>
type RunSettings =
    { /// The study seed.
      Seed: int64
      /// Root of the report folders (`reports/`); a study's runs go to `<root>/<study>/seed-N-<hash>/`.
      OutputRoot: string
      /// Open the report in headless Chromium (when installed) and keep a screenshot.
      BrowserCheck: bool
      /// Accept MNIST files whose checksums differ from the distribution's (recorded in the report).
      AllowUnverifiedData: bool
      /// MNIST for the run (None: read from Mnist.DefaultDirectory() when the study needs it).
      Mnist: (unit -> MnistData) option
      /// The command line that started the run (for the methods section).
      CommandLine: string
      /// Progress output.
      Log: TextWriter }

    /// Defaults: seed 0, `reports/` under the current folder, browser check on, MNIST from its default folder.
    static member Default =
        { Seed = 0L
          OutputRoot = Path.GetFullPath "reports"
          BrowserCheck = true
          AllowUnverifiedData = false
          Mnist = None
          CommandLine = ""
          Log = Console.Out }

/// <summary>A finished run of a study: where its result is and what it concluded.</summary>
type RunResult =
    { Study: string
      Title: string
      Seed: int64
      Tier: Tier
      /// The 8-hex-digit identity: a hash of the study, every hyperparameter and the data's checksums.
      Identity: string
      /// The result folder (`<root>/<study>/seed-N-<identity>`).
      Directory: string
      /// The HTML report.
      Report: string
      /// CSV files written beside it.
      Tables: string list
      Claims: ClaimResult list
      /// (step, seconds), including the runner's own steps.
      Steps: (string * float) list
      Seconds: float
      /// Every hyperparameter (Study.Describe).
      Facts: (string * string) list
      /// SHA-256 of every file in the folder (relative paths), except result.json itself.
      Files: (string * string) list
      /// "passed", "FAILED: …", or "skipped: …".
      BrowserCheck: string }

    /// Claims that were expected to have another verdict.
    member r.Surprises = r.Claims |> List.filter (fun c -> c.Surprising)

/// <summary>
/// The one runner: the same result folder, methods and provenance, CSV export, browser check,
/// terminal summary and time per step for every study; result folders are locked while written
/// and replaced atomically, so a killed or concurrent run never mixes, replaces or corrupts a
/// complete result.
/// </summary>
module Runner =

    let private inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// SHA-256 of a file, lower-case hex.
    let sha256File (path: string) : string =
        use s = File.OpenRead path
        Convert.ToHexString(SHA256.HashData s).ToLowerInvariant()

    /// SHA-256 of every file under a folder: (path relative to it with '/', hash), in ordinal path order.
    let hashTree (directory: string) : (string * string) list =
        [ for f in Directory.GetFiles(directory, "*", SearchOption.AllDirectories) |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b)) do
            let rel = Path.GetRelativePath(directory, f).Replace('\\', '/')
            if rel <> "result.json" then yield rel, sha256File f ]

    /// Versions of the toolkit and what it runs on, for the methods section.
    let versions () : (string * string) list =
        let v (t: Type) = string (t.Assembly.GetName().Version)
        [ "toolkit", $"Research.Analysis {v typeof<RunSettings>}, Research.Core {v typeof<Research.Core.Data.MnistSplit>}"
          "libraries",
          $"TorchSharp {v typeof<TorchSharp.torch>} (libtorch-cpu-linux-x64 2.10.0), FSharp.Core {v typeof<list<int>>}, MathNet.Numerics {v typeof<MathNet.Numerics.Distributions.Normal>}, Plotly.NET {v typeof<Plotly.NET.Chart>} (plotly.js {fst Report.plotlyJs.Value}), Argu {v typeof<Argu.ArgumentParser>}"
          "runtime", $"{RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores"
          "numerics",
          (match Research.Core.Runtime.ReproducibleNumerics.Description with
           | null -> "libtorch not loaded by this run"
           | d -> $"{d}; libtorch intra-op threads {TorchSharp.torch.get_num_threads ()}") ]

    /// <summary>The identity of a configuration: SHA-256 (first 8 hex digits) of the study name, every
    /// hyperparameter and the data's checksums. Two configurations never share a result folder.</summary>
    let identity (study: string) (facts: (string * string) list) (data: (string * string) list) : string =
        let sb = StringBuilder()
        sb.Append("study=").Append(study).Append('\n') |> ignore
        for k, v in facts do sb.Append(k).Append('=').Append(v).Append('\n') |> ignore
        for k, v in data do sb.Append("data:").Append(k).Append('=').Append(v).Append('\n') |> ignore
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()))).[.. 7].ToLowerInvariant()

    /// The result folder's name for a seed and identity.
    let folderName (seed: int64) (identity: string) = $"seed-{seed}-{identity}"

    // ---- result.json ---------------------------------------------------------------------------

    let private num (x: float) : JsonNode =
        if Double.IsFinite x then JsonValue.Create x :> JsonNode else JsonValue.Create(inv x) :> JsonNode

    let private readNum (n: JsonNode) =
        match n with
        | null -> nan
        | n ->
            match n.GetValueKind() with
            | JsonValueKind.Number -> n.GetValue<float>()
            | JsonValueKind.String -> Double.Parse(n.GetValue<string>(), CultureInfo.InvariantCulture)
            | _ -> nan

    let private pairs (xs: (string * string) list) =
        JsonArray([| for k, v in xs -> JsonArray(JsonValue.Create k, JsonValue.Create v) :> JsonNode |])

    let private readPairs (n: JsonNode) =
        match n with
        | :? JsonArray as a -> [ for p in a -> p.[0].GetValue<string>(), p.[1].GetValue<string>() ]
        | _ -> []

    let private verdictOf (s: string) =
        match s with
        | "holds" -> Holds
        | "refuted" -> Refuted
        | "inconclusive" -> Inconclusive
        | other -> invalidArg "verdict" $"expected holds, refuted or inconclusive, got '{other}'"

    let private claimJson (c: ClaimResult) =
        let e = c.Effect
        JsonObject(
            [ Collections.Generic.KeyValuePair("id", JsonValue.Create c.Id :> JsonNode)
              Collections.Generic.KeyValuePair("statement", JsonValue.Create c.Statement)
              Collections.Generic.KeyValuePair("source", JsonValue.Create c.Source)
              Collections.Generic.KeyValuePair("evidence", JsonValue.Create c.Evidence)
              Collections.Generic.KeyValuePair("rule", JsonValue.Create c.Rule)
              Collections.Generic.KeyValuePair("verdict", JsonValue.Create(string c.Verdict))
              Collections.Generic.KeyValuePair("expected", (match c.Expected with Some v -> JsonValue.Create(string v) :> JsonNode | None -> null))
              Collections.Generic.KeyValuePair("quantity", JsonValue.Create e.Quantity)
              Collections.Generic.KeyValuePair("estimate", num e.Estimate)
              Collections.Generic.KeyValuePair("lower", num e.Lower)
              Collections.Generic.KeyValuePair("upper", num e.Upper)
              Collections.Generic.KeyValuePair("level", num e.Level)
              Collections.Generic.KeyValuePair("p_value", num e.PValue)
              Collections.Generic.KeyValuePair("n", JsonValue.Create e.N)
              Collections.Generic.KeyValuePair("details", pairs e.Details)
              Collections.Generic.KeyValuePair("provenance", pairs c.Provenance) ])

    let private claimOf (o: JsonNode) : ClaimResult =
        { Id = o.["id"].GetValue<string>()
          Statement = o.["statement"].GetValue<string>()
          Source = o.["source"].GetValue<string>()
          Evidence = o.["evidence"].GetValue<string>()
          Rule = o.["rule"].GetValue<string>()
          Verdict = verdictOf (o.["verdict"].GetValue<string>())
          Expected = (match o.["expected"] with null -> None | v -> Some(verdictOf (v.GetValue<string>())))
          Effect =
            { Quantity = o.["quantity"].GetValue<string>()
              Estimate = readNum o.["estimate"]
              Lower = readNum o.["lower"]
              Upper = readNum o.["upper"]
              Level = readNum o.["level"]
              PValue = readNum o.["p_value"]
              N = o.["n"].GetValue<int>()
              Details = readPairs o.["details"] }
          Provenance = readPairs o.["provenance"] }

    /// The result file of a finished run folder.
    let resultFile (directory: string) = Path.Combine(directory, "result.json")

    let private toJson (r: RunResult) =
        let o = JsonObject()
        o.["format"] <- JsonValue.Create "research-result"
        o.["version"] <- JsonValue.Create 1
        o.["study"] <- JsonValue.Create r.Study
        o.["title"] <- JsonValue.Create r.Title
        o.["seed"] <- JsonValue.Create r.Seed
        o.["tier"] <- JsonValue.Create(string r.Tier)
        o.["identity"] <- JsonValue.Create r.Identity
        o.["facts"] <- pairs r.Facts
        o.["claims"] <- JsonArray([| for c in r.Claims -> claimJson c :> JsonNode |])
        o.["steps"] <- JsonArray([| for s, t in r.Steps -> JsonArray(JsonValue.Create s, num t) :> JsonNode |])
        o.["seconds"] <- num r.Seconds
        o.["browser_check"] <- JsonValue.Create r.BrowserCheck
        o.["report"] <- JsonValue.Create(Path.GetFileName r.Report)
        o.["tables"] <- JsonArray([| for t in r.Tables -> JsonValue.Create(Path.GetFileName t) :> JsonNode |])
        o.["files"] <- pairs r.Files
        o.ToJsonString(JsonSerializerOptions(WriteIndented = true, Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))

    /// <summary>Reads the result of a finished run folder.</summary>
    /// <exception cref="T:System.IO.InvalidDataException">The file is missing or not a result file (the message names it).</exception>
    let readResult (directory: string) : RunResult =
        let path = resultFile directory
        if not (File.Exists path) then
            raise (InvalidDataException $"{path}: no result file; the folder is not a finished run (rerun the study to make it)")
        let o =
            try JsonNode.Parse(File.ReadAllText path)
            with :? JsonException as e -> raise (InvalidDataException($"{path}: not valid JSON ({e.Message}); rerun the study", e))
        try
            if o.["format"].GetValue<string>() <> "research-result" then failwith "format is not research-result"
            { Study = o.["study"].GetValue<string>()
              Title = o.["title"].GetValue<string>()
              Seed = o.["seed"].GetValue<int64>()
              Tier = (if o.["tier"].GetValue<string>() = "full" then Tier.Full else Tier.Quick)
              Identity = o.["identity"].GetValue<string>()
              Directory = Path.GetFullPath directory
              Report = Path.Combine(Path.GetFullPath directory, o.["report"].GetValue<string>())
              Tables = [ for t in o.["tables"].AsArray() -> Path.Combine(Path.GetFullPath directory, t.GetValue<string>()) ]
              Claims = [ for c in o.["claims"].AsArray() -> claimOf c ]
              Steps = [ for s in o.["steps"].AsArray() -> s.[0].GetValue<string>(), readNum s.[1] ]
              Seconds = readNum o.["seconds"]
              Facts = readPairs o.["facts"]
              Files = readPairs o.["files"]
              BrowserCheck = o.["browser_check"].GetValue<string>() }
        with
        | :? InvalidDataException -> reraise ()
        | e -> raise (InvalidDataException($"{path}: not a result file of this toolkit ({e.Message}); rerun the study", e))

    /// <summary>Checks a finished folder against the hashes its result lists.</summary>
    /// <returns>One line per file that is missing or changed (empty: intact).</returns>
    let verify (directory: string) : string list =
        let r = readResult directory
        [ for rel, hash in r.Files do
            let p = Path.Combine(directory, rel)
            if not (File.Exists p) then yield $"{rel}: missing"
            elif sha256File p <> hash then yield $"{rel}: changed since the run (SHA-256 differs)" ]

    // ---- folders: lock, staging, atomic replacement --------------------------------------------

    module private Native =
        [<DllImport("libc", SetLastError = true, EntryPoint = "renameat2")>]
        extern int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint32 flags)

    /// Exchanges two directories atomically (Linux renameat2 RENAME_EXCHANGE); false where unsupported.
    let private tryExchange (a: string) (b: string) =
        try
            RuntimeInformation.IsOSPlatform OSPlatform.Linux && Native.renameat2(-100, a, -100, b, 2u) = 0
        with _ -> false

    /// <summary>An exclusive lock on one result folder, held for the whole run (released when the
    /// process ends, however it ends).</summary>
    type FolderLock private (stream: FileStream, owner: string) =
        /// <summary>Takes the lock of <paramref name="folder"/>, or fails at once naming the process that holds it.</summary>
        static member Acquire(folder: string) : Result<FolderLock, string> =
            let parent = Path.GetDirectoryName folder
            let locks = Path.Combine(parent, ".locks")
            Directory.CreateDirectory locks |> ignore
            let name = Path.GetFileName folder
            let lockPath = Path.Combine(locks, name + ".lock")
            let ownerPath = Path.Combine(locks, name + ".owner")
            try
                let s = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                File.WriteAllText(ownerPath, $"{Environment.ProcessId} {DateTime.UtcNow:O} {Environment.CommandLine}")
                Ok(new FolderLock(s, ownerPath))
            with :? IOException ->
                let holder = try File.ReadAllText ownerPath with _ -> "another process"
                let pid = holder.Split(' ').[0]
                Error $"{folder} is being written by process {pid} ({holder.Substring(min holder.Length (pid.Length + 1))}); wait for it to finish or stop it, then run again"
        interface IDisposable with
            member _.Dispose() =
                try File.Delete owner with _ -> ()
                stream.Dispose()

    /// <summary>Moves a complete staging folder into place. An existing complete folder is exchanged
    /// atomically with the new one, so at every instant one complete result is there.</summary>
    let private publish (staging: string) (final: string) =
        if Directory.Exists final then
            if tryExchange staging final then Directory.Delete(staging, true)
            else
                // no renameat2: keep the old folder until the new one is in place
                let old = final + $".old-{Environment.ProcessId}"
                Directory.Move(final, old)
                Directory.Move(staging, final)
                Directory.Delete(old, true)
        else Directory.Move(staging, final)

    // ---- the report ------------------------------------------------------------------------------

    let private verdictCounts (claims: ClaimResult list) =
        let count v = claims |> List.filter (fun c -> c.Verdict = v) |> List.length
        count Holds, count Refuted, count Inconclusive

    let private methodsBlocks (settings: RunSettings) (prepared: PreparedStudy) (identity: string) (ctx: StudyContext)
                              (data: MnistData option) (output: StudyOutput) (steps: (string * float) list) =
        [ Heading(2, "Methods and provenance")
          Facts
              [ yield "study", $"{prepared.Name}: {prepared.Description}"
                yield "reproduces", String.Join("; ", prepared.Notebooks)
                yield "tier", string prepared.Tier
                yield "seed", string settings.Seed
                yield "identity", $"{identity} (SHA-256 of the study, every setting below and the data's checksums)"
                if settings.CommandLine <> "" then yield "command", settings.CommandLine
                yield! output.Methods
                for name, seed in ctx.Streams do yield $"random stream {prepared.Name}/{name}", string seed
                match data with
                | Some d ->
                    let status = if d.Verified then "checksums verified against the distribution" else "UNVERIFIED: checksums differ from the distribution or a stand-in"
                    yield "data", $"MNIST from {d.Source} ({status})"
                    for f, md5 in d.Checksums do yield $"data {f} MD5", md5
                | None -> ()
                yield! versions () ]
          Heading(3, "Every setting")
          Facts prepared.Facts
          Heading(3, "Inputs and traces (SHA-256)")
          (if output.Inputs.IsEmpty then Paragraph "The run read no files besides the data above." else Facts output.Inputs)
          Heading(3, "Time per step")
          Table
              { Title = "Wall time of each step on this machine"
                Columns = [ "step"; "seconds" ]
                Rows = [ for s, t in steps -> [ s; t.ToString("F1", CultureInfo.InvariantCulture) ] ]
                CsvName = None } ]

    /// One line per claim for a terminal.
    let summaryLines (claims: ClaimResult list) : string list =
        [ for c in claims ->
            let mark =
                match c.Expected with
                | Some e when e = c.Verdict -> "as expected"
                | Some e -> $"EXPECTED {e}"
                | None -> "no expectation"
            sprintf "  %-30s %-12s %-16s %s" c.Id (string c.Verdict) mark (Claims.describe c.Effect) ]

    let private exceptionText (e: exn) =
        // an ArgumentException's message ends with " (Parameter 'name')", which names a code parameter, not the user's input
        let message (x: exn) =
            match x with
            | :? ArgumentException as a when not (isNull a.ParamName) -> a.Message.Replace($" (Parameter '{a.ParamName}')", "")
            | _ -> x.Message
        let rec chain (x: exn) = [ if not (isNull x) then yield message x; yield! (if isNull x then [] else chain x.InnerException) ]
        let messages = chain e |> List.distinct
        // an outer message that already contains the inner one says it once
        messages |> List.fold (fun acc m -> if acc = "" then m elif acc.Contains m then acc else acc + ": " + m) ""

    /// <summary>
    /// Runs a prepared study: takes the folder's lock, runs in a staging folder, writes the report
    /// (study blocks, verdicts, methods and provenance, CSV tables), checks it in headless Chromium,
    /// writes result.json with every file's hash, and only then replaces any earlier result of the
    /// same configuration. Bad input or a failure inside the study comes back as Error with a
    /// message that names the cause; the staging folder is removed and no earlier result is touched.
    /// </summary>
    /// <summary>MNIST for a prepared study (None when it does not use it), checksums verified.</summary>
    let loadData (settings: RunSettings) (prepared: PreparedStudy) : MnistData option =
        if not prepared.UsesMnist then None
        else
            match settings.Mnist with
            | Some f -> Some(f ())
            | None -> Some(MnistData.load settings.AllowUnverifiedData (Research.Core.Data.Mnist.DefaultDirectory()))

    /// <summary>The identity and result folder of a prepared study for a seed.</summary>
    let locate (settings: RunSettings) (prepared: PreparedStudy) (data: MnistData option) (seed: int64) : string * string =
        let id = identity prepared.Name prepared.Facts (match data with Some d -> d.Checksums | None -> [])
        id, Path.Combine(settings.OutputRoot, prepared.Name, folderName seed id)

    /// <summary>True when <paramref name="folder"/> holds a finished run of <paramref name="identity"/>
    /// whose files all match the hashes it recorded.</summary>
    let isComplete (folder: string) (identity: string) : bool =
        File.Exists(resultFile folder)
        && (try (readResult folder).Identity = identity && List.isEmpty (verify folder) with _ -> false)

    /// <summary>
    /// Writes a result folder safely: takes its lock (or fails at once naming the process that holds
    /// it), removes staging left by killed runs, lets <paramref name="write"/> fill a fresh staging
    /// folder, and moves it into place only when <paramref name="write"/> returns Ok (an atomic exchange
    /// with an earlier complete folder). On Error or an exception the staging folder is removed and
    /// an earlier result is untouched.
    /// </summary>
    let withResultFolder (final: string) (write: string -> Result<'T, string>) : Result<'T, string> =
        let parent = Path.GetDirectoryName final
        Directory.CreateDirectory parent |> ignore
        match FolderLock.Acquire final with
        | Error e -> Error e
        | Ok lock ->
            use _ = lock
            let stagingRoot = Path.Combine(parent, ".staging")
            // we hold the lock: any staging folder of this result is left over from a killed run
            if Directory.Exists stagingRoot then
                for d in Directory.GetDirectories(stagingRoot, Path.GetFileName final + ".*") do
                    try Directory.Delete(d, true) with _ -> ()
            for d in Directory.GetDirectories(parent, Path.GetFileName final + ".old-*") do
                try Directory.Delete(d, true) with _ -> ()
            let staging = Path.Combine(stagingRoot, $"{Path.GetFileName final}.{Environment.ProcessId}")
            Directory.CreateDirectory staging |> ignore
            let outcome =
                try write staging
                with e ->
                    try Directory.Delete(staging, true) with _ -> ()
                    reraise ()
            match outcome with
            | Ok _ ->
                publish staging final
                (try if Directory.GetFileSystemEntries(stagingRoot).Length = 0 then Directory.Delete stagingRoot with _ -> ())
            | Error _ -> try Directory.Delete(staging, true) with _ -> ()
            outcome

    /// <summary>
    /// Runs a prepared study: takes the folder's lock, runs in a staging folder, writes the report
    /// (study blocks, verdicts, methods and provenance, CSV tables), checks it in headless Chromium,
    /// writes result.json with every file's hash, and only then replaces any earlier result of the
    /// same configuration. Bad input or a failure inside the study comes back as Error with a
    /// message that names the cause; the staging folder is removed and no earlier result is touched.
    /// </summary>
    /// <summary>"time: 57.3 s of study steps (a 40.1 s, b 17.2 s), report 2.1 s, browser check 6.0 s":
    /// the study's own time apart from the report and its check.</summary>
    let timeLine (steps: (string * float) list) : string =
        let isRunner (name: string, _) = name = "report" || name = "browser check"
        let study = steps |> List.filter (isRunner >> not)
        let detail = String.Join(", ", [ for n, t in study -> $"{n} {t:F1} s" ])
        let runner = String.Join(", ", [ for n, t in steps |> List.filter isRunner -> $"{n} {t:F1} s" ])
        $"time: {List.sumBy snd study:F1} s of study steps ({detail}); {runner}"

    let run (settings: RunSettings) (prepared: PreparedStudy) : Result<RunResult, string> =
        let log = settings.Log
        let clock = Stopwatch.StartNew()
        try
            let data = loadData settings prepared
            let id, final = locate settings prepared data settings.Seed
            withResultFolder final (fun staging ->
                    log.WriteLine $"== {prepared.Name} (seed {settings.Seed}, {prepared.Tier} tier) → {final}"
                    let steps = prepared.Steps @ [ "report"; "browser check" ]
                    let noData = lazy (invalidOp $"study {prepared.Name} asked for MNIST but its configuration says it does not use it; fix UsesMnist")
                    let ctx = StudyContext(prepared.Name, settings.Seed, prepared.Tier, staging, steps, log,
                                           (match data with Some d -> lazy d | None -> noData))
                    let output = prepared.Run ctx
                    let studySteps = ctx.Finish()
                    ctx.Step "report"
                    let holds, refuted, inconclusive = verdictCounts output.Claims
                    let surprises = output.Claims |> List.filter (fun c -> c.Surprising) |> List.length
                    let head =
                        [ Paragraph output.Summary
                          Paragraph $"Verdicts: {holds} hold, {refuted} refuted, {inconclusive} inconclusive; {surprises} differ from what the study expected."
                          Heading(2, "Verdicts on the notebooks' conclusions")
                          yield! Claims.toBlocks "Claims: each conclusion with its pre-registered decision rule" (Some "claims.csv") output.Claims ]
                    let reportPath = Path.Combine(staging, "report.html")
                    let written = Report.write reportPath output.Title (head @ output.Blocks @ methodsBlocks settings prepared id ctx data output studySteps)
                    ctx.Step "browser check"
                    let browser =
                        if not settings.BrowserCheck then "skipped: disabled"
                        else
                            match BrowserCheck.tryFindBrowser () with
                            | None -> "skipped: no Chromium (apt-get install chromium, or set CHROMIUM)"
                            | Some _ ->
                                let r = BrowserCheck.checkSized (1280, 9000) (Path.Combine(staging, "report.png")) reportPath
                                ctx.Info $"{r.ChartsDrawn}/{r.Charts} charts drawn, {r.ConsoleErrors.Length} console errors"
                                for e in r.ConsoleErrors do ctx.Info $"console: {e}"
                                if r.Passed then "passed"
                                else $"FAILED: {r.ChartsDrawn}/{r.Charts} charts drawn, {r.ConsoleErrors.Length} console errors"
                    let stepTimes = ctx.Finish()
                    let result =
                        { Study = prepared.Name
                          Title = output.Title
                          Seed = settings.Seed
                          Tier = prepared.Tier
                          Identity = id
                          Directory = final
                          Report = Path.Combine(final, "report.html")
                          Tables = [ for t in List.tail written -> Path.Combine(final, Path.GetFileName t) ]
                          Claims = output.Claims
                          Steps = stepTimes
                          Seconds = clock.Elapsed.TotalSeconds
                          Facts = prepared.Facts
                          Files = hashTree staging
                          BrowserCheck = browser }
                    File.WriteAllText(resultFile staging, toJson result, UTF8Encoding(false))
                    Ok result)
            |> Result.map (fun result ->
                    let holds, refuted, inconclusive = verdictCounts result.Claims
                    log.WriteLine ""
                    log.WriteLine $"{prepared.Name}: {holds} hold, {refuted} refuted, {inconclusive} inconclusive; browser check {result.BrowserCheck}"
                    for line in summaryLines result.Claims do log.WriteLine line
                    log.WriteLine $"report: {result.Report} ({clock.Elapsed.TotalSeconds:F1} s)"
                    log.WriteLine (timeLine result.Steps)
                    result)
        with e -> Error $"{prepared.Name}: {exceptionText e}"

    /// Every finished run under a report root (newest first within a study).
    let private allResults (root: string) : RunResult list =
        if not (Directory.Exists root) then []
        else
            [ for studyDir in Directory.GetDirectories root |> Array.sort do
                let runs =
                    [ for d in Directory.GetDirectories(studyDir, "seed-*") do
                        if File.Exists(resultFile d) then
                            match (try Some(readResult d) with _ -> None) with
                            | Some r -> yield r, File.GetLastWriteTimeUtc(resultFile d)
                            | None -> () ]
                yield! runs |> List.sortByDescending snd |> List.map fst ]

    /// Every replication under a report root: (study, seeds, label counts, report path).
    let private allReplications (root: string) =
        if not (Directory.Exists root) then []
        else
            [ for studyDir in Directory.GetDirectories root |> Array.sort do
                for d in Directory.GetDirectories(studyDir, "replication-*") |> Array.sort do
                    let file = Path.Combine(d, "replication.json")
                    if File.Exists file then
                        match (try Some(JsonNode.Parse(File.ReadAllText file)) with _ -> None) with
                        | Some o ->
                            let seeds = [ for s in o.["seeds"].AsArray() -> string (s.GetValue<int64>()) ]
                            let labels = [ for c in o.["claims"].AsArray() -> c.["label"].GetValue<string>().Split(' ').[0] ]
                            let count l = labels |> List.filter ((=) l) |> List.length
                            yield o.["study"].GetValue<string>(), String.Join(",", seeds), count "robust", count "fragile", count "refuted",
                                  count "inconclusive", Path.Combine(d, "report.html")
                        | None -> () ]

    /// <summary>Writes `index.html` in the output root: one row per study run now with its verdict
    /// counts, time and a link to its report; then every result and replication found in the root.</summary>
    /// <returns>The index's path.</returns>
    let writeIndex (root: string) (results: RunResult list) : string =
        let path = Path.Combine(root, "index.html")
        let row (r: RunResult) =
            let holds, refuted, inconclusive = verdictCounts r.Claims
            [ r.Study; r.Title; string r.Seed; string r.Tier; string holds; string refuted; string inconclusive
              string r.Surprises.Length; r.Seconds.ToString("F0", CultureInfo.InvariantCulture); r.BrowserCheck ]
        let link (p: string) = Path.GetRelativePath(root, p).Replace('\\', '/')
        let columns = [ "study"; "title"; "seed"; "tier"; "hold"; "refuted"; "inconclusive"; "unexpected"; "seconds"; "browser check" ]
        let everything = allResults root
        let shown = if results.IsEmpty then everything else results
        let counts (v: Verdict) = [| for r in shown -> float (r.Claims |> List.filter (fun c -> c.Verdict = v) |> List.length) |]
        let labels = [| for r in shown -> $"{r.Study} (seed {r.Seed})" |]
        let chart =
            [ Figures.bars "hold" 2 labels (counts Holds); Figures.bars "refuted" 1 labels (counts Refuted)
              Figures.bars "inconclusive" 7 labels (counts Inconclusive) ]
            |> Chart.combine
            |> Figures.withAxes "run" "claims"
            |> Chart.withSize (900, 380)
        let total = shown |> List.sumBy (fun r -> r.Seconds)
        let replications = allReplications root
        Report.write path "Research toolkit: the studies"
            [ yield Figure("Verdicts per run.", chart)
              yield Paragraph $"""{shown.Length} runs shown, {total:F0} s in all. Each row links to its report; "unexpected" counts claims whose verdict differs from what the study expects."""
              yield LinkTable({ Title = (if results.IsEmpty then "Every result in this folder" else "This run"); Columns = columns
                                Rows = shown |> List.map row; CsvName = None }, shown |> List.map (fun r -> link r.Report))
              if not replications.IsEmpty then
                  yield Heading(2, "Replications across seeds")
                  yield LinkTable({ Title = "Claims labelled robust, fragile, refuted or inconclusive across seeds"
                                    Columns = [ "study"; "seeds"; "robust"; "fragile"; "refuted"; "inconclusive" ]
                                    Rows = [ for st, seeds, r, f, x, i, _ in replications -> [ st; seeds; string r; string f; string x; string i ] ]
                                    CsvName = None },
                                  [ for _, _, _, _, _, _, p in replications -> link p ])
              if not results.IsEmpty && everything.Length > results.Length then
                  yield Heading(2, "Earlier results in this folder")
                  yield LinkTable({ Title = "Every result found"; Columns = columns; Rows = everything |> List.map row; CsvName = None },
                                  everything |> List.map (fun r -> link r.Report)) ]
        |> ignore
        path
