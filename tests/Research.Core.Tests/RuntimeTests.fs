module Research.Tests.RuntimeTests

open System
open System.IO
open Expecto
open TorchSharp
open Research.Core.Runtime

let private stockLibrary () =
    let dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")
    Path.Combine(dir, "libLibTorchSharp.so")

/// tests/TraceCrashChild's dll beside this one's build.
let private childDll () =
    let tfm = DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))
    Path.Combine(tfm.Parent.Parent.Parent.Parent.FullName, "TraceCrashChild", "bin", tfm.Parent.Name, tfm.Name, "TraceCrashChild.dll")

/// Loads libtorch in a child process under an edited environment; returns (exit code, stdout, stderr).
let private loadNativeWith (edit: Collections.Generic.IDictionary<string, string> -> unit) =
    let host = if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"
    let psi = Diagnostics.ProcessStartInfo(host, [ childDll (); "native" ], RedirectStandardOutput = true, RedirectStandardError = true)
    psi.Environment.Remove "RESEARCH_NATIVE_CACHE" |> ignore
    psi.Environment.Remove "XDG_CACHE_HOME" |> ignore
    // the child finds the libtorch natives in the NuGet cache under HOME; keep that when HOME changes
    if String.IsNullOrEmpty(Environment.GetEnvironmentVariable "NUGET_PACKAGES") then
        psi.Environment.["NUGET_PACKAGES"] <- Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
    edit psi.Environment
    use p = Diagnostics.Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    if not (p.WaitForExit 120_000) then
        p.Kill true
        failtest "the child did not finish within 2 minutes"
    p.ExitCode, out.Trim(), err.Result.Trim()

let private cacheWhy =
    "TorchSharp's libLibTorchSharp.so needs GLIBCXX_3.4.32, which this system's libstdc++ lacks, so the toolkit loads a patched copy "
    + "that it writes into a cache folder first. Set RESEARCH_NATIVE_CACHE to a folder you can write to (e.g. export RESEARCH_NATIVE_CACHE=/tmp/research-native-$USER)."

[<Tests>]
let nativeCache =
    testList "Runtime.native-library cache: a folder that names itself, never a relative one" [
        testCase "RESEARCH_NATIVE_CACHE, then an absolute XDG_CACHE_HOME, then an absolute HOME (or the account's home)" <| fun () ->
            let env (pairs: (string * string) list) = fun (k: string) -> pairs |> List.tryFind (fun (n, _) -> n = k) |> Option.map snd |> Option.toObj
            Expect.equal (TorchNative.NativeCacheRoot(env [ "RESEARCH_NATIVE_CACHE", "/srv/c"; "HOME", "/home/u" ], "/home/u")) "/srv/c" "explicit"
            Expect.equal (TorchNative.NativeCacheRoot(env [ "XDG_CACHE_HOME", "/x"; "HOME", "/home/u" ], "/home/u")) "/x/research-toolkit/native" "XDG"
            Expect.equal (TorchNative.NativeCacheRoot(env [ "XDG_CACHE_HOME", "rel"; "HOME", "/home/u" ], "/home/u")) "/home/u/.cache/research-toolkit/native"
                "a relative XDG_CACHE_HOME is ignored, as the XDG specification says"
            Expect.equal (TorchNative.NativeCacheRoot(env [], "/home/acct")) "/home/acct/.cache/research-toolkit/native" "HOME unset: the account's home"
        testCase "no absolute folder at all: an error that says what was found and how to set one" <| fun () ->
            let unset = fun (_: string) -> (null: string)
            let e = Expect.throwsC (fun () -> TorchNative.NativeCacheRoot(unset, "") |> ignore) id
            Expect.equal e.Message ("native-library cache: no folder for it (HOME is not set and XDG_CACHE_HOME is not set). " + cacheWhy) "unset"
            let rel = fun (k: string) -> if k = "HOME" then ".home" else null
            let e2 = Expect.throwsC (fun () -> TorchNative.NativeCacheRoot(rel, "") |> ignore) id
            Expect.equal e2.Message ("native-library cache: no folder for it (HOME is the relative path '.home' and XDG_CACHE_HOME is not set). " + cacheWhy) "relative"
        testCase "an unwritable cache (XDG_CACHE_HOME=/proc/xdg, HOME=/proc/nohome) names the folder and the fix, in a fresh process" <| fun () ->
            if not (File.Exists(childDll ())) then failtest $"the helper {childDll ()} is not built (a build dependency of this project)"
            TorchRuntime.EnsureNative()
            for variable, value, folder in [ "XDG_CACHE_HOME", "/proc/xdg", "/proc/xdg/research-toolkit/native"
                                             "HOME", "/proc/nohome", "/proc/nohome/.cache/research-toolkit/native" ] do
                let code, out, err = loadNativeWith (fun e -> e.[variable] <- value)
                if TorchNative.UsesPatchedCopy then
                    Expect.equal code 1 $"{variable}={value}: the load fails (stdout: {out})"
                    Expect.stringStarts err $"native-library cache {folder}: cannot write there (" $"{variable}={value}: names the cache"
                    Expect.stringEnds err $"). {cacheWhy}" "says why and how to fix it"
                    Expect.isFalse (err.Contains "   at ") "one line, no stack trace"
                else
                    Expect.equal code 0 $"no patched copy is needed here, so no cache: {err}"
            // and the fix works
            let fixedDir = Path.Combine(Path.GetTempPath(), $"native-{Guid.NewGuid():N}")
            let code, out, err = loadNativeWith (fun e -> e.["XDG_CACHE_HOME"] <- "/proc/xdg"; e.["RESEARCH_NATIVE_CACHE"] <- fixedDir)
            Expect.equal code 0 $"RESEARCH_NATIVE_CACHE set: loads ({err})"
            if TorchNative.UsesPatchedCopy then Expect.stringContains out fixedDir "loaded from the given cache"
    ]

