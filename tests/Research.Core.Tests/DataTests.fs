module Research.Tests.DataTests

open System
open System.IO
open Expecto
open Research.Core.Data

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), "research-tests-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

/// Writes a small valid MNIST-shaped set (n images) into dir, raw or gzip.
let private writeMini (dir: string) (split: string) (n: int) (gzip: bool) =
    let ext = if gzip then ".gz" else ""
    let pixels = Array.init (n * 784) (fun i -> byte (i % 256))
    let labels = Array.init n (fun i -> byte (i % 10))
    Idx.Write(Path.Combine(dir, $"{split}-images-idx3-ubyte{ext}"), [| n; 28; 28 |], ReadOnlySpan pixels, gzip)
    Idx.Write(Path.Combine(dir, $"{split}-labels-idx1-ubyte{ext}"), [| n |], ReadOnlySpan labels, gzip)
    pixels, labels

[<Tests>]
let tests =
    testList "Data" [
        testList "Idx" [
            for gzip in [ false; true ] do
                testCase $"round trip (gzip={gzip}) with the seminar normalisation (x/255-0.1307)/0.3081" <| fun () ->
                    let dir = tempDir ()
                    let pixels, labels = writeMini dir "train" 5 gzip
                    let split = Mnist.LoadTrain(dir)
                    Expect.equal split.Count 5 "count"
                    Expect.equal split.Labels labels "labels"
                    for i in [ 0; 1; 255; 783; 784 * 5 - 1 ] do
                        let expected = (float32 pixels[i] / 255f - 0.1307f) / 0.3081f
                        Expect.equal split.Images[i] expected $"pixel {i}"
                    let unit = Mnist.LoadTrain(dir, MnistNormalization.UnitInterval)
                    Expect.equal unit.Images[255] 1.0f "x/255 without mean/std"

            testCase "a missing file names the file and how to fetch it" <| fun () ->
                let dir = tempDir ()
                Check.throws<IdxFormatException> (fun () -> Mnist.LoadTrain(dir) |> ignore)
                |> Check.messageHas [ Path.Combine(dir, "train-images-idx3-ubyte"); "file not found"; "scripts/fetch-mnist.fsx" ]

            testCase "a truncated image file names the file, the sizes and the fix" <| fun () ->
                let dir = tempDir ()
                writeMini dir "t10k" 4 false |> ignore
                let path = Path.Combine(dir, "t10k-images-idx3-ubyte")
                let bytes = File.ReadAllBytes path
                File.WriteAllBytes(path, bytes[.. bytes.Length - 101])
                Check.throws<IdxFormatException> (fun () -> Mnist.LoadTest(dir) |> ignore)
                |> Check.messageHas [ path; "truncated"; "4x28x28"; "fetch-mnist" ]

            testCase "a truncated gzip file is reported as such" <| fun () ->
                let dir = tempDir ()
                writeMini dir "t10k" 4 true |> ignore
                let path = Path.Combine(dir, "t10k-images-idx3-ubyte.gz")
                let bytes = File.ReadAllBytes path
                File.WriteAllBytes(path, bytes[.. bytes.Length / 2])
                Check.throws<IdxFormatException> (fun () -> Mnist.LoadTest(dir) |> ignore)
                |> Check.messageHas [ path ]

            testCase "a foreign file (wrong magic) and a label file in place of images are rejected" <| fun () ->
                let dir = tempDir ()
                let path = Path.Combine(dir, "foreign")
                File.WriteAllText(path, "PK\003\004 this is a zip, not IDX")
                Check.throws<IdxFormatException> (fun () -> Idx.Read(path, 3) |> ignore)
                |> Check.messageHas [ path; "not an IDX file" ]
                Idx.Write(path, [| 3 |], ReadOnlySpan [| 1uy; 2uy; 3uy |])
                Check.throws<IdxFormatException> (fun () -> Idx.Read(path, 3) |> ignore)
                |> Check.messageHas [ path; "expected 3 dimensions" ]

            testCase "images and labels of different counts are rejected" <| fun () ->
                let dir = tempDir ()
                writeMini dir "train" 4 false |> ignore
                Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte"), [| 3 |], ReadOnlySpan [| 1uy; 2uy; 3uy |])
                Check.throws<IdxFormatException> (fun () -> Mnist.LoadTrain(dir) |> ignore)
                |> Check.messageHas [ "3 labels for 4 images" ]
        ]

        testList "Mnist (real data, when fetched)" [
            testCase "the fetched files pass their MD5 sums and have the known sizes and first labels" <| fun () ->
                if not (Mnist.IsPresent()) then skiptest "MNIST not fetched (run dotnet fsi scripts/fetch-mnist.fsx)"
                let log = new StringWriter()
                Mnist.Fetch(log = log) |> ignore // verifies MD5s; downloads nothing when they match
                Expect.stringContains (log.ToString()) "verified" "checksums verified"
                let train = Mnist.LoadTrain()
                let test = Mnist.LoadTest()
                Expect.equal (train.Count, test.Count) (60000, 10000) "sizes"
                Expect.equal train.Labels[..4] [| 5uy; 0uy; 4uy; 1uy; 9uy |] "first training labels (LeCun's file)"
                Expect.equal test.Labels[..4] [| 7uy; 2uy; 1uy; 0uy; 4uy |] "first test labels"
                Expect.equal train.Images[0] ((0.0f - 0.1307f) / 0.3081f) "a background pixel, computed in float32"
        ]

        testList "Batches" [
            testCase "epoch order is a seeded permutation: same seed same order, epochs differ" <| fun () ->
                let a = Research.Core.Data.TensorDataset.EpochOrder(1000, 3L, 0)
                Expect.equal a (Research.Core.Data.TensorDataset.EpochOrder(1000, 3L, 0)) "repeatable"
                Expect.notEqual a (Research.Core.Data.TensorDataset.EpochOrder(1000, 3L, 1)) "epochs differ"
                Expect.equal (Array.sort a) [| 0 .. 999 |] "a permutation"
        ]
    ]
