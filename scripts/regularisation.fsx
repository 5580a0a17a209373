// The regularisation study from a script: the same run as `./run.sh regularisation`, with the
// configuration written out so it can be changed here. With --small (as CI runs it) it trains on a
// few hundred images for a couple of epochs: the report and the claims' machinery, not the findings.
//
//   dotnet fsi scripts/regularisation.fsx [--small]
#load "research.fsx"

open Research.Analysis
open Research.Analysis.Studies.Regularisation

// The quick tier: 3 seeds per configuration; the seminar CNN with its five heads (DropConnect both as the
// notebook ran it and as intended) and four normalisation variants, 3 epochs on 2,500 images; the
// lecture's sigmoid MLP for one epoch of 12,000 images at lr 1e-4, 1e-2 and 0.1 with BatchNorm, Dropout
// and weight penalties; the overfitting demo for 1,500 epochs with 1,000 Monte Carlo dropout passes.
let quick = RegularisationStudy.defaults Tier.Quick

let options = if Research.small then RegularisationStudy.small else quick

// More epochs of the CNN, say, are one field away:
//   let options = { quick with Cnn = { quick.Cnn with CnnEpochs = 10 } }

let settings = { RunSettings.Default with Seed = 0L; OutputRoot = CommandLine.defaultOutputRoot () }

match Runner.run settings (Study.prepare Tier.Quick options RegularisationStudy.study) with
| Ok result ->
    // The claims are values: a script can ask about any of them.
    for id in [ "dropout-beats-dropconnect"; "l1-sparser-than-l2"; "mc-band-coverage" ] do
        let c = result.Claims |> List.find (fun c -> c.Id = id)
        printfn "%s: %O (%s)" c.Id c.Verdict (Claims.describe c.Effect)
| Error message ->
    eprintfn "error: %s" message
    exit 1
