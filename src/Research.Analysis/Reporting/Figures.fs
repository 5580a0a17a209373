namespace Research.Analysis

open System
open Plotly.NET
open Plotly.NET.LayoutObjects

/// <summary>The report palette: one list of colours (matplotlib's "tab10"), used by every figure,
/// with a translucent variant of each for bands and fills.</summary>
[<RequireQualifiedAccess>]
module Palette =

    let private rgb =
        [| 31, 119, 180; 214, 39, 40; 44, 160, 44; 148, 103, 189; 255, 127, 14
           140, 86, 75; 227, 119, 194; 127, 127, 127; 188, 189, 34; 23, 190, 207 |]

    /// The i-th colour (cycling).
    let colour (i: int) : Color =
        let r, g, b = rgb.[((i % rgb.Length) + rgb.Length) % rgb.Length]
        Color.fromRGB r g b

    /// The i-th colour at the given opacity (0..1), for bands and filled areas.
    let translucent (opacity: float) (i: int) : Color =
        let r, g, b = rgb.[((i % rgb.Length) + rgb.Length) % rgb.Length]
        Color.fromARGB (int (Math.Round(255.0 * max 0.0 (min 1.0 opacity)))) r g b

    /// Black, for reference curves (theory).
    let reference : Color = Color.fromRGB 0 0 0

/// <summary>A curve with an optional band (e.g. median and 10–90% over weights, or mean and 95%
/// interval over seeds). Points whose value is not finite (or not positive on a log axis) are left out.</summary>
type BandedCurve =
    { /// Legend name.
      Name: string
      /// x positions.
      X: float[]
      /// The curve.
      Y: float[]
      /// Lower and upper edge of the band at each x (None: no band).
      Band: (float[] * float[]) option }

