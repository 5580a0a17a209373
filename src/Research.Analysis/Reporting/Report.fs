namespace Research.Analysis

open System
open System.IO
open System.Net
open System.Text
open Plotly.NET

/// A table in a report: a title, column headers and rows of already formatted cells.
/// Cells are text: they are HTML-escaped when rendered and CSV-quoted when exported.
type ReportTable =
    { /// Caption shown above the table.
      Title: string
      /// Column headers.
      Columns: string list
      /// Rows; each must have as many cells as there are columns.
      Rows: string list list
      /// File name for the CSV export next to the report (None: not exported).
      CsvName: string option }

/// One block of a report, in reading order.
type ReportBlock =
    /// A section heading (level 2 or 3).
    | Heading of level: int * text: string
    /// A paragraph of plain text (escaped).
    | Paragraph of text: string
    /// A list of label/value pairs, e.g. for the methods section (escaped).
    | Facts of (string * string) list
    /// A table (escaped, optionally exported as CSV).
    | Table of ReportTable
    /// A Plotly.NET chart with a caption (escaped); drawn by the embedded plotly.js.
    | Figure of caption: string * chart: GenericChart
    /// A verdict line: a short label, whether it is good news, and the sentence (escaped).
    | Verdict of label: string * positive: bool option * text: string
    /// A table whose first cell in row i links to hrefs[i] (a relative path; escaped).
    | LinkTable of table: ReportTable * hrefs: string list

