// Checks that TorchSharp works from `dotnet fsi` on this machine: creates a tensor and takes a
// gradient. Build first (`dotnet build Research.sln -c Release`); scripts reference the built
// assemblies, whose native files sit beside them (see README).
#r "../src/Research.Core/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Research.Core/bin/Release/net10.0/Research.Core.dll"

open TorchSharp
open Research.Core.Runtime

let info = TorchRuntime.Initialize(seed = 0L, log = stdout)
let x = torch.tensor([| 1.0; 2.0; 3.0 |], requires_grad = true)
let loss = (x * x).sum()
loss.backward()
let grad = x.grad.data<float>().ToArray()
printfn "x = %A, d(sum x^2)/dx = %A" (x.data<float>().ToArray()) grad
if grad <> [| 2.0; 4.0; 6.0 |] then failwithf "unexpected gradient %A" grad
printfn "torch-check: ok"
