namespace Research.Analysis.Studies.Optimizers

open System
open Research.Core.Studies.Optimizers
open Research.Analysis

/// <summary>Which notebook a 2-D run reproduces.</summary>
[<RequireQualifiedAccess>]
type PathGroup =
    /// The optimization seminar's hand-written optimizers (its GD is SGD itself) at lr 0.1 from (8, 0.1).
    | Seminar
    /// The toolkit's PyTorch-exact optimizers at the seminar's settings.
    | PyTorch
    /// The self-study notes' runs on x²/20 + y² from (−7, 2).
    | Notes

    /// "seminar", "PyTorch", "notes".
    override g.ToString() = match g with Seminar -> "seminar" | PyTorch -> "PyTorch" | Notes -> "notes"

/// <summary>One planned 2-D run and its path.</summary>
type PathRun =
    { Group: PathGroup
      Recipe: OptimizerRecipe
      /// The path (autograd gradients unless <c>Path.Gradient</c> says otherwise).
      Path: Trajectory }

/// <summary>Everything the study recorded about one test function.</summary>
type FunctionResult =
    { Kind: TestFunctionKind
      /// The function's definition (key, formula, start, rectangle); read, never evaluated, here.
      Function: TestFunction
      /// The local minima in the rectangle (or the declared saddle).
      References: StationaryPoint[]
      /// f on a grid over the rectangle, for the figures.
      Surface: SurfaceGrid
      Runs: PathRun list }

/// <summary>Measures of one path: distance to the nearest reference point, arrival, oscillation.</summary>
type PathMeasures =
    { /// Distance to the nearest reference point at each recorded point.
      Distance: float[]
      /// The first step at which the distance is below the tolerance (None: never).
      StepsToTolerance: int option
      /// f at the last point (non-finite when the run diverged).
      FinalF: float
      /// Distance at the last finite point.
      FinalDistance: float
      /// Sign changes of the x-step and of the y-step (see <c>Paths.signChanges</c>).
      SignChangesX: int
      SignChangesY: int
      /// Steps at which the distance grew.
      DistanceIncreases: int }

/// <summary>Measures of 2-D paths: plain arithmetic on the recorded coordinates.</summary>
[<RequireQualifiedAccess>]
module Paths =

    /// The tolerance of "steps to reach ‖x − x*‖ &lt; tolerance" in the tables.
    [<Literal>]
    let Tolerance = 1e-3

    /// <summary>Distance from (x, y) to the nearest of the points (NaN when there are none or the point is not
    /// finite).</summary>
    let nearest (references: StationaryPoint[]) (x: float) (y: float) : float =
        if references.Length = 0 || not (Double.IsFinite x && Double.IsFinite y) then nan
        else references |> Array.map (fun p -> sqrt ((x - p.X) ** 2.0 + (y - p.Y) ** 2.0)) |> Array.min

    /// <summary>Distance to the nearest reference point at every point of the path.</summary>
    let distances (references: StationaryPoint[]) (path: Trajectory) : float[] =
        Array.map2 (nearest references) path.X path.Y

    /// <summary>
    /// How often a coordinate's step reverses: with Δ_k = c_k − c_(k−1), the number of steps k whose Δ_k
    /// has the opposite sign of the last non-zero step before it (zero steps are skipped). A path of n
    /// steps has at most n − 1.
    /// </summary>
    let signChanges (coordinate: float[]) : int =
        let steps = Array.init (max 0 (coordinate.Length - 1)) (fun k -> coordinate.[k + 1] - coordinate.[k])
        let signs = steps |> Array.filter (fun d -> Double.IsFinite d && d <> 0.0) |> Array.map sign
        signs |> Array.pairwise |> Array.filter (fun (a, b) -> a <> b) |> Array.length

    /// <summary>The number of k with d_k &gt; d_(k−1) (both finite): 0 for a monotone approach.</summary>
    let increases (d: float[]) : int =
        d
        |> Array.pairwise
        |> Array.filter (fun (a, b) -> Double.IsFinite a && Double.IsFinite b && b > a)
        |> Array.length

    /// <summary>How far a coordinate goes past the centre to the side opposite its start:
    /// max(0, max_k s·(centre − c_k)) with s the sign of (start − centre).</summary>
    let overshoot (centre: float) (coordinate: float[]) : float =
        if coordinate.Length = 0 then nan
        else
            let s = float (sign (coordinate.[0] - centre))
            coordinate |> Array.filter Double.IsFinite |> Array.fold (fun m c -> max m (s * (centre - c))) 0.0

    /// <summary>The first <paramref name="steps"/> steps of a path (steps + 1 points).</summary>
    let prefix (steps: int) (path: Trajectory) : Trajectory =
        let n = min path.X.Length (steps + 1)
        Trajectory(path.Function, path.Label, path.Gradient, path.X.[.. n - 1], path.Y.[.. n - 1], path.F.[.. n - 1],
                   path.Diverged && n = path.X.Length, (if n = path.X.Length then path.DivergedAtStep else Nullable()),
                   steps, path.Seconds)

    /// <summary>The measures of a path against the function's reference points.</summary>
    let measure (references: StationaryPoint[]) (path: Trajectory) : PathMeasures =
        let d = distances references path
        let finite = d |> Array.filter Double.IsFinite
        { Distance = d
          StepsToTolerance = d |> Array.tryFindIndex (fun v -> v < Tolerance)
          FinalF = path.F.[path.F.Length - 1]
          FinalDistance = (if finite.Length = 0 then nan else finite.[finite.Length - 1])
          SignChangesX = signChanges path.X
          SignChangesY = signChanges path.Y
          DistanceIncreases = increases d }

    /// <summary>The largest coordinate difference between two paths, relative to 1 + the larger magnitude,
    /// over their common points (NaN when a coordinate is not finite).</summary>
    let relativeGap (a: Trajectory) (b: Trajectory) : float =
        let n = min a.X.Length b.X.Length
        let gap (u: float) (v: float) = abs (u - v) / (1.0 + max (abs u) (abs v))
        Array.init n (fun k -> max (gap a.X.[k] b.X.[k]) (gap a.Y.[k] b.Y.[k])) |> Array.fold max 0.0

    /// <summary>The total distance travelled after step <paramref name="after"/>.</summary>
    let travelAfter (after: int) (path: Trajectory) : float =
        let step k = sqrt ((path.X.[k] - path.X.[k - 1]) ** 2.0 + (path.Y.[k] - path.Y.[k - 1]) ** 2.0)
        [| for k in after + 1 .. path.X.Length - 1 -> step k |] |> Array.sum

