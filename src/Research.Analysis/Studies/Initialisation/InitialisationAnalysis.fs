namespace Research.Analysis.Studies.Initialisation

open System
open System.IO
open System.Text.Json
open Research.Core.Capture
open Research.Core.Studies.Initialisation
open Research.Analysis

/// <summary>A per-layer quantity over replicates (batches or reruns): its mean and the range that holds
/// the middle 95% of the replicates (2.5% and 97.5% quantiles), i.e. what one more batch or rerun
/// would show, not a confidence interval of the mean.</summary>
type Spread =
    { Mean: float
      Lower: float
      Upper: float
      /// Replicates with a finite value.
      Count: int }

/// <summary>PyTorch 1.13.1's values for one Linear layer (<c>init_variance.json</c>, <c>layers_seed0</c>).</summary>
type ReferenceLayer =
    { InputStd: float
      InputGradientStd: float
      PreactivationStd: float
      WeightGradientStd: float }

/// <summary>One configuration of <c>init_variance.json</c>: its loss and its layers, in order.</summary>
type ReferenceConfiguration = { Key: string; Loss: float; Layers: ReferenceLayer[] }

/// <summary>One Linear layer of one configuration at initialisation.</summary>
type LayerSummary =
    { /// "fc1".
      Name: string
      /// 0-based among the Linear layers.
      Index: int
      InFeatures: int64
      OutFeatures: int64
      /// The seminar's one batch.
      OneBatch: LinearLayerStatistics
      /// Std of the layer's input over B batches, the weights fixed.
      InputStd: Spread
      /// Std of ∂L/∂(input) over B batches, the weights fixed.
      InputGradientStd: Spread
      /// ‖∂L/∂W‖ over B batches, the weights fixed.
      WeightGradientNorm: Spread
      /// Std of the layer's input over B reruns (fresh weights and batch).
      InputStdReruns: Spread
      /// Std of ∂L/∂(input) over B reruns.
      InputGradientStdReruns: Spread }

/// <summary>One configuration at initialisation: its measurement, its layers summarised, and PyTorch's
/// values when <c>init_variance.json</c> has the configuration.</summary>
type ConfigurationAnalysis =
    { Configuration: InitConfiguration
      Measurement: InitMeasurement
      Layers: LayerSummary[]
      Reference: ReferenceConfiguration option }

/// <summary>The five-number summary of a box plot with Tukey's whiskers (the furthest values within
/// 1.5 IQR of the quartiles, as plotly draws them); quantiles as numpy's default (type 7).</summary>
type BoxSummary =
    { Count: int
      Min: float
      LowerWhisker: float
      Q1: float
      Median: float
      Q3: float
      UpperWhisker: float
      Max: float }

/// <summary>One Linear layer at one training iteration: box summaries of its input and of |∂L/∂W|.</summary>
type SnapshotSummary =
    { Iteration: int64
      Label: string
      Layer: string
      Inputs: BoxSummary
      WeightGradientAbs: BoxSummary }

/// <summary>One epoch of a training run: the batch losses' mean and sample std (n − 1), and the whole
/// test set's loss and accuracy after it.</summary>
type EpochRow =
    { Epoch: int
      Steps: int
      LossMean: float
      LossStd: float
      TestLoss: float
      TestAccuracy: float }

/// <summary>One trained sigmoid net, analysed.</summary>
type TrainingAnalysis =
    { Result: SigmoidRunResult
      /// Exponentially smoothed training loss (the lecture's β = 0.9), one value per step.
      SmoothedTrainLoss: float[]
      /// Exponentially smoothed test-batch loss, one value per step.
      SmoothedTestLoss: float[]
      Epochs: EpochRow[]
      /// Per snapshot and Linear layer, in snapshot then layer order.
      Boxes: SnapshotSummary list }

