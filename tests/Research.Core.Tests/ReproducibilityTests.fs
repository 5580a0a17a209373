/// Bit-for-bit reproducibility of a capture: the same seed gives the same trace bytes whatever the
/// thread count and however loaded the machine is (Runtime/ReproducibleNumerics.cs says why).
module Research.Tests.ReproducibilityTests

open System
open System.Diagnostics
open System.IO
open System.Security.Cryptography
open System.Threading
open Expecto

let private childDll () =
    let tfm = DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))
    Path.Combine(tfm.Parent.Parent.Parent.Parent.FullName, "TraceCrashChild", "bin", tfm.Parent.Name, tfm.Name, "TraceCrashChild.dll")

let private host () =
    if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"

/// Runs the child's small capture into a new folder with the given libtorch thread count; returns
/// the SHA-256 of each .npy file of the trace and what the child said.
let private capture (threads: int) =
    let dir = Path.Combine(Path.GetTempPath(), $"repro-{Guid.NewGuid():N}")
    let psi = ProcessStartInfo(host (), [ childDll (); "capture"; dir ], RedirectStandardOutput = true, RedirectStandardError = true)
    psi.Environment.["OMP_NUM_THREADS"] <- string threads
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    if not (p.WaitForExit 300_000) then
        p.Kill true
        failtest "the capture did not finish within 5 minutes"
    if p.ExitCode <> 0 then failtest $"the capture failed (exit {p.ExitCode}): {err.Result}"
    let hashes =
        [ for f in Directory.GetFiles(dir, "*.npy") |> Array.sort ->
            Path.GetFileName f, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes f)) ]
    hashes, out.Trim()

/// Busy threads that load every core while a capture runs.
let private withLoad (f: unit -> 'a) =
    use stop = new CancellationTokenSource()
    let spin () =
        let mutable x = 0.0
        while not stop.IsCancellationRequested do x <- sin (x + 1.0)
    let threads = [ for _ in 1 .. Environment.ProcessorCount -> Thread(spin, IsBackground = true) ]
    for t in threads do t.Start()
    try f () finally stop.Cancel()

[<Tests>]
let tests =
    testSequenced <| testList "Runtime.Reproducibility" [
        testCase "the same capture gives identical trace bytes on 1 and 2 threads, on a loaded machine, and run twice at once" <| fun () ->
            if not (File.Exists(childDll ())) then failtest $"the helper {childDll ()} is not built (a build dependency of this project)"
            let reference, said = capture 2
            Expect.stringContains said "MKL_CBWR=" "the child reports the MKL code path it used"
            Expect.isNonEmpty reference "the trace has .npy files"
            let one, _ = capture 1
            Expect.equal one reference "one thread gives the bytes of two threads"
            let loaded, _ = withLoad (fun () -> capture 2)
            Expect.equal loaded reference "a machine loaded by busy threads on every core gives the same bytes"
            let both = [ async { return capture 2 }; async { return capture 2 } ] |> Async.Parallel |> Async.RunSynchronously
            for h, _ in both do Expect.equal h reference "two captures at once give the same bytes"
    ]