/// <summary>The direction of −∇f on a grid compared with the direction to a minimum.</summary>
[<RequireQualifiedAccess>]
module GradientDirection =

    /// <summary>The angle in degrees between −∇f and the direction to <paramref name="target"/> at each
    /// grid point (rows over y; NaN at the target itself and where ∇f = 0).</summary>
    let angles (field: GradientField) (target: float * float) : float[][] =
        let tx, ty = target
        [| for i in 0 .. field.Ys.Length - 1 ->
            [| for j in 0 .. field.Xs.Length - 1 ->
                let ux, uy = -field.Dx.[i].[j], -field.Dy.[i].[j]
                let vx, vy = tx - field.Xs.[j], ty - field.Ys.[i]
                let nu, nv = sqrt (ux * ux + uy * uy), sqrt (vx * vx + vy * vy)
                if nu = 0.0 || nv = 0.0 then nan
                else 180.0 / Math.PI * acos (max -1.0 (min 1.0 ((ux * vx + uy * vy) / (nu * nv)))) |] |]

    /// <summary>(points where the angle exceeds the threshold, points with a defined angle).</summary>
    let countAway (thresholdDegrees: float) (field: GradientField) (target: float * float) : int * int =
        let a = angles field target |> Array.concat |> Array.filter Double.IsFinite
        (a |> Array.filter (fun v -> v > thresholdDegrees) |> Array.length), a.Length