/// <summary>
/// The statistics of the initialisation study, from the plain arrays and records the C# capture
/// returns: spreads over batches and reruns, PyTorch's reference values, smoothed loss curves,
/// per-epoch summaries and box-plot quantiles.
/// </summary>
[<RequireQualifiedAccess>]
module InitialisationAnalysis =

    /// <summary>Mean and 2.5–97.5% quantiles of the finite values (NaN fields when there are none).</summary>
    let spread (values: float[]) : Spread =
        let finite = values |> Array.filter Double.IsFinite |> Array.sort
        { Mean = (if finite.Length = 0 then nan else Array.average finite)
          Lower = Quantile.ofSorted 0.025 finite
          Upper = Quantile.ofSorted 0.975 finite
          Count = finite.Length }

    /// <summary>
    /// Exponential smoothing as the lecture plots its losses: s₁ = x₁, s_t = β·s_{t−1} + (1 − β)·x_t
    /// (no bias correction; a non-finite x_t is carried as the previous value).
    /// </summary>
    /// <param name="beta">The smoothing factor, 0 ≤ β &lt; 1 (the lecture's 0.9).</param>
    /// <param name="values">The series.</param>
    let smoothed (beta: float) (values: float[]) : float[] =
        if not (beta >= 0.0 && beta < 1.0) then
            invalidArg (nameof beta) $"expected 0 ≤ β < 1, got {beta}; the lecture smooths with β = 0.9"
        let out = Array.zeroCreate values.Length
        let mutable s = nan
        for i in 0 .. values.Length - 1 do
            let x = values.[i]
            s <- (if Double.IsNaN s then x elif Double.IsFinite x then beta * s + (1.0 - beta) * x else s)
            out.[i] <- s
        out

    /// <summary>The box summary of a sample (non-finite values left out; all NaN when none is left).</summary>
    let box (values: float32[]) : BoxSummary =
        let sorted = values |> Array.filter Single.IsFinite |> Array.map float |> Array.sort
        let q p = Quantile.ofSorted p sorted
        let q1, q3 = q 0.25, q 0.75
        let iqr = q3 - q1
        let inside = sorted |> Array.filter (fun v -> v >= q1 - 1.5 * iqr && v <= q3 + 1.5 * iqr)
        { Count = sorted.Length
          Min = (if sorted.Length = 0 then nan else sorted.[0])
          LowerWhisker = (if inside.Length = 0 then nan else inside.[0])
          Q1 = q1
          Median = q 0.5
          Q3 = q3
          UpperWhisker = (if inside.Length = 0 then nan else inside.[inside.Length - 1])
          Max = (if sorted.Length = 0 then nan else sorted.[sorted.Length - 1]) }

    let private referenceOf (key: string) (c: JsonElement) : ReferenceConfiguration =
        let num (name: string) (e: JsonElement) = e.GetProperty(name).GetDouble()
        { Key = key
          Loss = num "loss_seed0" c
          Layers =
            [| for l in c.GetProperty("layers_seed0").EnumerateArray() ->
                 { InputStd = num "forward_input_std" l
                   InputGradientStd = num "backward_input_grad_std" l
                   PreactivationStd = num "preactivation_std" l
                   WeightGradientStd = num "weight_grad_std" l } |] }

    /// <summary>Reads <c>init_variance.json</c> (PyTorch 1.13.1's per-layer values for the seminar's
    /// configurations) from a stream.</summary>
    /// <exception cref="T:System.IO.InvalidDataException">Not the file's layout; the message says what is
    /// missing.</exception>
    let readReference (source: string) (stream: Stream) : Map<string, ReferenceConfiguration> =
        try
            use doc = JsonDocument.Parse stream
            let configs = doc.RootElement.GetProperty "configs"
            Map.ofList [ for p in configs.EnumerateObject() -> p.Name, referenceOf p.Name p.Value ]
        with
        | :? Collections.Generic.KeyNotFoundException | :? JsonException | :? InvalidOperationException as e ->
            raise (InvalidDataException($"{source}: not init_variance.json's layout ({e.Message})", e))

    /// <summary>The copy of <c>../shared/reference/init_variance.json</c> that ships with the study (an
    /// embedded resource, so the report shows PyTorch's values from a fresh clone; a test checks that
    /// it equals the shared file).</summary>
    let reference : Lazy<Map<string, ReferenceConfiguration>> =
        lazy
            (let asm = typeof<Spread>.Assembly
             use s = asm.GetManifestResourceStream "Research.Analysis.init_variance.json"
             if isNull s then failwith "Research.Analysis carries no init_variance.json resource; rebuild the project"
             readReference "init_variance.json (embedded)" s)

    let private layerValues (select: LinearLayerStatistics -> float) (i: int) (stats: seq<NetworkStatistics>) =
        [| for s in stats -> select s.Layers.[i] |]

    /// <summary>Summarises one configuration's measurement, with PyTorch's values when
    /// <paramref name="references"/> has its key.</summary>
    let summarise (references: Map<string, ReferenceConfiguration>) (m: InitMeasurement) : ConfigurationAnalysis =
        let batches, reruns = m.OverBatches, m.OverReruns
        { Configuration = m.Configuration
          Measurement = m
          Layers =
            [| for l in m.OneBatch.Layers ->
                 let i = l.Index
                 { Name = l.Name
                   Index = i
                   InFeatures = l.InFeatures
                   OutFeatures = l.OutFeatures
                   OneBatch = l
                   InputStd = spread (layerValues (fun s -> s.InputStd) i batches)
                   InputGradientStd = spread (layerValues (fun s -> s.InputGradientStd) i batches)
                   WeightGradientNorm = spread (layerValues (fun s -> s.WeightGradientNorm) i batches)
                   InputStdReruns = spread (layerValues (fun s -> s.InputStd) i reruns)
                   InputGradientStdReruns = spread (layerValues (fun s -> s.InputGradientStd) i reruns) } |]
          Reference = Option.ofObj m.Configuration.ReferenceKey |> Option.bind references.TryFind }

    /// <summary>The hidden activations of a measurement: a per-layer value at the inputs of Linear layers
    /// 2..L (h₁ … h_{L−1}; the first layer's input is the data, which no initialisation changes).</summary>
    let hidden (select: LinearLayerStatistics -> float) (s: NetworkStatistics) : float[] =
        [| for l in s.Layers do if l.Index >= 1 then yield select l |]

    /// <summary>Per epoch: mean and sample std of its batch losses, test loss and accuracy.</summary>
    let epochRows (r: SigmoidRunResult) : EpochRow[] =
        [| for e in r.Epochs ->
             let first = e.Epoch * r.StepsPerEpoch
             let losses = r.TrainLoss.[first .. min (r.TrainLoss.Length - 1) (first + r.StepsPerEpoch - 1)]
             let mean = if losses.Length = 0 then nan else Array.average losses
             let std =
                 if losses.Length < 2 then nan
                 else sqrt ((losses |> Array.sumBy (fun x -> (x - mean) * (x - mean))) / float (losses.Length - 1))
             { Epoch = e.Epoch + 1; Steps = losses.Length; LossMean = mean; LossStd = std
               TestLoss = e.TestLoss; TestAccuracy = e.TestAccuracy } |]

    /// <summary>Analyses one trained net: smoothed curves (β = 0.9), epochs and box summaries.</summary>
    let training (r: SigmoidRunResult) : TrainingAnalysis =
        { Result = r
          SmoothedTrainLoss = smoothed 0.9 r.TrainLoss
          SmoothedTestLoss = smoothed 0.9 r.TestBatchLoss
          Epochs = epochRows r
          Boxes =
            [ for s in r.Snapshots do
                for l in s.Layers ->
                    { Iteration = s.Iteration; Label = s.Label; Layer = l.Layer
                      Inputs = box l.Input; WeightGradientAbs = box l.WeightGradientAbs } ] }
