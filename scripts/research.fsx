// The whole toolkit in a script. From any .fsx anywhere on disk, after `./run.sh` or
// `dotnet build Research.sln -c Release` has built the checkout:
//
//   #load "/path/to/checkout/scripts/research.fsx"
//   open Research.Analysis
//
// It references the built assemblies (the libtorch natives sit beside them, which is how
// TorchSharp finds them), so nothing is downloaded when a script starts.
#r "../src/Research.Analysis/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Research.Core.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/MathNet.Numerics.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/DynamicObj.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Fable.Core.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Newtonsoft.Json.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Giraffe.ViewEngine.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Plotly.NET.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Argu.dll"
#r "../src/Research.Analysis/bin/Release/net10.0/Research.Analysis.dll"

// Data and reports of the checkout, wherever the script runs from (unless set already).
for variable, folder in [ "RESEARCH_DATA", "data"; "RESEARCH_REPORTS", "reports" ] do
    if System.String.IsNullOrEmpty(System.Environment.GetEnvironmentVariable variable) then
        System.Environment.SetEnvironmentVariable(variable, System.IO.Path.GetFullPath(System.IO.Path.Combine(__SOURCE_DIRECTORY__, "..", folder)))

/// True when the script was started with --small (CI runs every script that way, on small data).
let small = fsi.CommandLineArgs |> Array.contains "--small"
