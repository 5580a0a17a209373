module Main
open Expecto

[<Tests>]
let smoke = testCase "smoke" <| fun () -> Expect.equal 1 1 "one"

[<EntryPoint>]
let main argv = Tests.runTestsInAssemblyWithCLIArgs [] argv
