/// Every script under scripts/ runs (on small data, with --small), and a researcher's own script
/// anywhere on disk gets the whole toolkit from the one-line prelude.
module Research.Tests.ScriptTests

open System
open System.Diagnostics
open System.IO
open Expecto

let private checkout =
    lazy
        (let rec up (d: DirectoryInfo) =
            if isNull d then failwith "Research.sln not found above the test assembly"
            elif File.Exists(Path.Combine(d.FullName, "Research.sln")) then d.FullName
            else up d.Parent
         up (DirectoryInfo AppContext.BaseDirectory))

/// Runs `dotnet fsi script args` with reports going to a temporary folder; returns (exit code, output).
let private fsi (script: string) (args: string list) =
    let psi = ProcessStartInfo("dotnet")
    for a in [ "fsi"; "--quiet"; script ] @ args do psi.ArgumentList.Add a
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.WorkingDirectory <- Path.GetTempPath()
    psi.Environment.["RESEARCH_REPORTS"] <- Path.Combine(Path.GetTempPath(), $"script-reports-{Guid.NewGuid():N}")
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    if not (p.WaitForExit 900_000) then
        p.Kill true
        failtest $"{script} did not finish within 15 minutes"
    p.ExitCode, out + err.Result

[<Tests>]
let tests =
    testSequenced <| testList "Scripts" [
        for script in Directory.GetFiles(Path.Combine(checkout.Value, "scripts"), "*.fsx") |> Array.sort do
            if Path.GetFileName script <> "research.fsx" then
                yield testCase $"scripts/{Path.GetFileName script} runs (--small)" <| fun () ->
                    let code, output = fsi script [ "--small" ]
                    if code <> 0 then failtest $"exit code {code}:\n{output}"

        yield testCase "a researcher's script anywhere on disk loads the toolkit with one #load line" <| fun () ->
            let dir = Path.Combine(Path.GetTempPath(), $"my-research-{Guid.NewGuid():N}")
            Directory.CreateDirectory dir |> ignore
            let prelude = Path.Combine(checkout.Value, "scripts", "research.fsx").Replace("\\", "/")
            let script = Path.Combine(dir, "mine.fsx")
            let lines =
                [ $"#load \"{prelude}\""
                  "open Research.Analysis"
                  "let p = [| 0.001; 0.01; 0.02; 0.2; 0.5 |]"
                  "let bh = MultipleTesting.benjaminiHochberg 0.05 p"
                  "printfn \"BH rejects %d; median %g\" bh.RejectedCount (Quantile.median p)" ]
            File.WriteAllLines(script, lines)
            let code, output = fsi script []
            Expect.equal code 0 $"exit code ({output})"
            Expect.stringContains output "BH rejects 3; median 0.02" "the toolkit's functions answer"
    ]