/// <summary>Measures of the MNIST comparison over seeds.</summary>
[<RequireQualifiedAccess>]
module MnistMeasures =

    /// <summary>The runs of one network, protocol and optimizer, in seed order of the configuration.</summary>
    let select (network: SeminarNetwork) (protocol: TrainingProtocol) (optimizer: string) (runs: MnistRun list)
               : MnistRun list =
        runs |> List.filter (fun r -> r.Network = network && r.Protocol = protocol && r.Optimizer = optimizer)

    /// <summary>Per-epoch training loss of a run, padded with NaN to <paramref name="epochs"/> (a diverged run is
    /// shorter).</summary>
    let epochLoss (epochs: int) (run: MnistRun) : float[] =
        Array.init epochs (fun e -> if e < run.Curves.EpochTrainLoss.Length then run.Curves.EpochTrainLoss.[e] else nan)

    /// <summary>Spread over seeds pooled over epochs: √(mean over epochs of the sample variance over seeds)
    /// of the per-epoch training loss; NaN with fewer than 2 seeds or any missing epoch.</summary>
    let pooledSpread (curves: float[][]) : float =
        if curves.Length < 2 then nan
        else
            let epochs = curves.[0].Length
            let variance e =
                let v = curves |> Array.map (fun c -> c.[e])
                let m = Array.average v
                (v |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (v.Length - 1)
            sqrt (Array.init epochs variance |> Array.average)

    /// <summary>The relative decrease of the loss late in training: 1 − mean(last quarter of the steps) /
    /// mean(third quarter). Near 0: the loss has stopped decreasing. NaN when a quarter holds no finite
    /// value.</summary>
    let lateDecrease (stepLoss: float[]) : float =
        let n = stepLoss.Length
        let mean (a: int) (b: int) =
            let v = stepLoss.[a .. b - 1] |> Array.filter Double.IsFinite
            if v.Length = 0 then nan else Array.average v
        if n < 4 then nan else 1.0 - mean (3 * n / 4) n / mean (n / 2) (3 * n / 4)

    /// <summary>The mean loss over consecutive windows of <paramref name="window"/> steps (the last may be
    /// shorter).</summary>
    let windowMeans (window: int) (stepLoss: float[]) : float[] =
        stepLoss |> Array.chunkBySize (max 1 window) |> Array.map (fun c ->
            let v = c |> Array.filter Double.IsFinite
            if v.Length = 0 then nan else Array.average v)

/// <summary>The learning rates the LR range test suggests, by the lecture's rule and by a steadier one.</summary>
type RangeSuggestion =
    { /// Smoothing weight of the newest loss (the lecture: 0.05).
      Alpha: float
      /// The bias-corrected exponential moving average of the loss at each step.
      Smoothed: float[]
      /// The rate at the minimum of the smoothed loss.
      ArgminLr: float
      /// The rate where the smoothed loss has fallen a tenth of the way from its start to its minimum.
      OnsetLr: float
      /// The lecture's bounds: min_lr = onset/6, max_lr = argmin/10.
      LectureMin: float
      LectureMax: float
      /// The rate of steepest descent of the smoothed loss per decade of lr (least squares over one decade).
      SteepestLr: float
      /// The steadier bounds: max_lr = steepest descent, min_lr = max_lr/4 (Smith 2017).
      RobustMin: float
      RobustMax: float }

/// <summary>The LR range test's analysis (Smith, "Cyclical Learning Rates for Training Neural Networks",
/// WACV 2017; smoothing as fastai's <c>lr_find</c>).</summary>
[<RequireQualifiedAccess>]
module RangeTest =

    /// <summary>The bias-corrected exponential moving average s_t = a_t/(1 − (1 − α)^t),
    /// a_t = (1 − α)·a_(t−1) + α·L_t, over the finite prefix of the losses.</summary>
    let smooth (alpha: float) (losses: float[]) : float[] =
        Validation.openUnitInterval (nameof alpha) alpha
        let finite = losses |> Array.takeWhile Double.IsFinite
        let mutable a = 0.0
        finite |> Array.mapi (fun t l ->
            a <- (1.0 - alpha) * a + alpha * l
            a / (1.0 - (1.0 - alpha) ** float (t + 1)))

    /// <summary>The least-squares slope of y on log10 x over the points within half a decade of each point.</summary>
    let private slopesPerDecade (lr: float[]) (y: float[]) =
        let lx = lr |> Array.map log10
        Array.init y.Length (fun i ->
            let idx = [| for j in 0 .. y.Length - 1 do if abs (lx.[j] - lx.[i]) <= 0.5 then yield j |]
            if idx.Length < 3 then nan
            else
                let mx = idx |> Array.averageBy (fun j -> lx.[j])
                let my = idx |> Array.averageBy (fun j -> y.[j])
                let sxy = idx |> Array.sumBy (fun j -> (lx.[j] - mx) * (y.[j] - my))
                let sxx = idx |> Array.sumBy (fun j -> (lx.[j] - mx) ** 2.0)
                if sxx = 0.0 then nan else sxy / sxx)

    /// <summary>Both suggestions from a range test's rates and losses.</summary>
    /// <exception cref="T:System.ArgumentException">Fewer than 10 finite losses.</exception>
    let suggest (alpha: float) (run: RangeTestRun) : RangeSuggestion =
        let s = smooth alpha run.Loss
        if s.Length < 10 then
            invalidArg (nameof run) $"LR range test: expected at least 10 finite losses, got {s.Length}; run it over \
                more steps"
        let lr = run.LearningRate.[.. s.Length - 1]
        let argmin = s |> Array.mapi (fun i v -> i, v) |> Array.minBy snd |> fst
        let start = Quantile.median s.[.. max 0 (s.Length / 20)]
        let onset =
            s |> Array.tryFindIndex (fun v -> v < start - 0.1 * (start - s.[argmin])) |> Option.defaultValue argmin
        let slopes = slopesPerDecade lr s
        let steepest =
            [| 0 .. argmin |] |> Array.filter (fun i -> Double.IsFinite slopes.[i])
            |> fun idx -> if idx.Length = 0 then argmin else idx |> Array.minBy (fun i -> slopes.[i])
        { Alpha = alpha; Smoothed = s; ArgminLr = lr.[argmin]; OnsetLr = lr.[onset]
          LectureMin = lr.[onset] / 6.0; LectureMax = lr.[argmin] / 10.0
          SteepestLr = lr.[steepest]; RobustMin = lr.[steepest] / 4.0; RobustMax = lr.[steepest] }
