// The Adam-vs-RAdam study from a script: the same run as `./run.sh adam-vs-radam`, with the
// configuration written out so it can be changed here. With --small (as CI runs it) it trains a
// 784-128-64-10 MLP for 60 steps on 6,400 images and bootstraps 300 resamples.
//
//   dotnet fsi scripts/adam-vs-radam.fsx [--small]
#load "research.fsx"

open System
open Research.Core.Studies.AdamVsRAdam
open Research.Analysis
open Research.Analysis.Studies.AdamVsRAdam

// Every setting of the quick tier: the notebook's 784-512-512-10 ReLU MLP on MNIST, batch 128, one
// epoch per optimizer (Adam, RAdam, AdamW with 100 warmup steps), the 10×512 block of the output
// layer recorded for the first 100 iterations, B = 1,000 bootstrap resamples.
let quick = AdamVsRAdamStudy.defaults Tier.Quick

let options =
    if not Research.small then quick
    else
        { quick with
            Capture =
                AdamVsRAdamConfig(Widths = [| 784; 128; 64; 10 |], TrainSteps = 60, RecordIterations = 60,
                                    InputColumns = 64, TrainExamples = Nullable 6400)
            Analysis = { quick.Analysis with BootstrapResamples = 300; WeightsPerGroup = 60; MixtureRestarts = 1 } }

// The runner does the rest as for every study: a folder per seed and configuration, the report
// with its methods and provenance, CSV tables, the browser check and the verdicts.
let settings = { RunSettings.Default with Seed = 0L; OutputRoot = CommandLine.defaultOutputRoot () }

match Runner.run settings (Study.prepare Tier.Quick options AdamVsRAdamStudy.study) with
| Ok result ->
    // The claims are values: a script can ask about any of them.
    let radam = result.Claims |> List.find (fun c -> c.Id = "radam-reduces-variance")
    printfn "RAdam reduces the early variance of ψ: %O (%s)" radam.Verdict (Claims.describe radam.Effect)
| Error message ->
    eprintfn "error: %s" message
    exit 1
