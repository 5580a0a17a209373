module Research.Tests.ReportTests

open System
open System.IO
open Expecto
open Plotly.NET
open Research.Analysis

let private hostile = "<script>alert('x')</script> & \"quotes\""

[<Tests>]
let tests =
    testList "Reporting.Report" [
        testCase "user labels are escaped everywhere: title, text, facts, tables, captions and chart JSON" <| fun () ->
            let chart = Chart.Line(x = [ 1.0; 2.0 ], y = [ 3.0; 4.0 ], Name = hostile) |> Chart.withTitle hostile
            let html =
                Report.render hostile
                    [ Heading(2, hostile)
                      Paragraph hostile
                      Facts [ hostile, hostile ]
                      Table { Title = hostile; Columns = [ hostile ]; Rows = [ [ hostile ] ]; CsvName = None }
                      Figure(hostile, chart)
                      Verdict(hostile, Some true, hostile) ]
            // The only <script> tags are ours: plotly.js and one per figure.
            let scripts = html.Split("<script>").Length - 1
            Expect.equal scripts 2 "plotly.js + one figure"
            Expect.isFalse (html.Contains "<script>alert") "no raw user script"
            Expect.stringContains html "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" "escaped in HTML"
            Expect.stringContains html "\\u003cscript\\u003ealert" "escaped inside chart JSON"

        testCase "figure JSON is byte for byte Plotly.NET's toFigureJson (surfaces, contours, grids, a trace reused twice)" <| fun () ->
            let rng = System.Random 7
            let grid = Array.init 41 (fun i -> -2.0 + 0.1 * float i)
            let z = Array.init grid.Length (fun i -> Array.init grid.Length (fun j -> sin grid.[i] * cos grid.[j] + 1e-7 * rng.NextDouble()))
            let path = [| for t in 0 .. 30 -> 0.05 * float t, -0.03 * float t |]
            let shared = Chart.Line(x = [ 1.0; 2.0; 3.0 ], y = [ 1.0; nan; 3.0 ], Name = "reused")
            let charts =
                [ Figures.surfaceWithTrajectories grid grid z [ "a", path |> Array.map (fun (x, y) -> x, y, x * y); "b", [||] ]
                  Figures.contourWithTrajectories grid grid z [ "a", path; "b", path |> Array.rev ]
                  Figures.grid 2 300 [ "first", shared; "second", shared; "third", Chart.Point(x = [ 0.5 ], y = [ infinity ]) ]
                  Chart.combine [ shared; shared ] |> Chart.withTitle hostile
                  Chart.Line(x = ([||]: float[]), y = ([||]: float[])) ]
            for i, chart in List.indexed charts do
                Expect.equal (Report.figureJson chart) (GenericChart.toFigureJson chart) $"chart {i}"

        testCase "the report embeds plotly.js and loads nothing from the network" <| fun () ->
            let html = Report.render "t" [ Figure("c", Chart.Point(x = [ 1.0 ], y = [ 1.0 ])) ]
            let version, js = Report.plotlyJs.Value
            Expect.isGreaterThan js.Length 1_000_000 "the full plotly.min.js"
            Expect.stringContains html $"plotly.js {version}" "version stated"
            // plotly.min.js itself mentions cdn.plot.ly (geo maps fetch topojson there); the rest of the page must not.
            let page = html.Replace(js.Replace("</script", "<\\/script"), "")
            Expect.isLessThan page.Length 50_000 "the page without plotly.js is small"
            Expect.isFalse (page.Contains "cdn.plot.ly" || page.Contains "src=\"http" || page.Contains "<link") "no external script or stylesheet"

        testCase "tables export as RFC 4180 CSV next to the report" <| fun () ->
            let dir = Path.Combine(Path.GetTempPath(), "report-test-" + Guid.NewGuid().ToString("N"))
            let table = { Title = "t"; Columns = [ "name"; "value" ]; Rows = [ [ "a,b"; "1" ]; [ "say \"hi\""; "2" ] ]; CsvName = Some "t.csv" }
            let written = Report.write (Path.Combine(dir, "report.html")) "r" [ Table table ]
            Expect.equal written.Length 2 "html and csv"
            Expect.equal (File.ReadAllText(Path.Combine(dir, "t.csv"))) "name,value\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n" "quoted fields"
            Check.throws<ArgumentException> (fun () ->
                Report.write (Path.Combine(dir, "r2.html")) "r" [ Table { table with CsvName = Some "../evil.csv" } ] |> ignore)
            |> Check.messageHas [ "../evil.csv" ]

        testCase "CSV cells that a spreadsheet would run as formulas are written as text; numbers stay numbers" <| fun () ->
            let table =
                { Title = "t"; Columns = [ "label"; "value" ]
                  Rows = [ [ "=HYPERLINK(\"http://x\",\"y\")"; "-0.5" ]; [ "+cmd|' /C calc'!A0"; "+3e-4" ]; [ "-2+3"; "-1.25E-07" ]
                           [ "@SUM(A1)"; "-" ]; [ "\tx"; "1" ]; [ "plain -text"; "-Infinity" ] ]
                  CsvName = None }
            Expect.equal (Report.toCsv table)
                ("label,value\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-0.5\n'+cmd|' /C calc'!A0,+3e-4\n'-2+3,-1.25E-07\n"
                 + "'@SUM(A1),'-\n'\tx,1\nplain -text,'-Infinity\n") "defused cells, finite numbers unchanged"
    
        testCase "headless Chromium draws every chart with no console errors, and catches a broken page" <| fun () ->
            Research.Analysis.Tests.Support.requireBrowser ()
            let dir = Path.Combine(Path.GetTempPath(), "report-browser-" + Guid.NewGuid().ToString("N"))
            let good = Path.Combine(dir, "good.html")
            Report.write good hostile
                [ Figure("line", Chart.Line(x = [ 1.0; 2.0; 3.0 ], y = [ 1.0; 4.0; 9.0 ], Name = hostile))
                  Figure("histogram", Chart.Histogram(X = [ 1.0; 2.0; 2.0; 3.0 ])) ] |> ignore
            let r = BrowserCheck.check (Path.Combine(dir, "good.png")) good
            Expect.equal (r.Charts, r.ChartsDrawn) (2, 2) "both charts drawn"
            Expect.isEmpty r.ConsoleErrors "no console errors"
            Expect.isTrue (r.Screenshot |> Option.exists File.Exists) "screenshot kept"
            let bad = Path.Combine(dir, "bad.html")
            File.WriteAllText(bad, (File.ReadAllText good).Replace("</body>", "<div class=\"chart\"></div><script>console.error('boom');</script></body>"))
            let rb = BrowserCheck.check (Path.Combine(dir, "bad.png")) bad
            Expect.isFalse rb.Passed "the broken page fails the check"
            Expect.equal rb.ChartsDrawn 2 "the empty chart is not counted as drawn"
            Expect.contains rb.ConsoleErrors "boom" "console.error caught"

        testCase "headless Chromium reads the page once it settled: a chart drawn 0.8 s after the load counts, an error 0.2 s after it is caught" <| fun () ->
            Research.Analysis.Tests.Support.requireBrowser ()
            let dir = Path.Combine(Path.GetTempPath(), "report-browser-late-" + Guid.NewGuid().ToString("N"))
            let good = Path.Combine(dir, "good.html")
            Report.write good "late" [ Figure("line", Chart.Line(x = [ 1.0; 2.0 ], y = [ 1.0; 4.0 ])) ] |> ignore
            let page = File.ReadAllText good
            let late = Path.Combine(dir, "late-chart.html")
            File.WriteAllText(late, page.Replace("</body>",
                "<div class=\"chart\" id=\"late\"></div><script>window.addEventListener('load',function(){setTimeout(function(){Plotly.newPlot('late',[{y:[1,2,3]}]);},800);});</script></body>"))
            let rl = BrowserCheck.check (Path.Combine(dir, "late-chart.png")) late
            Expect.equal (rl.Charts, rl.ChartsDrawn) (2, 2) "the chart drawn 0.8 s after the load is counted"
            Expect.isTrue rl.Passed "passes"
            let error = Path.Combine(dir, "late-error.html")
            File.WriteAllText(error, page.Replace("</body>",
                "<script>window.addEventListener('load',function(){setTimeout(function(){console.error('after load');},200);});</script></body>"))
            let re = BrowserCheck.check (Path.Combine(dir, "late-error.png")) error
            Expect.contains re.ConsoleErrors "after load" "the error 0.2 s after the load is caught"
            Expect.isFalse re.Passed "fails"

        testCase "headless Chromium: a 3-D surface counts only with its WebGL scene; a WebGL notice or an unhandled rejection fails" <| fun () ->
            Research.Analysis.Tests.Support.requireBrowser ()
            let dir = Path.Combine(Path.GetTempPath(), "report-browser-gl-" + Guid.NewGuid().ToString("N"))
            let good = Path.Combine(dir, "surface.html")
            Report.write good "surface"
                [ Figure("surface", Chart.Surface(zData = [ [ 1.0; 2.0; 3.0 ]; [ 2.0; 1.0; 0.5 ]; [ 3.0; 0.0; 1.0 ] ])) ] |> ignore
            let r = BrowserCheck.check (Path.Combine(dir, "surface.png")) good
            Expect.equal (r.Charts, r.ChartsDrawn) (1, 1) "the surface is drawn"
            Expect.isEmpty r.ConsoleErrors "no console errors"
            Expect.isTrue r.Passed "passes"
            // plotly.js puts up this notice (with its SVG still there) when it gets no WebGL context
            let noGl = Path.Combine(dir, "no-webgl.html")
            File.WriteAllText(noGl, (File.ReadAllText good).Replace("</body>", "<div class=\"chart\"><svg class=\"main-svg\"></svg><div class=\"no-webgl\">WebGL is not supported</div></div></body>"))
            let rn = BrowserCheck.check (Path.Combine(dir, "no-webgl.png")) noGl
            Expect.equal (rn.Charts, rn.ChartsDrawn) (2, 1) "the chart with the WebGL notice is not counted as drawn"
            Expect.isFalse rn.Passed "fails"
            let rejected = Path.Combine(dir, "rejected.html")
            File.WriteAllText(rejected, (File.ReadAllText good).Replace("</body>", "<script>Promise.reject(new Error('late'));</script></body>"))
            let rr = BrowserCheck.check (Path.Combine(dir, "rejected.png")) rejected
            Expect.contains rr.ConsoleErrors "unhandled rejection: late" "unhandled rejection caught"
            Expect.isFalse rr.Passed "fails"
    ]
