namespace Research.Analysis.Studies.AdamVsRAdam

open System
open System.IO
open System.Security.Cryptography
open System.Text.Json.Nodes
open Research.Core.Traces

/// A recorded gradient block of a trace: where the per-weight gradient series of an [neurons × inputs]
/// slice of one weight matrix over the first iterations are on disk, plus the scalars the study needs.
/// Weight w = neuron·Inputs + input; g_w(1..T) is column w of the file's [T, Neurons·Inputs] rows. The
/// series are not held in memory: the <c>GradientTrace</c> module reads what each stage needs
/// (<c>readColumns</c>, <c>neuronSeries</c>, <c>readSeries</c>) through buffers of at most
/// <c>GradientTrace.BufferValues</c> values (a column of T values at the least).
type GradientTrace =
    { /// Run label ("Adam", "RAdam", "AdamW+warmup", or the trace folder's name).
      Label: string
      /// Optimizer name from the manifest ("Adam", "RAdam", "AdamW"; "unknown" for a minimal manifest).
      Optimizer: string
      /// The trace directory.
      Directory: string
      /// Name of the gradient series used.
      SeriesName: string
      /// Rows of the block (output neurons).
      Neurons: int
      /// Columns of the block (inputs from the penultimate layer).
      Inputs: int
      /// Iterations T.
      Iterations: int
      /// Full path of the series' .npy file (iteration-major: row t−1 holds g_w(t) for every weight w).
      DataFile: string
      /// Loss per iteration (empty when the trace has none).
      Loss: float[]
      /// Learning rate per iteration (empty when the trace has none).
      LearningRate: float[]
      /// Base learning rate (from the manifest; else the largest recorded lr; else 1).
      BaseLearningRate: float
      /// β₂ of the optimizer (from the manifest; 0.999 when not stated).
      Beta2: float
      /// SHA-256 of the manifest and of each .npy file, in file-name order.
      Hashes: (string * string) list
      /// The manifest's "run" object as JSON text ("{}" for a minimal manifest).
      RunJson: string
      /// The factor multiplying ψ_t in the update as the manifest states it ("1", "r_t", "lr_t/lr", "r_t*lr_t/lr"),
      /// None when the manifest does not say (a minimal manifest).
      StatedMultiplier: string option
      /// Status of the trace ("complete" or "incomplete").
      Status: string }

