module Main
open Expecto
open TorchSharp
open Research.Core.Runtime

[<Tests>]
let smoke =
  testCase "torch loads and takes a gradient" <| fun () ->
    let info = TorchRuntime.Initialize(1L, log = stdout)
    let x = torch.tensor([|1.0f; 2.0f; 3.0f|], requires_grad = true)
    let y = (x * x).sum()
    y.backward()
    let g = x.grad.data<float32>().ToArray()
    Expect.equal g [|2.0f; 4.0f; 6.0f|] "d(x^2)/dx = 2x"

[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [] argv
