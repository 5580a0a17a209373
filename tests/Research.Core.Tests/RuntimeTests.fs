module Research.Tests.RuntimeTests

open System
open System.IO
open Expecto
open TorchSharp
open Research.Core.Runtime

let private stockLibrary () =
    let dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")
    Path.Combine(dir, "libLibTorchSharp.so")

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