/// Reading gradient blocks from traces (ours or NumPy-written ones with a minimal manifest).
module GradientTrace =

    let private sha256 (path: string) =
        use s = File.OpenRead path
        Convert.ToHexString(SHA256.HashData s).ToLowerInvariant()

    /// SHA-256 of manifest.json and every .npy in a trace directory. A file that is a symbolic link
    /// out of the directory is refused (TraceFormatException naming it), never read.
    let hashes (directory: string) : (string * string) list =
        [ for f in Directory.GetFiles directory |> Array.sort do
            let name = Path.GetFileName f
            if name = "manifest.json" || name.EndsWith ".npy" then
                yield name, sha256 (TraceReader.ResolveInside(directory, f, $"{name} of the trace")) ]

    /// A manifest value in an error: its JSON text.
    let private shown (node: JsonNode) = match node with null -> "null" | n -> n.ToJsonString()

    /// Reads an optional field of the manifest's run object that must be a string; an error names the
    /// manifest, the field, what was expected, what was found and how to fix it.
    let private optionalString (manifest: string) (field: string) (example: string) (node: JsonNode) : string option =
        match node with
        | null -> None
        | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.String -> Some(v.GetValue<string>())
        | other ->
            invalidArg "directory"
                $"{manifest}: {field}: expected a string such as \"{example}\", found {shown other}; write it in double quotes"

    /// An optional number of the manifest's run object: None when absent; an error when present but not a number.
    let private optionalNumber (manifest: string) (field: string) (example: string) (node: JsonNode) : float option =
        match node with
        | null -> None
        | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.Number -> Some(v.GetValue<float>())
        | other ->
            invalidArg "directory" $"{manifest}: {field}: expected a number such as {example}, found {shown other}; write it as a JSON number, without quotes"

    /// <summary>
    /// The bounded buffer of the streaming readers: at most 2^20 float32 values (4 MiB) of the
    /// gradient block are read at once (by <c>load</c>'s finite-value scan, <c>readSeries</c>, and the
    /// analysis's Shapiro–Wilk blocks of <c>blockColumns</c> weights), however long the trace; the
    /// exception is a single series longer than that, which is read whole.
    /// </summary>
    [<Literal>]
    let BufferValues = 1048576

    /// Weights per block so that a block over all iterations fits <c>BufferValues</c> (at least 1).
    let blockColumns (trace: GradientTrace) : int = max 1 (BufferValues / trace.Iterations)

    /// Opens the block's .npy file and checks it still has the shape <c>load</c> found.
    let private openData (trace: GradientTrace) : NpyArray =
        let a = NpyArray.Open trace.DataFile
        let rowSize = a.Shape |> Seq.skip 1 |> Seq.fold (*) 1L
        if a.Shape.Count < 2 || a.Shape.[0] < int64 trace.Iterations || rowSize <> int64 (trace.Neurons * trace.Inputs) then
            let shape = String.Join(", ", a.Shape)
            a.Dispose()
            invalidOp
                $"{trace.DataFile}: shape ({shape}), but it held {trace.Iterations} iterations of a {trace.Neurons} × {trace.Inputs} block when the trace was loaded; the file changed since: load the trace again"
        a

    /// <summary>
    /// Reads the weights [first, first + count) over all iterations into <paramref name="destination"/>,
    /// iteration-major as in the file: element <c>[(t−1)·count + k]</c> is g_{first+k}(t), float32 (a
    /// positioned read per iteration; the file is never mapped into memory whole).
    /// </summary>
    /// <param name="trace">The trace (from <c>load</c>).</param>
    /// <param name="first">First weight, 0 ≤ first ≤ Neurons·Inputs − count.</param>
    /// <param name="count">Weights to read.</param>
    /// <param name="destination">At least Iterations·count values.</param>
    let readColumns (trace: GradientTrace) (first: int) (count: int) (destination: float32[]) : unit =
        use a = openData trace
        a.ReadColumnsFromFile(int64 trace.Iterations, int64 (trace.Neurons * trace.Inputs), int64 first, count, Span destination)

    /// <summary>
    /// One neuron's per-weight series, float64 and weight-major: element i is g_w(1..T) of weight
    /// w = neuron·Inputs + i (the neuron's inputs are contiguous within each iteration's row, so this is
    /// one read of Inputs values per iteration).
    /// </summary>
    /// <param name="trace">The trace (from <c>load</c>).</param>
    /// <param name="neuron">The neuron, 0 ≤ neuron &lt; Neurons.</param>
    let neuronSeries (trace: GradientTrace) (neuron: int) : float[][] =
        if neuron < 0 || neuron >= trace.Neurons then
            invalidArg (nameof neuron) $"expected a neuron in [0, {trace.Neurons}) of {trace.DataFile}, got {neuron}"
        let inputs, t = trace.Inputs, trace.Iterations
        let block = Array.zeroCreate<float32> (inputs * t)
        readColumns trace (neuron * inputs) inputs block
        Array.init inputs (fun i -> Array.init t (fun r -> float block.[r * inputs + i]))

    /// <summary>
    /// The series of the given weights, float64: element k is g_w(1..T) of weight <c>weights[k]</c>. One
    /// pass over the file's rows through a buffer of at most <c>BufferValues</c> values.
    /// </summary>
    /// <param name="trace">The trace (from <c>load</c>).</param>
    /// <param name="weights">Weight indices in [0, Neurons·Inputs), any order, repeats allowed.</param>
    let readSeries (trace: GradientTrace) (weights: int[]) : float[][] =
        let rowSize, t = trace.Neurons * trace.Inputs, trace.Iterations
        for w in weights do
            if w < 0 || w >= rowSize then invalidArg (nameof weights) $"expected weight indices in [0, {rowSize}) of {trace.DataFile}, got {w}"
        let result = Array.init weights.Length (fun _ -> Array.zeroCreate<float> t)
        if weights.Length > 0 then
            use a = openData trace
            // whole rows when they fit the buffer; a row longer than the buffer is read in parts
            let rowsPerRead = max 1 (BufferValues / rowSize)
            let buffer = Array.zeroCreate<float32> (min BufferValues (rowsPerRead * rowSize))
            let order = Array.init weights.Length id |> Array.sortBy (fun k -> weights.[k])
            let mutable r0 = 0
            while r0 < t do
                let rows = min rowsPerRead (t - r0)
                if int64 rows * int64 rowSize <= int64 buffer.Length then
                    a.ReadFromFile(int64 r0 * int64 rowSize, Span(buffer, 0, rows * rowSize))
                    for r in 0 .. rows - 1 do
                        for k in order do
                            result.[k].[r0 + r] <- float buffer.[r * rowSize + weights.[k]]
                else
                    let one = Span(buffer, 0, 1)
                    for k in order do
                        a.ReadFromFile(int64 r0 * int64 rowSize + int64 weights.[k], one)
                        result.[k].[r0] <- float buffer.[0]
                r0 <- r0 + rows
        result

    /// Loads the gradient block of a trace.
    /// <param name="seriesName">The series to use; None picks "grad/…" series of kind "gradient" with a
    /// 2-D row shape, else the first series with a 2-D row shape (a minimal manifest).</param>
    /// <param name="directory">The trace directory.</param>
    /// <exception cref="ArgumentException">No suitable series; non-finite gradients; fewer than 3 iterations.</exception>
    let load (seriesName: string option) (directory: string) : GradientTrace =
        use reader = TraceReader.Open directory
        let series =
            match seriesName with
            | Some name ->
                match reader.TryGetSeries name with
                | true, s -> s
                | _ ->
                    let names = reader.Series |> Seq.map (fun s -> s.Name) |> String.concat ", "
                    invalidArg (nameof seriesName) $"trace {directory} has no series '{name}'; it has: {names}"
            | None ->
                let twoD = reader.Series |> Seq.filter (fun s -> s.RowShape.Length = 2) |> List.ofSeq
                match twoD |> List.tryFind (fun s -> s.Kind = "gradient"), twoD with
                | Some s, _ -> s
                | None, s :: _ -> s
                | None, [] ->
                    invalidArg (nameof directory)
                        $"trace {directory} has no series with a 2-D row shape [neurons, inputs]; the study needs the gradient block of a weight matrix"
        let t = int series.Iterations
        if t < 3 then
            invalidArg (nameof directory) $"series {series.Name} in {directory} has {t} iterations; the study needs at least 3"
        // the scan streams the file through one bounded buffer (positioned reads; the map is not touched)
        let counts =
            let total = int64 t * int64 series.RowSize
            let buffer = Array.zeroCreate<float32> (int (min total (int64 BufferValues)))
            let mutable counts = NonFiniteCount()
            let mutable start = 0L
            while start < total do
                let length = int (min (int64 buffer.Length) (total - start))
                series.ReadFromFile(start, Span<float32>(buffer, 0, length))
                counts <- counts + NonFiniteCount.Count(ReadOnlySpan<float32>(buffer, 0, length))
                start <- start + int64 length
            counts
        if counts.Total > 0L then
            invalidArg (nameof directory)
                $"series {series.Name} in {directory} holds {counts.NaN} NaN, {counts.PositiveInfinity} +inf and {counts.NegativeInfinity} -inf values (a diverged run?); normality and ψ statistics need finite gradients"
        let scalar name =
            match reader.TryGetSeries name with
            | true, s -> s.ReadAll() |> Array.map float
            | _ -> [||]
        let run = reader.Run
        let manifest = Path.Combine(directory, "manifest.json")
        let runText =
            if isNull run then "{}"
            else run.ToJsonString(Text.Json.JsonSerializerOptions(Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))
        let optimizer, hyper =
            if isNull run then "unknown", null
            else
                match run["optimizer"] with
                | null -> "unknown", null
                | :? JsonObject as o ->
                    optionalString manifest "run.optimizer.name" "Adam" o["name"] |> Option.defaultValue "unknown",
                    (match o["hyperparameters"] with
                     | null -> null
                     | :? JsonObject as h -> h
                     | other ->
                         invalidArg (nameof directory)
                             $"{manifest}: run.optimizer.hyperparameters: expected an object such as {{\"lr\": 0.001, \"betas\": [0.9, 0.999]}}, found {shown other}")
                | other ->
                    invalidArg (nameof directory)
                        $"{manifest}: run.optimizer: expected an object such as {{\"name\": \"Adam\", \"hyperparameters\": {{\"lr\": 0.001, \"betas\": [0.9, 0.999]}}}}, found {shown other}"
        let beta2 =
            match hyper with
            | null -> 0.999
            | h ->
                match h["betas"] with
                | null -> 0.999
                | :? JsonArray as b when b.Count = 2 && b |> Seq.forall (fun e -> e :? JsonValue && e.GetValueKind() = Text.Json.JsonValueKind.Number) ->
                    let b1, b2 = b[0].GetValue<float>(), b[1].GetValue<float>()
                    if not (b2 > 0.0 && b2 < 1.0) || not (b1 >= 0.0 && b1 < 1.0) then
                        invalidArg (nameof directory)
                            $"{manifest}: run.optimizer.hyperparameters.betas: expected 0 ≤ β₁ < 1 and 0 < β₂ < 1, found [{b1}, {b2}]; ψ_t is undefined for these values, so fix the manifest (PyTorch's default is [0.9, 0.999])"
                    b2
                | other ->
                    invalidArg (nameof directory)
                        $"{manifest}: run.optimizer.hyperparameters.betas: expected two numbers [β₁, β₂] such as [0.9, 0.999], found {shown other}; write them as JSON numbers, without quotes (or leave betas out for β₂ = 0.999)"
        let gradientBlockChecks () =
            // ψ_t weights the t-th optimizer step: the block must hold every iteration from the first
            if series.Every <> 1 || series.FirstIteration > 1L then
                invalidArg (nameof directory)
                    $"{series.Path}: series {series.Name} records every {series.Every} iteration(s) from iteration {series.FirstIteration}; the study needs every iteration from the first step (first_iteration 0 or 1, every 1), because ψ_t depends on the order of all gradients up to t; record it so"
        gradientBlockChecks ()
        // per-iteration scalars: one value per iteration, covering the gradient block
        let scalar name =
            match reader.TryGetSeries name with
            | true, s ->
                if s.RowSize <> 1 then
                    let shape = String.Join(", ", s.RowShape)
                    invalidArg (nameof directory)
                        $"{s.Path}: series {name} has rows of shape [{shape}]; expected one value per iteration (shape [iterations]); write the {name} as a 1-D array, or remove it from the manifest"
                if s.Every <> 1 || s.FirstIteration <> series.FirstIteration then
                    invalidArg (nameof directory)
                        $"{s.Path}: series {name} starts at iteration {s.FirstIteration} and records every {s.Every}; expected every iteration from {series.FirstIteration}, as the gradient series {series.Name}; record it every iteration, or remove it from the manifest"
                if s.Iterations < int64 t then
                    invalidArg (nameof directory)
                        $"{s.Path}: series {name} has {s.Iterations} values, but the gradient series {series.Name} has {t} iterations; expected a value for every recorded iteration (at least {t}); record {name} every iteration, or remove it from the manifest"
                s.ReadAll() |> Array.map float
            | _ -> [||]
        let lr = scalar "lr"
        let baseLr =
            match hyper with
            | null -> None
            | h ->
                match optionalNumber manifest "run.optimizer.hyperparameters.lr" "0.001" h["lr"] with
                | Some v when not (v > 0.0 && Double.IsFinite v) ->
                    invalidArg (nameof directory) $"{manifest}: run.optimizer.hyperparameters.lr: expected a positive number such as 0.001, found {v}; fix the manifest"
                | v -> v
            |> Option.orElse (if lr.Length > 0 then Some(Array.max lr) else None)
            |> Option.defaultValue 1.0
        let folderName = Path.GetFileName(Path.GetFullPath(directory).TrimEnd('/'))
        let label =
            if isNull run then folderName
            else optionalString manifest "run.label" "Adam" run["label"] |> Option.defaultValue folderName
        let stated =
            if isNull run then None
            else
                match run["adaptive_lr_multiplier"] with
                | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.String ->
                    match v.GetValue<string>() with
                    | "1" | "r_t" | "lr_t/lr" | "r_t*lr_t/lr" as m -> Some m
                    | other ->
                        invalidArg (nameof directory)
                            $"{manifest}: run.adaptive_lr_multiplier: expected \"1\", \"r_t\", \"lr_t/lr\" or \"r_t*lr_t/lr\", got \"{other}\""
                | null -> None
                | other ->
                    invalidArg (nameof directory)
                        $"{manifest}: run.adaptive_lr_multiplier: expected a string (\"1\", \"r_t\", \"lr_t/lr\" or \"r_t*lr_t/lr\"), got {other.ToJsonString()}"
        { Label = label
          Optimizer = optimizer
          Directory = Path.GetFullPath directory
          SeriesName = series.Name
          Neurons = series.RowShape[0]
          Inputs = series.RowShape[1]
          Iterations = t
          DataFile = series.Path
          Loss = scalar "loss"
          LearningRate = lr
          BaseLearningRate = baseLr
          Beta2 = beta2
          Hashes = hashes directory
          RunJson = runText
          StatedMultiplier = stated
          Status = reader.Status }