/// <summary>
/// Reusable Plotly.NET figures for study reports: lines with bands, histogram with a density, contour
/// and surface with trajectories, quiver, per-layer box plots and small multiples. Every figure takes
/// plain arrays, uses the one palette, and survives any data size or shape (empty inputs give an
/// empty, labelled chart; non-finite points are left out).
/// </summary>
[<RequireQualifiedAccess>]
module Figures =

    let private finitePoints (logY: bool) (x: float[]) (y: float[]) =
        let n = min x.Length y.Length
        Array.zip x.[.. n - 1] y.[.. n - 1] |> Array.filter (fun (a, b) -> Double.IsFinite a && Double.IsFinite b && (not logY || b > 0.0))

    /// <summary>Axis titles and size.</summary>
    let withAxes (xTitle: string) (yTitle: string) (chart: GenericChart) : GenericChart =
        chart |> Chart.withXAxisStyle (TitleText = xTitle) |> Chart.withYAxisStyle (TitleText = yTitle)

    /// <summary>A logarithmic y axis with a title.</summary>
    let withLogY (yTitle: string) (chart: GenericChart) : GenericChart =
        chart |> Chart.withYAxis (LinearAxis.init (AxisType = StyleParam.AxisType.Log, Title = Title.init yTitle))

    /// <summary>A logarithmic x axis with a title.</summary>
    let withLogX (xTitle: string) (chart: GenericChart) : GenericChart =
        chart |> Chart.withXAxis (LinearAxis.init (AxisType = StyleParam.AxisType.Log, Title = Title.init xTitle))

    /// <summary>One line in palette colour <paramref name="colour"/>.</summary>
    let line (name: string) (colour: int) (x: float[]) (y: float[]) : GenericChart =
        let pts = finitePoints false x y
        Chart.Line(x = Array.map fst pts, y = Array.map snd pts, Name = name, LineColor = Palette.colour colour)

    /// <summary>Points as markers in palette colour <paramref name="colour"/> (observations, data points).</summary>
    let points (name: string) (colour: int) (x: float[]) (y: float[]) : GenericChart =
        let pts = finitePoints false x y
        Chart.Point(x = Array.map fst pts, y = Array.map snd pts, Name = name, MarkerColor = Palette.colour colour)

    /// <summary>A dashed black reference line (a theory curve).</summary>
    let referenceLine (name: string) (x: float[]) (y: float[]) : GenericChart =
        let pts = finitePoints false x y
        Chart.Line(x = Array.map fst pts, y = Array.map snd pts, Name = name, LineColor = Palette.reference,
                   LineDash = StyleParam.DrawingStyle.Dash)

    /// <summary>Curves with translucent bands, one palette colour each, in the given order; a band is a filled
    /// area with no legend entry of its own.</summary>
    /// <param name="logY">Leave out points ≤ 0 (for a log axis).</param>
    /// <param name="curves">The curves.</param>
    let bands (logY: bool) (curves: BandedCurve list) : GenericChart =
        [ for i, c in List.indexed curves do
            match c.Band with
            | Some(lower, upper) ->
                let pts =
                    Array.init (min (min c.X.Length c.Y.Length) (min lower.Length upper.Length)) (fun k -> c.X.[k], c.Y.[k], lower.[k], upper.[k])
                    |> Array.filter (fun (x, y, lo, hi) ->
                        Array.forall Double.IsFinite [| x; y; lo; hi |] && (not logY || (y > 0.0 && lo > 0.0 && hi > 0.0)))
                let xs = pts |> Array.map (fun (x, _, _, _) -> x)
                yield
                    Chart.Range(x = xs, y = (pts |> Array.map (fun (_, y, _, _) -> y)),
                                upper = (pts |> Array.map (fun (_, _, _, hi) -> hi)),
                                lower = (pts |> Array.map (fun (_, _, lo, _) -> lo)),
                                mode = StyleParam.Mode.Lines, Name = c.Name, GroupName = c.Name,
                                LineColor = Palette.colour i,
                                RangeColor = Palette.translucent 0.2 i, UpperName = $"{c.Name} (upper)", LowerName = $"{c.Name} (lower)")
                    // one legend entry per curve, toggling its own band: Chart.Range puts every range in
                    // one legend group "Range" with a group title and lists both edges as entries
                    |> GenericChart.mapTrace (fun t ->
                        if t.TryGetTypedPropertyValue<string> "name" = Some c.Name then
                            t |> Trace2DStyle.Scatter(LegendGroupTitle = Title.init "")
                        else t |> Trace2DStyle.Scatter(ShowLegend = false))
            | None ->
                let pts = finitePoints logY c.X c.Y
                yield Chart.Line(x = Array.map fst pts, y = Array.map snd pts, Name = c.Name, LineColor = Palette.colour i) ]
        |> fun charts -> if charts.IsEmpty then Chart.Line(x = [||], y = ([||]: float[]), Name = "no data") else Chart.combine charts

    /// <summary>A histogram given as bin edges and densities (a filled step outline: exact and light),
    /// with a density curve over it.</summary>
    /// <param name="edges">Bin edges (bins + 1).</param>
    /// <param name="densities">Density of each bin.</param>
    /// <param name="density">A fitted density as (x, f(x)) arrays, and its legend name.</param>
    /// <param name="showLegend">Show legend entries (false for all but one panel of small multiples).</param>
    let histogramWithDensity (edges: float[]) (densities: float[]) (density: (string * float[] * float[]) option) (showLegend: bool) : GenericChart =
        let stepX = [| for i in 0 .. densities.Length - 1 do yield edges.[i]; yield edges.[i + 1] |]
        let stepY = [| for d in densities do yield d; yield d |]
        [ yield Chart.Line(x = stepX, y = stepY, Name = "histogram (density)", ShowLegend = showLegend, LineColor = Palette.colour 0,
                           Fill = Plotly.NET.StyleParam.Fill.ToZero_y, FillColor = Palette.translucent 0.35 0)
          match density with
          | Some(name, x, y) -> yield Chart.Line(x = x, y = y, Name = name, ShowLegend = showLegend, LineColor = Palette.colour 1)
          | None -> () ]
        |> Chart.combine

    /// <summary>Small multiples: any number of panels on a grid of at most <paramref name="columns"/> columns.</summary>
    /// <param name="columns">Panels per row (≥ 1).</param>
    /// <param name="panelHeight">Height of one row in pixels.</param>
    /// <param name="panels">(title, chart) per panel.</param>
    let grid (columns: int) (panelHeight: int) (panels: (string * GenericChart) list) : GenericChart =
        if panels.IsEmpty then Chart.Line(x = [||], y = ([||]: float[]), Name = "no panels")
        else
            let cols = max 1 (min columns panels.Length)
            let rows = (panels.Length + cols - 1) / cols
            panels
            |> List.map snd
            |> Chart.Grid(rows, cols, SubPlotTitles = (panels |> List.map fst))
            |> Chart.withSize (1150, max 320 (rows * panelHeight))

    /// <summary>Contour lines of f over a grid with trajectories drawn on top (one palette colour each,
    /// start marked by a circle).</summary>
    /// <param name="x">Grid x values.</param>
    /// <param name="y">Grid y values.</param>
    /// <param name="z">z.[i].[j] = f(x.[j], y.[i]) (rows over y).</param>
    /// <param name="trajectories">(name, points) per trajectory.</param>
    let contourWithTrajectories (x: float[]) (y: float[]) (z: float[][]) (trajectories: (string * (float * float)[]) list) : GenericChart =
        [ yield Chart.Contour(zData = z, X = x, Y = y, ShowScale = false, NContours = 30, Name = "f", ColorScale = StyleParam.Colorscale.Greys,
                              Opacity = 0.6)
          for i, (name, pts) in List.indexed trajectories do
            let pts = pts |> Array.filter (fun (a, b) -> Double.IsFinite a && Double.IsFinite b)
            yield Chart.Line(x = Array.map fst pts, y = Array.map snd pts, Name = name, LineColor = Palette.colour i, ShowMarkers = true,
                             MarkerColor = Palette.colour i) ]
        |> Chart.combine

    /// <summary>The surface of f with trajectories (x, y, f) on it, in 3-D.</summary>
    let surfaceWithTrajectories (x: float[]) (y: float[]) (z: float[][]) (trajectories: (string * (float * float * float)[]) list) : GenericChart =
        [ yield Chart.Surface(zData = z, X = x, Y = y, ShowScale = false, Opacity = 0.7, Name = "f")
          for i, (name, pts) in List.indexed trajectories do
            let pts = pts |> Array.filter (fun (a, b, c) -> Double.IsFinite a && Double.IsFinite b && Double.IsFinite c)
            yield Chart.Line3D(xyz = pts, Name = name, LineColor = Palette.colour i, LineWidth = 4.0) ]
        |> Chart.combine

    /// <summary>A quiver plot: an arrow from each (x, y) along (u, v), scaled so the longest is
    /// <paramref name="longest"/> long. Arrows are line segments with two-stroke heads, all in one trace.</summary>
    let quiver (name: string) (longest: float) (arrows: (float * float * float * float)[]) : GenericChart =
        let finite = arrows |> Array.filter (fun (a, b, c, d) -> Array.forall Double.IsFinite [| a; b; c; d |])
        let maxLen = finite |> Array.fold (fun m (_, _, u, v) -> max m (sqrt (u * u + v * v))) 0.0
        let scale = if maxLen > 0.0 then longest / maxLen else 0.0
        let xs = ResizeArray<float>()
        let ys = ResizeArray<float>()
        for x0, y0, u, v in finite do
            let x1, y1 = x0 + scale * u, y0 + scale * v
            let len = sqrt ((x1 - x0) ** 2.0 + (y1 - y0) ** 2.0)
            if len > 0.0 then
                let ux, uy = (x1 - x0) / len, (y1 - y0) / len
                let h = 0.3 * len
                let c, s = cos (Math.PI / 7.0), sin (Math.PI / 7.0)
                // shaft, then the two strokes of the head; NaN breaks the line between arrows
                for px, py in [ x0, y0; x1, y1; x1 - h * (c * ux - s * uy), y1 - h * (s * ux + c * uy); nan, nan
                                x1, y1; x1 - h * (c * ux + s * uy), y1 - h * (-s * ux + c * uy); nan, nan ] do
                    xs.Add px
                    ys.Add py
        Chart.Line(x = xs.ToArray(), y = ys.ToArray(), Name = name, LineColor = Palette.colour 0)

    /// Box plots of each group's finite values, at most <paramref name="points"/> order statistics a group.
    let private boxPlotsOf (points: int) (name: string) (colour: int) (groups: (string * float[]) list) =
        let xs = ResizeArray<string>()
        let ys = ResizeArray<float>()
        for label, values in groups do
            let sorted = values |> Array.filter Double.IsFinite |> Array.sort
            let kept =
                if sorted.Length <= points then sorted
                else Array.init points (fun k -> Quantile.ofSorted (float k / float (points - 1)) sorted)
            for v in kept do
                xs.Add label
                ys.Add v
        Chart.BoxPlot(X = xs.ToArray(), Y = ys.ToArray(), Name = name, MarkerColor = Palette.colour colour,
                      BoxPoints = StyleParam.BoxPoints.False)

    /// <summary>Box plots, one per group (e.g. per layer), from each group's values. Large groups are
    /// represented by 2,000 evenly spaced order statistics, which keeps their quartiles and whiskers
    /// (to within 1/2,000 in probability) and the report small.</summary>
    /// <param name="name">Legend name of the series.</param>
    /// <param name="colour">Palette index.</param>
    /// <param name="groups">(label, values) per box.</param>
    let boxPlots (name: string) (colour: int) (groups: (string * float[]) list) : GenericChart =
        boxPlotsOf 2000 name colour groups

    /// <summary>Bars (e.g. one per claim or per configuration) with optional error bars.</summary>
    let bars (name: string) (colour: int) (labels: string[]) (values: float[]) : GenericChart =
        Chart.Column(values = values, Keys = labels, Name = name, MarkerColor = Palette.colour colour)

    /// <summary>Several series of box plots side by side at each group (e.g. one series per training
    /// iteration, one group per layer), each series in its palette colour. Large groups are represented
    /// by <paramref name="points"/> evenly spaced order statistics (as <c>boxPlots</c> does with 2,000),
    /// which keeps quartiles and whiskers to within 1/points in probability; many boxes stay light.</summary>
    /// <param name="points">Order statistics kept per group (≥ 2).</param>
    /// <param name="showLegend">Show the series in the legend (false for all but one panel of small multiples).</param>
    /// <param name="series">(series name, (group label, values) per group) per series, in colour order.</param>
    let groupedBoxPlots (points: int) (showLegend: bool) (series: (string * (string * float[]) list) list)
                        : GenericChart =
        if points < 2 then invalidArg (nameof points) $"expected at least 2 order statistics per box, got {points}"
        if series.IsEmpty then Chart.Line(x = [||], y = ([||]: float[]), Name = "no data")
        else
            [ for i, (name, groups) in List.indexed series ->
                boxPlotsOf points name i groups |> Chart.withTraceInfo (ShowLegend = showLegend, LegendGroup = name) ]
            |> Chart.combine
            |> Chart.withLayout (Layout.init (BoxMode = StyleParam.BoxMode.Group))
