// The initialisation study from a script: the same run as `./run.sh initialisation`, with the
// configuration written out so it can be changed here. With --small (as CI runs it) it measures
// every configuration on B = 3 batches and reruns and trains the four sigmoid nets for 60 steps.
//
//   dotnet fsi scripts/initialisation.fsx [--small]
#load "research.fsx"

open Research.Core.Studies.Initialisation
open Research.Analysis
open Research.Analysis.Studies.Initialisation

// Every setting of the quick tier: the seminar's and the lecture's 16 configurations measured at
// initialisation on one MNIST batch, B = 20 batches and 20 reruns; the lecture's sigmoid nets
// (n = 2, 3; N(0, 0.01) and Xavier with the sigmoid gain) trained for one epoch with SGD at the
// lecture's lr 1e-3 and at 0.1.
let quick = InitialisationStudy.defaults Tier.Quick

let options =
    if not Research.small then quick
    else
        { quick with
            Batches = 3
            Training = InitialisationStudy.withTraining 1 [| 1e-3; 0.1 |] (Some 1920) "auto" 1 quick.Training }

// The per-layer statistics are a library call for any network and batch: here the seminar's wide
// tanh net with N(0, 0.1) under init_variance.json's protocol (compare PyTorch's 0.8536 for layer 2).
let wide = InitialisationConfigurations.All |> Array.find (fun c -> c.Id = "wide-tanh-normal0.1")
let stats = InitialisationCapture.MeasureReferenceProtocol wide
for l in stats.Layers |> Seq.truncate 3 do
    printfn "%s: std of its input %.4f, of ∂L/∂input %.3g" l.Name l.InputStd l.InputGradientStd

// The runner does the rest as for every study: a folder per seed and configuration, the report
// with its methods and provenance, CSV tables, the browser check and the verdicts.
let settings = { RunSettings.Default with Seed = 0L; OutputRoot = CommandLine.defaultOutputRoot () }

match Runner.run settings (Study.prepare Tier.Quick options InitialisationStudy.study) with
| Ok result ->
    // The claims are values: a script can ask about any of them.
    let paralysed = result.Claims |> List.find (fun c -> c.Id = "sigmoid-n3-paralysed")
    printfn "the n = 3 sigmoid net is paralysed: %O (%s)" paralysed.Verdict (Claims.describe paralysed.Effect)
| Error message ->
    eprintfn "error: %s" message
    exit 1
