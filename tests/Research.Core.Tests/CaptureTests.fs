module Research.Tests.CaptureTests

open System
open System.IO
open System.Diagnostics
open System.Text.Json.Nodes
open Expecto
open TorchSharp
open Research.Core.Runtime
open Research.Core.Data
open Research.Core.Models
open Research.Core.Training
open Research.Core.Capture
open Research.Core.Optim
open Research.Core.Studies.AdamVsRAdam
open Research.Core.Traces

let private tempDir (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

let private sgd (model: Network) (lr: float) =
    TorchSharpOptimizer("SGD", torch.optim.SGD(model.parameters(), lr), readOnlyDict [ ("lr", box lr) ]) :> IOptimizer

/// Copies p.grad[rows, cols] at every iteration, directly, to compare with the trace.
type private GradSpy(model: Network, name: string, rows: int * int, cols: int * int) =
    inherit TrainingObserver()
    member val Rows = Collections.Generic.List<float32[]>()
    override this.OnAfterBackward(step) =
        let g = model.get_parameter(name).grad
        use s = g.narrow(0, int64 (fst rows), int64 (snd rows - fst rows)).narrow(1, int64 (fst cols), int64 (snd cols - fst cols)).contiguous()
        this.Rows.Add(s.data<float32>().ToArray())

let private generatedData n = TensorDataset.FromMnist(TestData.generated n 5)

[<Tests>]
let tests =
    testSequenced <| testList "Capture" [
        testCase "the recorded 10x512 block at iteration t equals fc3.weight.grad[0:10, 0:512] after backward at step t" <| fun () ->
            TorchRuntime.Initialize(11L) |> ignore
            use data = generatedData 512
            use model = Architectures.Mlp MlpOptions.AdamVsRAdam
            let dir = tempDir "capture-block"
            let spy = GradSpy(model, "fc3.weight", (0, 10), (0, 512))
            let run = JsonObject()
            use recorder =
                new TraceRecorder(dir, model, run,
                    [ ParameterRecording("fc3.weight", IndexRange(0, 10), IndexRange(0, 512), ToIteration = Nullable 7L) ])
            let history = Trainer.Fit(model, sgd model 0.05, data, TrainOptions(BatchSize = 32, MaxSteps = Nullable 9L), observers = [ recorder; spy ])
            use trace = TraceReader.Open dir
            Expect.equal trace.Status "complete" "completed at the end of training"
            let s = trace["grad/fc3.weight"]
            Expect.equal (List.ofArray s.RowShape) [ 10; 512 ] "row shape"
            Expect.equal s.Iterations 7L "iterations 1..7 recorded"
            Expect.equal s.FirstIteration 1L "1-based iterations"
            Expect.equal s.Slice "[0:10, 0:512]" "slice in the manifest"
            for t in 1L .. 7L do
                Expect.equal (s.ReadIteration t) spy.Rows[int t - 1] $"iteration {t} bit-identical to .grad"
            let loss = trace["loss"].ReadAll()
            Expect.equal loss (history.StepLoss |> Seq.map float32 |> Array.ofSeq) "loss per step"
            let lr = trace["lr"].ReadAll()
            Expect.allEqual lr 0.05f "lr per step"
            Expect.isTrue (trace["grad_norm"].ReadAll() |> Array.forall (fun g -> g > 0.0f)) "gradient norms recorded"

        testCase "a column slice every 3rd iteration from 2 to 11 records exactly those iterations" <| fun () ->
            TorchRuntime.Initialize(12L) |> ignore
            use data = generatedData 512
            use model = Architectures.Mlp(MlpOptions([| 784; 64; 10 |]))
            let dir = tempDir "capture-slice"
            let spy = GradSpy(model, "fc1.weight", (5, 9), (100, 300))
            use recorder =
                new TraceRecorder(dir, model, JsonObject(),
                    [ ParameterRecording("fc1.weight", IndexRange(5, 9), IndexRange(100, 300), 2L, Nullable 11L, 3, Value = true) ])
            Trainer.Fit(model, sgd model 0.05, data, TrainOptions(BatchSize = 32, MaxSteps = Nullable 12L), observers = [ recorder; spy ]) |> ignore
            use trace = TraceReader.Open dir
            let s = trace["grad/fc1.weight"]
            Expect.equal (s.IterationNumbers() |> List.ofArray) [ 2L; 5L; 8L; 11L ] "iterations 2, 5, 8, 11"
            Expect.equal (List.ofArray s.RowShape) [ 4; 200 ] "4x200 slice"
            for t in [ 2L; 5L; 8L; 11L ] do
                Expect.equal (s.ReadIteration t) spy.Rows[int t - 1] $"iteration {t}"
            Expect.isTrue (trace.TryGetSeries("value/fc1.weight") |> fst) "parameter values recorded too"

        testCase "unknown parameter and out-of-range slices are rejected with what exists" <| fun () ->
            TorchRuntime.Initialize(0L) |> ignore
            use model = Architectures.Mlp(MlpOptions([| 784; 16; 10 |]))
            Check.throws<ArgumentException> (fun () ->
                new TraceRecorder(tempDir "bad", model, JsonObject(), [ ParameterRecording("fc9.weight") ]) |> ignore)
            |> Check.messageHas [ "fc9.weight"; "fc1.weight"; "fc2.bias" ]
            Check.throws<ArgumentException> (fun () ->
                new TraceRecorder(tempDir "bad", model, JsonObject(), [ ParameterRecording("fc2.weight", IndexRange(0, 11)) ]) |> ignore)
            |> Check.messageHas [ "0:11"; "fc2.weight"; "[10, 16]" ]

        testCase "per-layer statistics equal a direct computation from the layer tensors" <| fun () ->
            TorchRuntime.Initialize(13L) |> ignore
            use data = generatedData 256
            use model = Architectures.Mlp(MlpOptions([| 784; 32; 16; 10 |], Activation.Tanh))
            let dir = tempDir "capture-layers"
            let expected = Collections.Generic.Dictionary<string, float32[]>()
            let direct =
                { new TrainingObserver() with
                    override _.OnAfterBackward(step) =
                        if step.Iteration = 3L then
                            for c in model.Captured do
                                let y = c.Output.detach().``to``(torch.ScalarType.Float64)
                                let n = float (y.numel())
                                let sat = if c.Kind = "Tanh" then float (y.abs().gt(Scalar.op_Implicit 0.99).sum().item<int64>()) / n else 0.0
                                let go = c.Output.grad.``to``(torch.ScalarType.Float64)
                                let gi = c.Input.grad.``to``(torch.ScalarType.Float64)
                                expected[c.Name] <-
                                    [| y.mean().item<float>(); y.std().item<float>(); float (y.eq(Scalar.op_Implicit 0.0).sum().item<int64>()) / n; sat
                                       go.mean().item<float>(); go.std().item<float>(); gi.mean().item<float>(); gi.std().item<float>() |]
                                    |> Array.map float32 }
            use recorder = new TraceRecorder(dir, model, JsonObject(), [], layerStatistics = true)
            Trainer.Fit(model, sgd model 0.1, data, TrainOptions(BatchSize = 64, MaxSteps = Nullable 4L), observers = [ recorder; direct ]) |> ignore
            use trace = TraceReader.Open dir
            for name in [ "fc1"; "act1"; "fc2"; "act2"; "fc3" ] do
                Expect.equal (trace[$"layer_stats/{name}"].ReadIteration 3L) expected[name] $"{name} statistics at iteration 3"
            Expect.stringContains (trace["layer_stats/fc1"].Description) "grad_input_std" "columns documented in the manifest"

        testCase "a diverging run (SGD, lr 10) keeps recording; non-finite values are stored and counted" <| fun () ->
            TorchRuntime.Initialize(14L) |> ignore
            use data = generatedData 512
            use model = Architectures.Mlp(MlpOptions([| 784; 64; 10 |]))
            let dir = tempDir "capture-diverge"
            use recorder = new TraceRecorder(dir, model, JsonObject(), [ ParameterRecording("fc2.weight", Value = true) ])
            Trainer.Fit(model, sgd model 10.0, data, TrainOptions(BatchSize = 32, Epochs = 3, MaxSteps = Nullable 40L), observers = [ recorder ]) |> ignore
            use trace = TraceReader.Open dir
            let values = trace["value/fc2.weight"]
            Expect.equal values.Iterations 40L "all 40 iterations recorded despite divergence"
            let counted = values.NonFinite.Value
            let scanned = values.CountNonFinite()
            Expect.equal counted scanned "manifest counts equal a scan of the file"
            let loss = trace["loss"]
            Expect.isGreaterThan (loss.NonFinite.Value.Total + counted.Total) 0L "the run diverged to NaN/inf and it shows in the counts"
            let raw = values.ReadAll()
            Expect.equal (raw |> Array.filter Single.IsNaN |> Array.length |> int64) counted.NaN "NaNs stored as NaN, not zeroed"
    
        testCase "a training run killed with SIGKILL mid-capture leaves an incomplete trace that opens with its flushed iterations" <| fun () ->
            let tfm = DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))
            let dll = Path.Combine(tfm.Parent.Parent.Parent.Parent.FullName, "TraceCrashChild", "bin", tfm.Parent.Name, tfm.Name, "TraceCrashChild.dll")
            if not (File.Exists dll) then failtestf "the helper %s is not built" dll
            let dir = Path.Combine(tempDir "capture-kill", "run")
            let host = if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"
            let psi = ProcessStartInfo(host, [ dll; "train"; dir ], RedirectStandardOutput = true, RedirectStandardError = true)
            use child = Process.Start psi
            child.OutputDataReceived.Add ignore
            child.ErrorDataReceived.Add ignore
            child.BeginOutputReadLine()
            child.BeginErrorReadLine()
            let onDisk () =
                try (JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))).["iterations_on_disk"].GetValue<int64>()
                with _ -> 0L
            let clock = Stopwatch.StartNew()
            while onDisk () < 20L && not child.HasExited && clock.Elapsed < TimeSpan.FromMinutes 2.0 do
                Threading.Thread.Sleep 20
            Expect.isFalse child.HasExited "the child was still training"
            child.Kill() // SIGKILL
            child.WaitForExit()
            use trace = TraceReader.Open dir
            Expect.equal trace.Status "incomplete" "status incomplete"
            let n = trace.IterationsOnDisk.Value
            Expect.isGreaterThanOrEqual n 20L "flushed iterations"
            let grad = trace["grad/fc2.weight"]
            Expect.equal grad.Iterations n "every series holds the flushed iterations"
            Expect.equal (trace["loss"].Iterations) n "loss too"
            let rows = grad.ReadAll()
            Expect.equal rows.Length (int n * 320) "10x32 per iteration"
            Expect.isTrue (rows |> Array.forall Single.IsFinite) "readable, finite gradients"
            Expect.isTrue (rows |> Array.exists (fun g -> g <> 0.0f)) "real gradients, not zeros"
    
        testCase "Adam's recorded exp_avg_sq equals a hand-computed second moment v_t = b2 v_(t-1) + (1-b2) g_t^2" <| fun () ->
            TorchRuntime.Initialize(15L) |> ignore
            use data = generatedData 256
            use model = Architectures.Mlp(MlpOptions([| 784; 32; 10 |]))
            let dir = tempDir "capture-adam"
            use adam = new Research.Core.Optim.Adam(model.parameters(), 1e-3, 0.9, 0.999)
            use recorder = new TraceRecorder(dir, model, JsonObject(), [ ParameterRecording("fc2.weight", SecondMoment = true) ])
            Trainer.Fit(model, adam, data, TrainOptions(BatchSize = 32, MaxSteps = Nullable 5L), observers = [ recorder ]) |> ignore
            use trace = TraceReader.Open dir
            let g = trace["grad/fc2.weight"]
            let v = trace["exp_avg_sq/fc2.weight"]
            let mutable expected = Array.zeroCreate<float> 320
            for t in 1L .. 5L do
                let gt = g.ReadIteration t
                expected <- Array.init 320 (fun i -> 0.999 * expected[i] + 0.001 * float gt[i] * float gt[i])
                let vt = v.ReadIteration t
                for i in 0 .. 319 do
                    let e = expected[i]
                    Expect.isLessThanOrEqual (abs (float vt[i] - e)) (1e-6 * e + 1e-30) $"v_{t}[{i}]"
            Expect.isTrue (v.ReadIteration 5L |> Array.exists (fun x -> x > 0.0f)) "non-trivial second moments"

        testCase "the study's configuration hash is unchanged by OptimizerKind: optimizers are written by name" <| fun () ->
            // 3f181665 is the hash of the default configuration when OptimizerSpec.Optimizer was a string.
            let config = AdamVsRAdamConfig()
            Expect.equal (config.Hash()) "3f181665" "hash of the default configuration"
            let names = [ for o in config.ToJson().["Optimizers"].AsArray() -> o.["Optimizer"].GetValue<string>() ]
            Expect.equal names [ "Adam"; "RAdam"; "AdamW" ] "optimizer kinds as names in the JSON"

        testCase "adaptive_lr_multiplier from the spec: RAdam → r_t, a warmup → lr_t/lr, both → r_t*lr_t/lr, else 1" <| fun () ->
            let cases =
                [ OptimizerSpec("a", OptimizerKind.Adam), "1"
                  OptimizerSpec("b", OptimizerKind.AdamW, WeightDecay = 0.01), "1"
                  OptimizerSpec("c", OptimizerKind.RAdam), "r_t"
                  OptimizerSpec("d", OptimizerKind.Adam, WarmupSteps = 10), "lr_t/lr"
                  OptimizerSpec("e", OptimizerKind.AdamW, WarmupSteps = 100), "lr_t/lr"
                  OptimizerSpec("f", OptimizerKind.RAdam, WarmupSteps = 10), "r_t*lr_t/lr" ]
            for (spec, expected) in cases do
                Expect.equal spec.AdaptiveLrMultiplier expected $"{spec}"
            let json = Text.Json.JsonSerializer.Serialize(fst cases.Head)
            Expect.isFalse (json.Contains "AdaptiveLrMultiplier") $"not part of the spec's JSON (config hash): {json}"

        for gradientNorm in [ false; true ] do
          let what = if gradientNorm then "block, exp_avg_sq, loss, lr, grad norm" else "block, exp_avg_sq, loss, lr; no grad norm"
          testCase $"the study's recorder (gradientNorm = {gradientNorm}) writes .npy files byte for byte as plain per-step ops compute them ({what})" <| fun () ->
              // The reference: what a notebook would do at each step with plain ops, without the recorder:
              // copy the block of .grad after backward and of exp_avg_sq after the step, keep loss and lr,
              // and take the global norm as torch.nn.utils.clip_grad_norm_ does (the norm of the per-tensor
              // norms). The expected file is NumPy's header for the final shape followed by those floats.
              TorchRuntime.Initialize(17L) |> ignore
              use data = generatedData 512
              let config = AdamVsRAdamConfig(Widths = [| 784; 48; 32; 10 |], RecordIterations = 7, InputColumns = 24)
              use model = Architectures.Mlp(MlpOptions(config.Widths))
              use adam = new Research.Core.Optim.Adam(model.parameters(), 1e-3)
              let dir = tempDir "capture-bytes"
              let block = Collections.Generic.List<float32>()
              let moment = Collections.Generic.List<float32>()
              let loss = Collections.Generic.List<float32>()
              let lr = Collections.Generic.List<float32>()
              let norm = Collections.Generic.List<float32>()
              let w = model.get_parameter "fc3.weight"
              let copy (t: torch.Tensor) (into: Collections.Generic.List<float32>) =
                  use s = t.detach().narrow(0, 0L, 10L).narrow(1, 0L, 24L).contiguous()
                  into.AddRange(s.data<float32>().ToArray())
              let reference =
                  { new TrainingObserver() with
                      override _.OnAfterBackward(step) =
                          if step.Iteration <= 7L then copy w.grad block
                          loss.Add(float32 step.Loss)
                          lr.Add(float32 step.LearningRate)
                          use n = torch.stack([| for p in model.parameters() -> p.grad.norm() |]).norm()
                          norm.Add(n.item<float32>())
                      override _.OnAfterStep(step) =
                          if step.Iteration <= 7L then copy (adam.GetState(w, "exp_avg_sq")) moment }
              let steps = 23L // two automatic flushes and a partial one at the end
              do
                  use recorder = AdamVsRAdamCapture.CreateRecorder(config, dir, model, JsonObject(), gradientNorm = gradientNorm)
                  Trainer.Fit(model, adam, data, TrainOptions(BatchSize = 16, MaxSteps = Nullable steps, EvaluateEachEpoch = false),
                              observers = [ reference; recorder ]) |> ignore
                  recorder.Complete()
              let npy (shape: int64 list) (values: Collections.Generic.List<float32>) =
                  Array.append (Npy.EncodeHeader(Npy.Float32Descr, false, ReadOnlySpan(Array.ofList shape)))
                               (Runtime.InteropServices.MemoryMarshal.AsBytes(ReadOnlySpan(values.ToArray())).ToArray())
              let expect file (bytes: byte[]) = Expect.sequenceEqual (File.ReadAllBytes(Path.Combine(dir, file))) bytes file
              expect "grad_fc3.weight.npy" (npy [ 7L; 10L; 24L ] block)
              expect "exp_avg_sq_fc3.weight.npy" (npy [ 7L; 10L; 24L ] moment)
              expect "loss.npy" (npy [ steps ] loss)
              expect "lr.npy" (npy [ steps ] lr)
              if gradientNorm then expect "grad_norm.npy" (npy [ steps ] norm)
              else Expect.isFalse (File.Exists(Path.Combine(dir, "grad_norm.npy"))) "no grad_norm.npy: the study does not record the norm unless asked"
              use trace = TraceReader.Open dir
              Expect.equal trace.Status "complete" "complete"

        testCase "the gradient study records Adam, RAdam and AdamW+warmup from the same start, with warmup in the lr series" <| fun () ->
            let config =
                AdamVsRAdamConfig(Widths = [| 784; 48; 32; 10 |], TrainSteps = 12, RecordIterations = 10, InputColumns = 32,
                                    TrainExamples = Nullable 512, Seed = 4L, Device = "cpu")
            let root = tempDir "study"
            let split = TestData.generated 512 2
            let runs = AdamVsRAdamCapture.Run(config, root, split, null)
            Expect.equal [ for r in runs -> r.Spec.Label ] [ "Adam"; "RAdam"; "AdamW+warmup" ] "three optimizers"
            let firstGrads =
                [ for r in runs ->
                    use trace = TraceReader.Open r.TraceDirectory
                    Expect.equal trace.Status "complete" $"{r.Spec.Label} complete"
                    let g = trace["grad/fc3.weight"]
                    Expect.equal (List.ofArray g.RowShape) [ 10; 32 ] "10 x 32 block"
                    Expect.equal g.Iterations 10L "first 10 iterations"
                    Expect.equal (trace["exp_avg_sq/fc3.weight"].Iterations) 10L "second moments"
                    Expect.equal ((trace.Run.["optimizer"]).["name"].GetValue<string>()) (string r.Spec.Optimizer) "optimizer in the manifest"
                    let multiplier = trace.Run.["adaptive_lr_multiplier"].GetValue<string>()
                    Expect.equal multiplier (dict [ "Adam", "1"; "RAdam", "r_t"; "AdamW+warmup", "lr_t/lr" ]).[r.Spec.Label]
                        $"{r.Spec.Label}: the factor of ψ_t in the manifest"
                    if r.Spec.WarmupSteps > 0 then
                        let lr = trace["lr"].ReadAll()
                        Expect.equal lr[0] (float32 (1e-3 / 100.0)) "warmup: lr/100 at step 1"
                        Expect.floatClose Accuracy.medium (float lr[9]) (1e-3 * 10.0 / 100.0) "warmup: 10 lr/100 at step 10"
                    g.ReadIteration 1L ]
            Expect.equal firstGrads[0] firstGrads[1] "same initial weights and batch: identical first gradients (Adam vs RAdam)"
            Expect.equal firstGrads[0] firstGrads[2] "and AdamW"

        testCase "every manifest records the MD5 of the data files the run trained on, and whether they are MNIST's" <| fun () ->
            // IDX files with valid headers and generated content (as random pixels behind a real header would be)
            let data = tempDir "idx"
            let split = TestData.generated 256 9
            let pixels = split.Images |> Array.map (fun v -> byte (max 0.0f (min 255.0f (v * 60.0f + 30.0f))))
            Idx.Write(IO.Path.Combine(data, "train-images-idx3-ubyte"), [| 256; 28; 28 |], ReadOnlySpan pixels)
            Idx.Write(IO.Path.Combine(data, "train-labels-idx1-ubyte.gz"), [| 256 |], ReadOnlySpan split.Labels, gzip = true)
            let loaded = Mnist.LoadTrain data
            let md5Of (bytes: byte[]) = Convert.ToHexString(Security.Cryptography.MD5.HashData bytes).ToLowerInvariant()
            let imagesMd5 = md5Of (IO.File.ReadAllBytes(IO.Path.Combine(data, "train-images-idx3-ubyte")))
            // the .gz file's checksum is of its uncompressed content, as the distribution's sums are
            let labelsRaw = IO.Path.Combine(tempDir "raw", "labels")
            Idx.Write(labelsRaw, [| 256 |], ReadOnlySpan split.Labels)
            let labelsMd5 = md5Of (IO.File.ReadAllBytes labelsRaw)
            let config =
                AdamVsRAdamConfig(Widths = [| 784; 16; 8; 10 |], TrainSteps = 4, RecordIterations = 3, InputColumns = 8, Seed = 1L, Device = "cpu",
                                    Optimizers = [| OptimizerSpec("Adam", OptimizerKind.Adam) |])
            let runs = AdamVsRAdamCapture.Run(config, tempDir "checksums", loaded, null)
            use trace = TraceReader.Open runs.[0].TraceDirectory
            let sums = trace.Run.["data_checksums"]
            Expect.equal (sums.["md5"].ToJsonString())
                $"{{\"train-images-idx3-ubyte\":\"{imagesMd5}\",\"train-labels-idx1-ubyte.gz\":\"{labelsMd5}\"}}" "MD5 of each file"
            Expect.isFalse (sums.["matches_distribution"].GetValue<bool>()) "not MNIST's published sums"
            if Mnist.IsPresent() then
                Expect.isTrue (Mnist.MatchesDistribution (Mnist.LoadTest()).Checksums) "the real files match the published sums"
    ]
