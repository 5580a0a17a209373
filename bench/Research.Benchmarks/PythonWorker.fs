/// A persistent Python process of the benchmarks (bench/python/mixture_bench.py, shapiro_bench.py):
/// one request line in, one JSON reply line out, so that our and the Python tool's timings can
/// alternate workload by workload on a shared machine.
module Research.Benchmarks.PythonWorker

open System
open System.Diagnostics
open System.Text.Json

/// The process running `exe script`; `Ask` sends one request and returns the parsed reply.
type PythonWorker(exe: string, script: string) =
    let proc =
        let psi = ProcessStartInfo(exe, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
                                   UseShellExecute = false)
        psi.ArgumentList.Add script
        Process.Start psi
    member _.Ask(request: string) : JsonElement =
        proc.StandardInput.WriteLine request
        proc.StandardInput.Flush()
        match proc.StandardOutput.ReadLine() with
        | null -> failwithf "%s %s stopped: %s" exe script (proc.StandardError.ReadToEnd())
        | line -> JsonDocument.Parse(line).RootElement.Clone()
    interface IDisposable with
        member _.Dispose() =
            try
                proc.StandardInput.WriteLine "quit"
                proc.WaitForExit 5000 |> ignore
            with _ -> ()
            proc.Dispose()
