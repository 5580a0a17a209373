/// The toolkit's command line: `research [study] [options]` (`./run.sh` builds and runs it).
module Research.Cli.Program

open System
open Research.Analysis

[<EntryPoint>]
let main argv =
    Console.OutputEncoding <- Text.UTF8Encoding(false)
    CommandLine.run argv Console.Out Console.Error
