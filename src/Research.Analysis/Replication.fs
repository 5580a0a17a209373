namespace Research.Analysis

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open Plotly.NET
open MathNet.Numerics.Distributions

/// <summary>How a claim fared across seeds.</summary>
type ReplicationLabel =
    /// The same verdict, holds, in every seed.
    | Robust
    /// Refuted in every seed.
    | RefutedEverywhere
    /// Inconclusive in every seed.
    | InconclusiveEverywhere
    /// Different verdicts in different seeds.
    | Fragile

    override l.ToString() =
        match l with
        | Robust -> "robust (holds in every seed)"
        | RefutedEverywhere -> "refuted (in every seed)"
        | InconclusiveEverywhere -> "inconclusive (in every seed)"
        | Fragile -> "fragile (verdicts differ between seeds)"

/// <summary>One claim over all seeds of a replication.</summary>
type ReplicatedClaim =
    { Id: string
      Statement: string
      Expected: Verdict option
      /// (seed, result) for every seed, in seed order.
      PerSeed: (int64 * ClaimResult) list
      Label: ReplicationLabel
      /// Seeds whose verdict is the expected one (all seeds when no expectation is recorded).
      AsExpected: int
      /// Mean of the per-seed estimates with a Student-t 95% interval over seeds (NaN with fewer than 2 finite estimates).
      Pooled: float * float * float }

    /// True when the claim is expected to hold and does not hold in every seed (what `--check` fails on).
    member c.FailsCheck = c.Expected = Some Holds && c.Label <> Robust

