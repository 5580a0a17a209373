/// The shared study shape: MNIST as a study gets it (checksums verified).
module Research.Tests.StudyTests

open System
open System.IO
open System.Security.Cryptography
open Expecto
open Research.Core.Data
open Research.Analysis
open Research.Tests

let private tempDir (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")
    Directory.CreateDirectory d |> ignore
    d

let private md5 (path: string) = Convert.ToHexString(MD5.HashData(File.ReadAllBytes path)).ToLowerInvariant()

/// Four IDX files with valid headers and random content: n training and m test images.
let private randomMnist (n: int) (m: int) =
    let dir = tempDir "random-mnist"
    let rng = System.Random(3)
    let bytes (k: int) (modulo: int) = Array.init k (fun _ -> byte (rng.Next modulo))
    Idx.Write(Path.Combine(dir, "train-images-idx3-ubyte"), [| n; 28; 28 |], ReadOnlySpan(bytes (n * 784) 256))
    Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte"), [| n |], ReadOnlySpan(bytes n 10))
    Idx.Write(Path.Combine(dir, "t10k-images-idx3-ubyte"), [| m; 28; 28 |], ReadOnlySpan(bytes (m * 784) 256))
    Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), [| m |], ReadOnlySpan(bytes m 10))
    dir

[<Tests>]
let tests =
    testList "Study.MnistData: data that is not MNIST's is refused unless allowed, and its checksums are recorded" [
        testCase "random pixels behind valid IDX headers: refused, naming every file with the expected and the found MD5" <| fun () ->
            let dir = randomMnist 100 50
            let e = Check.throws<InvalidDataException> (fun () -> MnistData.load false dir |> ignore)
            let parts =
                [ for name in [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ] ->
                    let path = Path.Combine(dir, name)
                    $"{path}: expected MD5 {Mnist.Files.[name]}, found {md5 path}" ]
            Expect.equal e.Message
                $"""MNIST data differs from the distribution ({String.Join("; ", parts)}). Delete the folder and run ./run.sh to fetch it again, or pass --allow-unverified-data to use these files anyway."""
                "message"
        testCase "with --allow-unverified-data the same files load, marked unverified, with their checksums" <| fun () ->
            let dir = randomMnist 100 50
            let d = MnistData.load true dir
            Expect.isFalse d.Verified "unverified"
            Expect.equal d.Train.Count 100 "loaded"
            Expect.equal (d.Checksums |> List.map snd) [ for f in [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ] -> md5 (Path.Combine(dir, f)) ] "MD5s"
            Expect.equal (Map.ofSeq [ for KeyValue(k, v) in d.Train.Checksums -> k, v ])
                (Map.ofList [ "train-images-idx3-ubyte", md5 (Path.Combine(dir, "train-images-idx3-ubyte")); "train-labels-idx1-ubyte", md5 (Path.Combine(dir, "train-labels-idx1-ubyte")) ])
                "the split carries its files' checksums (what the trace manifests record)"
            Expect.isFalse (Mnist.MatchesDistribution d.Train.Checksums) "not the distribution's"
        testCase "real images with shuffled training labels: refused, naming only the labels file" <| fun () ->
            let real = Mnist.DefaultDirectory()
            if not (Mnist.IsPresent real) then failtest "needs real MNIST (RESEARCH_DATA or data/mnist): run ./run.sh fetch-data"
            let dir = tempDir "shuffled-mnist"
            for name in [ "train-images-idx3-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ] do
                let source = if File.Exists(Path.Combine(real, name)) then Path.Combine(real, name) else Path.Combine(real, name + ".gz")
                File.CreateSymbolicLink(Path.Combine(dir, Path.GetFileName source), source) |> ignore
            let labels = (Mnist.LoadTrain real).Labels
            let shuffled = Array.copy labels
            System.Random(5).Shuffle shuffled
            let path = Path.Combine(dir, "train-labels-idx1-ubyte")
            Idx.Write(path, [| shuffled.Length |], ReadOnlySpan shuffled)
            let e = Check.throws<InvalidDataException> (fun () -> MnistData.load false dir |> ignore)
            let published = Mnist.Files.["train-labels-idx1-ubyte"]
            Expect.equal e.Message
                $"MNIST data differs from the distribution ({path}: expected MD5 {published}, found {md5 path}). Delete the folder and run ./run.sh to fetch it again, or pass --allow-unverified-data to use these files anyway."
                "message"
            Expect.isTrue (Mnist.MatchesDistribution (Mnist.LoadTrain real).Checksums) "the real files match"
    ]