/// Self-contained HTML reports: plotly.js (from Plotly.NET's embedded copy) is inlined, so the file
/// opens with no network. Every piece of user text is HTML-escaped, and chart JSON is embedded with
/// '&lt;', '&gt;' and '&amp;' written as JSON escapes, so a label such as "&lt;/script&gt;" cannot
/// break out of the page.
module Report =

    /// HTML-escapes text for element content and attribute values.
    let escape (text: string) : string = WebUtility.HtmlEncode(if isNull text then "" else text)

    /// The plotly.js bundled with Plotly.NET (its version is in the resource name).
    let plotlyJs : Lazy<string * string> =
        lazy
            (let asm = typeof<Chart>.Assembly
             let name =
                 asm.GetManifestResourceNames()
                 |> Array.tryFind (fun n -> n.StartsWith "Plotly.NET.plotly-" && n.EndsWith ".min.js")
                 |> Option.defaultWith (fun () -> failwith "Plotly.NET assembly carries no plotly.js resource")
             use s = asm.GetManifestResourceStream name
             use r = new StreamReader(s)
             let version = name.Replace("Plotly.NET.plotly-", "").Replace(".min.js", "")
             version, r.ReadToEnd())

    /// Plotly.NET's serializer settings (Globals.JSON_CONFIG: reference loops serialized) with reference
    /// equality for Newtonsoft's loop check. With the default comparer that check calls DynamicObj's
    /// Equals, which hashes the whole object tree, for every nested object against every object on the
    /// serializer's stack: the optimizers report (36 charts, 9 surfaces) took 17–25 s to write. Because
    /// loops are serialized either way, the comparer cannot change the output: the JSON is byte for byte
    /// <c>GenericChart.toFigureJson</c>'s (tested).
    let private figureSettings =
        Newtonsoft.Json.JsonSerializerSettings(
            ReferenceLoopHandling = Newtonsoft.Json.ReferenceLoopHandling.Serialize,
            EqualityComparer = Collections.Generic.ReferenceEqualityComparer.Instance)

    /// A chart as plotly.js figure JSON ({"data": …, "layout": …, "frames": []}), as
    /// <c>GenericChart.toFigureJson</c> writes it, without its quadratic loop check.
    let figureJson (chart: GenericChart) : string =
        Newtonsoft.Json.JsonConvert.SerializeObject(GenericChart.toFigure chart, figureSettings)

    /// JSON made safe to sit inside a &lt;script&gt; element.
    let scriptSafeJson (json: string) : string =
        json.Replace("<", "\\u003c").Replace(">", "\\u003e").Replace("&", "\\u0026")
            .Replace("\u2028", "\\u2028").Replace("\u2029", "\\u2029")

    /// A cell a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage
    /// return) and that is not a finite number: written with a leading apostrophe, which spreadsheets
    /// show as text (OWASP "CSV injection"). Plain numbers such as -0.5 or +3e-4 stay numbers.
    let private defuse (s: string) : string =
        if String.IsNullOrEmpty s || "=+-@\t\r".IndexOf s.[0] < 0 then s
        else
            match Double.TryParse(s, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, v when Double.IsFinite v -> s
            | _ -> "'" + s

    /// One CSV field (RFC 4180 quoting), with formula-like text defused (see the remarks on <c>toCsv</c>).
    let csvField (s: string) : string =
        let s = defuse (if isNull s then "" else s)
        if s.IndexOfAny([| ','; '"'; '\n'; '\r' |]) >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

    /// <summary>A table as CSV text.</summary>
    /// <remarks>Cells are RFC 4180 fields. A cell that begins with =, +, -, @, a tab or a carriage
    /// return and is not a number gets a leading apostrophe, so that a label such as
    /// "=HYPERLINK(…)" from a trace's manifest is shown as text, never run as a spreadsheet formula;
    /// numbers, negative ones included, are written as they are.</remarks>
    let toCsv (table: ReportTable) : string =
        let sb = StringBuilder()
        sb.AppendLine(String.Join(",", table.Columns |> List.map csvField)) |> ignore
        for row in table.Rows do
            sb.AppendLine(String.Join(",", row |> List.map csvField)) |> ignore
        sb.ToString()

    let private css = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#1d2733;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #d6dde6;padding-bottom:.2em} h3{margin-top:1.3em}
div.table{overflow-x:auto} table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em} th,td{border:1px solid #d6dde6;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef2f7} caption{text-align:left;font-weight:600;padding:.3em 0}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15em 1.2em;font-size:.9em} dl.facts dt{font-weight:600} dl.facts dd{margin:0;word-break:break-all}
figure{margin:1em 0 2em} figcaption{font-size:.9em;color:#44515f}
.verdict{padding:.4em .7em;margin:.4em 0;border-left:4px solid #8c97a6;background:#f5f7fa}
.verdict.pos{border-color:#2e8b57} .verdict.neg{border-color:#c0392b} .verdict b{margin-right:.5em}
.csv{font-size:.8em}
"""

    /// Renders a report to an HTML string. <paramref name="title"/> and every block are escaped.
    let render (title: string) (blocks: ReportBlock list) : string =
        let version, js = plotlyJs.Value
        let sb = StringBuilder()
        let add (s: string) = sb.Append(s) |> ignore
        add "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        add $"<title>{escape title}</title>\n<style>{css}</style>\n"
        add $"<!-- plotly.js {escape version}, embedded from Plotly.NET so the report opens offline -->\n<script>"
        add (js.Replace("</script", "<\\/script"))
        add "</script>\n</head>\n<body>\n"
        add $"<h1>{escape title}</h1>\n"
        let table (t: ReportTable) (hrefs: string list) =
            add $"<div class=\"table\"><table>\n<caption>{escape t.Title}</caption>\n<thead><tr>"
            for c in t.Columns do add $"<th>{escape c}</th>"
            add "</tr></thead>\n<tbody>\n"
            for i, row in List.indexed t.Rows do
                add "<tr>"
                for j, cell in List.indexed row do
                    match List.tryItem i hrefs with
                    | Some href when j = 0 -> add $"<td><a href=\"{escape href}\">{escape cell}</a></td>"
                    | _ -> add $"<td>{escape cell}</td>"
                add "</tr>\n"
            add "</tbody>\n</table></div>\n"
            match t.CsvName with
            | Some name -> add $"<p class=\"csv\">CSV: <a href=\"{escape name}\">{escape name}</a></p>\n"
            | None -> ()
        let mutable figure = 0
        for block in blocks do
            match block with
            | Heading(level, text) ->
                let l = max 2 (min 4 level)
                add $"<h{l}>{escape text}</h{l}>\n"
            | Paragraph text -> add $"<p>{escape text}</p>\n"
            | Facts pairs ->
                add "<dl class=\"facts\">\n"
                for k, v in pairs do add $"<dt>{escape k}</dt><dd>{escape v}</dd>\n"
                add "</dl>\n"
            | Table t -> table t []
            | LinkTable(t, hrefs) -> table t hrefs
            | Figure(caption, chart) ->
                figure <- figure + 1
                let id = $"figure-{figure}"
                let json = scriptSafeJson (figureJson chart)
                add $"<figure>\n<div id=\"{id}\" class=\"chart\"></div>\n<figcaption>{escape caption}</figcaption>\n"
                add $"<script>(function(){{var f={json};Plotly.newPlot('{id}',f.data,f.layout,{{responsive:true,displaylogo:false}});}})();</script>\n</figure>\n"
            | Verdict(label, positive, text) ->
                let cls = match positive with Some true -> " pos" | Some false -> " neg" | None -> ""
                add $"<div class=\"verdict{cls}\"><b>{escape label}</b>{escape text}</div>\n"
        add "</body>\n</html>\n"
        sb.ToString()

    /// Writes the report to <paramref name="path"/> and each table that names a CSV file next to it.
    /// Returns the paths written (the HTML first).
    let write (path: string) (title: string) (blocks: ReportBlock list) : string list =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "expected a file path for the report, got an empty string"
        let dir = Path.GetDirectoryName(Path.GetFullPath path)
        Directory.CreateDirectory dir |> ignore
        File.WriteAllText(path, render title blocks, UTF8Encoding(false))
        let csvs =
            [ for b in blocks do
                match b with
                | Table({ CsvName = Some name } as t)
                | LinkTable({ CsvName = Some name } as t, _) ->
                    if name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains ".." then
                        invalidArg (nameof blocks) $"CSV name '{name}' must be a plain file name"
                    let p = Path.Combine(dir, name)
                    File.WriteAllText(p, toCsv t, UTF8Encoding(false))
                    yield p
                | _ -> () ]
        path :: csvs
