namespace Research.Analysis

open System
open System.Diagnostics
open System.IO
open System.Text.Json

/// What a headless browser saw when it opened a report.
type BrowserCheckResult =
    { /// The report that was opened.
      Report: string
      /// The browser binary used.
      Browser: string
      /// Number of chart containers (div.chart) in the page.
      Charts: int
      /// How many of them plotly.js drew (hold an SVG canvas).
      ChartsDrawn: int
      /// Uncaught errors and console.error messages, in order.
      ConsoleErrors: string list
      /// The screenshot written (None if it could not be taken).
      Screenshot: string option }

    /// True when every chart was drawn and nothing was logged as an error.
    member r.Passed = r.Charts > 0 && r.ChartsDrawn = r.Charts && List.isEmpty r.ConsoleErrors

/// Opens a report in headless Chromium (Debian's `chromium`; no network needed because plotly.js
/// is embedded), checks that every chart was drawn and that no script error or console.error
/// occurred, and keeps a screenshot. The checker works on a copy of the report with a small
/// probe script added at the top of &lt;head&gt;; the report itself is not changed.
module BrowserCheck =

    /// Finds a Chromium binary: $CHROMIUM, then chromium / chromium-browser / google-chrome on PATH.
    let tryFindBrowser () : string option =
        let env = Environment.GetEnvironmentVariable "CHROMIUM"
        if not (String.IsNullOrEmpty env) && File.Exists env then Some env
        else
            let path = Environment.GetEnvironmentVariable "PATH"
            [ "chromium"; "chromium-browser"; "google-chrome" ]
            |> List.tryPick (fun name ->
                (if isNull path then [||] else path.Split ':')
                |> Array.map (fun d -> Path.Combine(d, name))
                |> Array.tryFind File.Exists)

    let private probe = """<script>
window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message||e));});
(function(){var oe=console.error;console.error=function(){window.__errors.push(Array.prototype.map.call(arguments,String).join(' '));return oe.apply(console,arguments);};})();
window.addEventListener('load',function(){setTimeout(function(){
 var charts=document.querySelectorAll('div.chart'),drawn=0;
 charts.forEach(function(c){if(c.querySelector('svg.main-svg'))drawn++;});
 var d=document.createElement('pre');d.id='__browser_check';
 d.textContent=JSON.stringify({charts:charts.length,drawn:drawn,errors:window.__errors,height:document.documentElement.scrollHeight});
 document.body.appendChild(d);},1500);});
</script>"""

    let private flags =
        [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--disable-quic"; "--no-first-run"
          "--disable-background-networking"; "--disable-component-update"; "--disable-sync"
          "--hide-scrollbars"; "--virtual-time-budget=20000" ]

    let private run (browser: string) (args: string list) (timeoutMs: int) =
        let userDir = Path.Combine(Path.GetTempPath(), "research-chromium-" + Guid.NewGuid().ToString("N"))
        let psi = ProcessStartInfo(browser)
        for a in flags @ [ $"--user-data-dir={userDir}" ] @ args do psi.ArgumentList.Add a
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        use p = Process.Start psi
        let err = p.StandardError.ReadToEndAsync()
        let out = p.StandardOutput.ReadToEnd()
        if not (p.WaitForExit timeoutMs) then
            p.Kill true
            failwithf "%s did not finish within %d s" browser (timeoutMs / 1000)
        try Directory.Delete(userDir, true) with _ -> ()
        p.ExitCode, out, err.Result

    /// Opens <paramref name="report"/> in headless Chromium, checks its charts and console, and
    /// writes a screenshot to <paramref name="screenshot"/> (at least width × height, taller when the
    /// page is, up to 30,000 px).
    /// Raises with a clear message when no browser is installed (install Debian's `chromium`).
    let checkSized (width: int, height: int) (screenshot: string) (report: string) : BrowserCheckResult =
        if not (File.Exists report) then invalidArg (nameof report) $"report '{report}' does not exist"
        let browser =
            match tryFindBrowser () with
            | Some b -> b
            | None -> invalidOp "no Chromium found (set CHROMIUM or install Debian's package: apt-get install chromium)"
        let full = Path.GetFullPath report
        let html = File.ReadAllText full
        let probed = Path.Combine(Path.GetDirectoryName full, "." + Path.GetFileNameWithoutExtension full + ".browser-check.html")
        let i = html.IndexOf("<head>", StringComparison.OrdinalIgnoreCase)
        let withProbe = if i >= 0 then html.Insert(i + 6, probe) else probe + html
        File.WriteAllText(probed, withProbe)
        try
            let code, dom, err = run browser [ "--dump-dom"; Uri(probed).AbsoluteUri ] 120_000
            let marker = "<pre id=\"__browser_check\">"
            let s = dom.IndexOf marker
            if s < 0 then
                failwithf "headless %s (exit %d) did not report on %s; stderr: %s" browser code report (err.Trim())
            let e = dom.IndexOf("</pre>", s)
            let json = System.Net.WebUtility.HtmlDecode(dom.Substring(s + marker.Length, e - s - marker.Length))
            use doc = JsonDocument.Parse json
            let root = doc.RootElement
            let errors = [ for x in root.GetProperty("errors").EnumerateArray() -> x.GetString() ]
            let shot = Path.GetFullPath screenshot
            Directory.CreateDirectory(Path.GetDirectoryName shot) |> ignore
            // the whole page when it is taller than asked (up to 30,000 px), so the end of a long report is in the picture
            let pageHeight = match root.TryGetProperty "height" with | true, h -> h.GetInt32() | _ -> height
            let shotHeight = max height (min 30_000 pageHeight)
            let _ = run browser [ $"--screenshot={shot}"; $"--window-size={width},{shotHeight}"; Uri(full).AbsoluteUri ] 120_000
            { Report = full
              Browser = browser
              Charts = root.GetProperty("charts").GetInt32()
              ChartsDrawn = root.GetProperty("drawn").GetInt32()
              ConsoleErrors = errors
              Screenshot = if File.Exists shot then Some shot else None }
        finally
            try File.Delete probed with _ -> ()

    /// <c>checkSized</c> with a 1280×3000 window.
    let check (screenshot: string) (report: string) : BrowserCheckResult = checkSized (1280, 3000) screenshot report