[<Tests>]
let tests =
    testList "Runtime" [
        testCase "native library loads and autograd works (d/dx sum x² = 2x)" <| fun () ->
            TorchRuntime.EnsureNative()
            use x = torch.tensor([| 1.0; -2.0; 3.5 |], requires_grad = true)
            use y = (x * x).sum()
            y.backward()
            Expect.equal (x.grad.data<float>().ToArray()) [| 2.0; -4.0; 7.0 |] "gradient of sum x²"

        testCase "loader says what it did; patched copy only when libstdc++ lacks GLIBCXX_3.4.32" <| fun () ->
            TorchRuntime.EnsureNative()
            let desc = TorchNative.Description
            Expect.isNotNull desc "a description is logged"
            let stdcxx =
                File.ReadLines "/proc/self/maps"
                |> Seq.choose (fun l -> let i = l.IndexOf '/' in if i >= 0 then Some l[i..] else None)
                |> Seq.find (fun p -> Path.GetFileName(p).StartsWith "libstdc++.so")
            let has = (File.ReadAllBytes stdcxx).AsSpan().IndexOf("GLIBCXX_3.4.32\000"B) >= 0
            Expect.equal TorchNative.UsesPatchedCopy (not has) $"patched copy iff {stdcxx} lacks the version"
            if TorchNative.UsesPatchedCopy then
                let loaded = TorchNative.LoadedPath
                Expect.isFalse (loaded.StartsWith "/usr" || loaded.StartsWith "/lib") "the copy is private, not in the system"
                Expect.stringContains desc "lacks GLIBCXX_3.4.32" "the log line names the reason"

        testCase "ELF patch marks only the GLIBCXX_3.4.32 need weak and changes nothing else" <| fun () ->
            let path = stockLibrary ()
            let original = File.ReadAllBytes path
            let patched = Array.copy original
            let changed = TorchNative.MarkVersionNeedWeak(patched, "GLIBCXX_3.4.32", path)
            Expect.equal changed 1 "one Vernaux entry"
            let diffs = [ for i in 0 .. original.Length - 1 do if original[i] <> patched[i] then yield i ]
            Expect.equal diffs.Length 1 "exactly one byte differs (vna_flags low byte)"
            Expect.equal (patched[diffs.Head] ^^^ original[diffs.Head]) 2uy "VER_FLG_WEAK = 0x2 set"

        testCase "ELF patch rejects a foreign file with its name" <| fun () ->
            Check.throws<InvalidOperationException> (fun () ->
                TorchNative.MarkVersionNeedWeak("not an elf at all, just text......................................."B, "GLIBCXX_3.4.32", "/tmp/foo.so") |> ignore)
            |> Check.messageHas [ "/tmp/foo.so"; "not an ELF" ]

        testCase "device: auto picks CPU here, explicit cpu works, CUDA request explains, typo rejected" <| fun () ->
            let info = TorchRuntime.Initialize(7L, "auto")
            if not (torch.cuda.is_available()) then
                Expect.equal info.Device "cpu" "auto falls back to CPU without CUDA"
                Expect.stringContains info.DeviceReason "CUDA not available" "reason reported"
                Check.throws<ArgumentException> (fun () -> TorchRuntime.Device "cuda" |> ignore)
                |> Check.messageHas [ "cuda"; "is_available"; "cpu" ]
            Expect.equal (TorchRuntime.Device("cpu").``type``) DeviceType.CPU "cpu"
            Check.throws<ArgumentException> (fun () -> TorchRuntime.Device "gpu0" |> ignore)
            |> Check.messageHas [ "gpu0"; "expected 'auto', 'cpu', 'cuda'" ]

        testCase "DeriveSeed is stable and separates purposes" <| fun () ->
            let a = TorchRuntime.DeriveSeed(1L, "batch-order/0")
            Expect.equal a (TorchRuntime.DeriveSeed(1L, "batch-order/0")) "stable"
            Expect.notEqual a (TorchRuntime.DeriveSeed(1L, "batch-order/1")) "purposes differ"
            Expect.notEqual a (TorchRuntime.DeriveSeed(2L, "batch-order/0")) "seeds differ"
            Expect.isGreaterThanOrEqual a 0L "non-negative"
    ]
