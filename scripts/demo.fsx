// A first look: train the 784-512-512-10 ReLU MLP on real MNIST for a few hundred steps with
// Adam and print the loss and the test accuracy.
//   dotnet fsi scripts/demo.fsx [steps] [seed] [--small]
#load "research.fsx"

open System
open TorchSharp
open Research.Core.Runtime
open Research.Core.Data
open Research.Core.Models
open Research.Core.Training

let args = fsi.CommandLineArgs |> Array.skip 1 |> Array.filter (fun a -> a <> "--small")
let steps = if args.Length > 0 then int args[0] elif Research.small then 40 else 400
let seed = if args.Length > 1 then int64 args[1] else 0L

let runtime = TorchRuntime.Initialize(seed, log = stdout)
let device = TorchRuntime.Device(runtime.Device)
let dir = Mnist.DefaultDirectory()
let train = TensorDataset.FromMnist(Mnist.LoadTrain dir, device, name = "MNIST train")
let test = TensorDataset.FromMnist(Mnist.LoadTest dir, device, name = "MNIST test")

let model = Architectures.Mlp MlpOptions.AdamVsRAdam
model.``to``(device) |> ignore
let lr = 1e-3
let optimizer = new Research.Core.Optim.Adam(model.parameters(), learningRate = lr)

let progress =
    { new TrainingObserver() with
        override _.OnAfterStep(step) =
            if step.Iteration % 50L = 0L then
                printfn "step %4d  loss %.4f" step.Iteration step.Loss }

let history =
    Trainer.Fit(model, optimizer, train, TrainOptions(BatchSize = 128, Epochs = 1, MaxSteps = Nullable(int64 steps), Seed = seed),
                test, [ progress ])
let final = history.Epochs[history.Epochs.Count - 1]
printfn "%s, Adam lr %g, batch 128, %d steps (seed %d): train loss %.4f, test loss %.4f, test accuracy %.2f%%"
    model.Description lr final.Steps seed final.TrainLoss final.TestLoss (100.0 * final.TestAccuracy)