/// <summary>
/// Replication of a study across seeds: each seed runs in its own process (as many at once as there
/// are cores) into its own result folder, complete folders of the same configuration are reused,
/// and a replication report shows each claim's verdict and effect per seed, a pooled estimate and a
/// label — robust, fragile or refuted.
/// </summary>
module Replication =

    /// <summary>Parses a seed list: "0..9", "0,3,7", "5", or a mix ("0..2,7").</summary>
    let parseSeeds (text: string) : Result<int64 list, string> =
        let part (p: string) =
            let p = p.Trim()
            match p.Split("..") with
            | [| a; b |] ->
                match Int64.TryParse a, Int64.TryParse b with
                | (true, x), (true, y) when 0L <= x && x <= y && y - x < 10_000L -> Ok [ x .. y ]
                | _ -> Error $"'{p}' is not a range lo..hi of seeds 0 ≤ lo ≤ hi"
            | [| a |] ->
                match Int64.TryParse a with
                | true, x when x >= 0L -> Ok [ x ]
                | _ -> Error $"'{p}' is not a seed (a whole number ≥ 0)"
            | _ -> Error $"'{p}' is not a seed or a range lo..hi"
        if String.IsNullOrWhiteSpace text then Error "--seeds: expected seeds such as 0..9 or 0,3,7, got an empty value"
        else
            let parts = text.Split(',') |> Array.map part
            match parts |> Array.tryPick (function Error e -> Some e | Ok _ -> None) with
            | Some e -> Error $"--seeds: {e}; write seeds as 0..9, 0,3,7 or 0..2,7"
            | None ->
                let seeds = parts |> Array.collect (function Ok s -> Array.ofList s | Error _ -> [||]) |> List.ofArray
                let dups = seeds |> List.countBy id |> List.filter (fun (_, c) -> c > 1) |> List.map fst
                if not dups.IsEmpty then Error $"""--seeds: seed {String.Join(", ", dups)} is listed twice in '{text}'"""
                else Ok seeds

    /// The seed list in a folder-safe form ("0-4", "0_3_7").
    let seedsTag (seeds: int64 list) =
        let sorted = List.sort seeds
        let contiguous = sorted |> List.pairwise |> List.forall (fun (a, b) -> b = a + 1L)
        if contiguous && sorted.Length > 1 then $"{sorted.Head}-{List.last sorted}" else String.Join("_", sorted)

    // ---- combining seeds -----------------------------------------------------------------------

    let private label (verdicts: Verdict list) =
        match List.distinct verdicts with
        | [ Holds ] -> Robust
        | [ Refuted ] -> RefutedEverywhere
        | [ Inconclusive ] -> InconclusiveEverywhere
        | _ -> Fragile

    /// Mean of finite estimates with a Student-t interval at the given level (NaN interval with < 2).
    let pooled (level: float) (estimates: float list) : float * float * float =
        let xs = estimates |> List.filter Double.IsFinite |> Array.ofList
        if xs.Length = 0 then nan, nan, nan
        else
            let mean = Array.average xs
            if xs.Length < 2 then mean, nan, nan
            else
                let sd = sqrt ((xs |> Array.sumBy (fun x -> (x - mean) ** 2.0)) / float (xs.Length - 1))
                let t = StudentT.InvCDF(0.0, 1.0, float (xs.Length - 1), 1.0 - (1.0 - level) / 2.0)
                let h = t * sd / sqrt (float xs.Length)
                mean, mean - h, mean + h

    /// <summary>Combines the results of several seeds of one configuration, claim by claim.</summary>
    let combine (results: RunResult list) : ReplicatedClaim list =
        let ordered = results |> List.sortBy (fun r -> r.Seed)
        let ids = ordered |> List.collect (fun r -> r.Claims |> List.map (fun c -> c.Id)) |> List.distinct
        [ for id in ids ->
            let per = [ for r in ordered do match r.Claims |> List.tryFind (fun c -> c.Id = id) with Some c -> yield r.Seed, c | None -> () ]
            let first = snd per.Head
            let verdicts = per |> List.map (fun (_, c) -> c.Verdict)
            { Id = id
              Statement = first.Statement
              Expected = first.Expected
              PerSeed = per
              Label = label verdicts
              AsExpected = (match first.Expected with Some e -> verdicts |> List.filter ((=) e) |> List.length | None -> verdicts.Length)
              Pooled = pooled 0.95 [ for _, c in per -> c.Effect.Estimate ] } ]

    // ---- the report ------------------------------------------------------------------------------

    let private fmt (x: float) =
        if Double.IsNaN x then "–"
        elif x <> 0.0 && (abs x >= 1e4 || abs x < 1e-3) then x.ToString("0.###e+0", CultureInfo.InvariantCulture)
        else x.ToString("0.####", CultureInfo.InvariantCulture)

    let private forest (c: ReplicatedClaim) : GenericChart =
        let seeds = [| for s, _ in c.PerSeed -> $"seed {s}" |]
        let est = [| for _, r in c.PerSeed -> r.Effect.Estimate |]
        let lo = [| for _, r in c.PerSeed -> r.Effect.Lower |]
        let hi = [| for _, r in c.PerSeed -> r.Effect.Upper |]
        let m, plo, phi = c.Pooled
        let finite x = if Double.IsFinite x then x else nan
        [ Chart.Point(x = Array.map finite est, y = seeds, Name = "per seed", MarkerColor = Palette.colour 0)
          |> Chart.withXError (
              TraceObjects.Error.init (
                  Array = Array.map2 (fun h e -> if Double.IsFinite h && Double.IsFinite e then h - e else 0.0) hi est,
                  Arrayminus = Array.map2 (fun e l -> if Double.IsFinite l && Double.IsFinite e then e - l else 0.0) est lo,
                  Symmetric = false))
          Chart.Point(x = [| finite m |], y = [| "pooled (mean, t 95%)" |], Name = "pooled", MarkerColor = Palette.colour 1,
                      MarkerSymbol = StyleParam.MarkerSymbol.Diamond)
          |> Chart.withXError (
              TraceObjects.Error.init (Array = [| (if Double.IsFinite phi then phi - m else 0.0) |], Arrayminus = [| (if Double.IsFinite plo then m - plo else 0.0) |],
                          Symmetric = false)) ]
        |> Chart.combine
        |> Chart.withLayoutStyle (ShowLegend = false)

    /// The replication's folder under a study's folder.
    let folder (studyRoot: string) (seeds: int64 list) (identity: string) =
        Path.Combine(studyRoot, $"replication-seeds-{seedsTag seeds}-{identity}")

    /// <summary>Writes the replication report of seed results into <paramref name="directory"/>.</summary>
    /// <returns>The report's path and the combined claims.</returns>
    let writeReport (directory: string) (study: string) (facts: (string * string) list) (results: RunResult list)
                    (reused: int64 list) (failed: (int64 * string) list) : string * ReplicatedClaim list =
        let claims = combine results
        let seeds = results |> List.map (fun r -> r.Seed) |> List.sort
        let count l = claims |> List.filter (fun c -> c.Label = l) |> List.length
        let table =
            { Title = "Each claim in every seed: verdicts, how often as expected, the label and the pooled estimate"
              Columns =
                [ "claim"; "statement"; "expected" ] @ [ for s in seeds -> $"seed {s}" ]
                @ [ "as expected"; "label"; "quantity"; "pooled estimate [95% t interval over seeds]" ]
              Rows =
                [ for c in claims ->
                    let m, lo, hi = c.Pooled
                    [ yield c.Id
                      yield c.Statement
                      yield (match c.Expected with Some e -> string e | None -> "–")
                      for s in seeds ->
                          match c.PerSeed |> List.tryFind (fun (k, _) -> k = s) with
                          | Some(_, r) -> string r.Verdict
                          | None -> "–"
                      yield (match c.Expected with
                             | Some _ -> $"{c.AsExpected}/{c.PerSeed.Length}"
                             | None -> "–")
                      yield string c.Label
                      yield (snd c.PerSeed.Head).Effect.Quantity
                      yield $"{fmt m} [{fmt lo}, {fmt hi}]" ] ]
              CsvName = Some "replication.csv" }
        let perSeedTable =
            { Title = "Each claim's effect and interval per seed"
              Columns = [ "claim"; "seed"; "verdict"; "estimate"; "lower"; "upper"; "n" ]
              Rows = [ for c in claims do for s, r in c.PerSeed -> [ c.Id; string s; string r.Verdict; fmt r.Effect.Estimate; fmt r.Effect.Lower; fmt r.Effect.Upper; string r.Effect.N ] ]
              CsvName = Some "replication-per-seed.csv" }
        let links = [ for r in results -> Path.GetRelativePath(directory, r.Report).Replace('\\', '/') ]
        let seedRows =
            [ for r in results ->
                [ $"seed {r.Seed}"; (if List.contains r.Seed reused then "reused (complete, hashes verified)" else "run now"); r.Identity
                  r.Seconds.ToString("F0", CultureInfo.InvariantCulture); r.BrowserCheck ] ]
        let blocks =
            [ Paragraph $"""The {study} study, run once per seed with the same configuration (identity {results.Head.Identity}) in separate processes. A claim is robust when it holds in every seed, refuted or inconclusive when it is so in every seed, and fragile when the seeds disagree. Seeds: {String.Join(", ", seeds)}."""
              Paragraph $"Labels: {count Robust} robust, {count Fragile} fragile, {count RefutedEverywhere} refuted in every seed, {count InconclusiveEverywhere} inconclusive in every seed; {claims |> List.filter (fun c -> c.FailsCheck) |> List.length} claims expected to hold are not robust."
              if not failed.IsEmpty then
                  Paragraph $"""Seeds that failed and are not included: {String.Join("; ", [ for s, e in failed -> $"seed {s}: {e}" ])}"""
              Heading(2, "Claims across seeds")
              Table table
              Heading(2, "Effects per seed (forest plots)")
              Figure("Each claim's estimate and interval per seed (blue) and the mean over seeds with its t interval (red). Units are each claim's own (see its quantity).",
                     Figures.grid 2 260 [ for c in claims -> c.Id, forest c ])
              Table perSeedTable
              Heading(2, "Seed folders")
              LinkTable({ Title = "The runs combined here"; Columns = [ "seed"; "how"; "identity"; "seconds"; "browser check" ]; Rows = seedRows; CsvName = None }, links)
              Heading(2, "Every setting")
              Facts facts ]
        let path = Path.Combine(directory, "report.html")
        Report.write path $"Replication: {study} over {seeds.Length} seeds ({seedsTag seeds})" blocks |> ignore
        path, claims

    /// <summary>The replication's summary (replication.json): per claim its label and verdicts per seed.</summary>
    let toJson (study: string) (identity: string) (seeds: int64 list) (claims: ReplicatedClaim list) (browserCheck: string) : string =
        let o = JsonObject()
        o.["format"] <- JsonValue.Create "research-replication"
        o.["version"] <- JsonValue.Create 1
        o.["study"] <- JsonValue.Create study
        o.["identity"] <- JsonValue.Create identity
        o.["seeds"] <- JsonArray([| for s in seeds -> JsonValue.Create s :> JsonNode |])
        o.["browser_check"] <- JsonValue.Create browserCheck
        o.["claims"] <-
            JsonArray(
                [| for c in claims ->
                    let co = JsonObject()
                    co.["id"] <- JsonValue.Create c.Id
                    co.["label"] <- JsonValue.Create(string c.Label)
                    co.["as_expected"] <- JsonValue.Create c.AsExpected
                    co.["verdicts"] <- JsonArray([| for s, r in c.PerSeed -> JsonArray(JsonValue.Create s, JsonValue.Create(string r.Verdict)) :> JsonNode |])
                    co :> JsonNode |])
        o.ToJsonString(JsonSerializerOptions(WriteIndented = true, Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))

    // ---- running the seeds ---------------------------------------------------------------------

    /// The compiled command line (research.dll) to start seed processes with.
    let commandLineAssembly () : string =
        let entry = Reflection.Assembly.GetEntryAssembly()
        if not (isNull entry) && entry.GetName().Name = "research" then entry.Location
        else
            let rec up (d: DirectoryInfo) =
                if isNull d then None
                elif File.Exists(Path.Combine(d.FullName, "Research.sln")) then
                    Some(Path.Combine(d.FullName, "src", "Research.Cli", "bin", "Release", "net10.0", "research.dll"))
                else up d.Parent
            match up (DirectoryInfo AppContext.BaseDirectory) with
            | Some p when File.Exists p -> p
            | _ -> invalidOp "replication needs the compiled command line (src/Research.Cli); build the checkout with ./run.sh or dotnet build -c Release"

    /// <summary>Runs the seed processes, at most <paramref name="parallel"/> at once; each line they print
    /// is echoed with its seed. Each child gets <c>RESEARCH_PARENT_PID</c> and stops when this process ends.</summary>
    /// <returns>(seed, exit code, last error line) per seed.</returns>
    let runSeeds (log: TextWriter) (parallel: int) (threadsEach: int) (arguments: int64 -> string list) (seeds: int64 list) =
        let dll = commandLineAssembly ()
        let host = if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"
        let gate = obj ()
        let say (line: string) = lock gate (fun () -> log.WriteLine line)
        let runOne (seed: int64) =
            async {
                let psi = ProcessStartInfo(host, dll :: arguments seed)
                psi.RedirectStandardOutput <- true
                psi.RedirectStandardError <- true
                psi.Environment.["RESEARCH_PARENT_PID"] <- string Environment.ProcessId
                psi.Environment.["OMP_NUM_THREADS"] <- string threadsEach
                use p = Process.Start psi
                let lastError = ref ""
                p.OutputDataReceived.Add(fun a -> if not (isNull a.Data) then say $"[seed {seed}] {a.Data}")
                p.ErrorDataReceived.Add(fun a ->
                    if not (isNull a.Data) then
                        lastError.Value <- a.Data
                        say $"[seed {seed}] {a.Data}")
                p.BeginOutputReadLine()
                p.BeginErrorReadLine()
                do! p.WaitForExitAsync() |> Async.AwaitTask
                p.WaitForExit()
                return seed, p.ExitCode, lastError.Value
            }
        Async.Parallel(seeds |> List.map runOne, maxDegreeOfParallelism = max 1 parallel) |> Async.RunSynchronously |> List.ofArray

    /// <summary>In a seed process: stop at once when the process that started it ends (so killing the
    /// command a user started stops every seed's work).</summary>
    let watchParent () : unit =
        match Environment.GetEnvironmentVariable "RESEARCH_PARENT_PID" with
        | s when not (String.IsNullOrEmpty s) ->
            match Int32.TryParse s with
            | true, pid ->
                let alive () =
                    try
                        use p = Process.GetProcessById pid
                        not p.HasExited
                    with _ -> false
                let t = Threading.Thread((fun () ->
                            while alive () do Threading.Thread.Sleep 200
                            Process.GetCurrentProcess().Kill()), IsBackground = true)
                t.Start()
            | _ -> ()
        | _ -> ()
