// The optimizers study from a script: the same run as `./run.sh optimizers`, with the configuration
// named so that it can be changed here. With --small (as CI runs it) it keeps three test functions,
// trains MNIST for 2 epochs of 1,280 images and the regimes for 3 epochs, and skips the browser check.
//
//   dotnet fsi scripts/optimizers.fsx [--small]
#load "research.fsx"

open Research.Analysis
open Research.Analysis.Studies.Optimizers

// The quick tier: every 2-D test function with the seminar's hand-written optimizers and PyTorch's (lr 0.1,
// 500 steps), the notes' SGD/Momentum/AdaGrad on x²/20 + y² (1,000 / 1,000 / 10,000 steps, the first 1,000
// again with central differences), MNIST for one epoch of 9,600 images × 3 seeds with both protocols, the
// regimes for 6 epochs of 6,400 images, the range test from 1e-8 to 10 over two epochs.
let quick = OptimizersStudy.defaults Tier.Quick

// With --small: three functions (the saddle, x² + y², the notes' quadratic), MNIST for 2 epochs of 1,280
// images, the regimes for 3 epochs of 1,280 (the configuration the fast-tier tests pin).
let options = if Research.small then OptimizersStudy.small else quick

let settings =
    { RunSettings.Default with
        Seed = 0L
        OutputRoot = CommandLine.defaultOutputRoot ()
        BrowserCheck = not Research.small }

match Runner.run settings (Study.prepare Tier.Quick options OptimizersStudy.study) with
| Ok result ->
    // The claims are values: ask about any of them.
    for id in [ "sgd-zigzags"; "momentum-arrives-sooner"; "sequential-changes-rankings" ] do
        let c = result.Claims |> List.find (fun c -> c.Id = id)
        printfn "%s: %O (%s)" id c.Verdict (Claims.describe c.Effect)
| Error message ->
    eprintfn "error: %s" message
    exit 1
