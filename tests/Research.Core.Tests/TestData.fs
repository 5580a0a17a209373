/// Data for Core tests: real MNIST when it has been fetched, otherwise a generated stand-in.
module Research.Tests.TestData

open System
open TorchSharp
open Research.Core.Data

/// Ten Gaussian blobs in 784 dimensions (one per class), deterministic in the seed: a stand-in for
/// MNIST when the files are absent, learnable by an MLP in a few steps.
let generated (n: int) (seed: int) : MnistSplit =
    let rng = Random(seed)
    let centres = Array.init 10 (fun _ -> Array.init MnistSplit.Pixels (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0)))
    let labels = Array.init n (fun i -> byte (i % 10))
    let images =
        Array.init (n * MnistSplit.Pixels) (fun k ->
            let i, j = k / MnistSplit.Pixels, k % MnistSplit.Pixels
            centres[int labels[i]][j] + float32 (rng.NextDouble() - 0.5))
    MnistSplit(images, labels, n, "generated")

/// True when real MNIST is in the default data folder.
let mnistPresent () = Mnist.IsPresent()

/// The first n training examples of real MNIST, or n generated ones; with a label saying which.
let trainingSplit (n: int) : MnistSplit * string =
    if mnistPresent () then (Mnist.LoadTrain()).Take n, "real MNIST"
    else generated n 1, "generated blobs (MNIST not fetched)"
