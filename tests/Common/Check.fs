/// Small assertion helpers shared by the test projects.
module Research.Tests.Check

open Expecto

/// Runs f, expects an exception of type 'E and returns it (so its message can be checked).
let throws<'E when 'E :> exn> (f: unit -> unit) : 'E =
    let outcome =
        try
            f ()
            None
        with
        | :? 'E as e -> Some e
        | e -> failtestf "expected %s, got %s: %s" typeof<'E>.Name (e.GetType().Name) e.Message
    match outcome with
    | Some e -> e
    | None -> failtestf "expected %s, but nothing was thrown" typeof<'E>.Name

/// Expects the message to contain every fragment (case-sensitive).
let messageHas (fragments: string list) (e: exn) =
    for f in fragments do
        Expect.stringContains e.Message f $"message should mention '{f}'"
