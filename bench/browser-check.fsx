// Times the headless-browser check of reports: the check as it was before the DevTools rewrite
// ("old": two Chromium starts, --virtual-time-budget=20000, a screenshot window as tall as the
// page) against Research.Analysis's BrowserCheck ("new"), interleaved, on the reports given.
//
//   dotnet build Research.sln -c Release
//   dotnet fsi bench/browser-check.fsx [--rounds N] [--height H] [--only old|new] report.html ...
//
// Each report is copied to a temporary folder first (the old check writes a probed copy next to
// it). Prints one line per check and the median seconds per report and variant.
#r "../src/Research.Analysis/bin/Release/net10.0/Research.Analysis.dll"

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Research.Analysis

type OldResult = { Charts: int; ChartsDrawn: int; ConsoleErrors: string list; Screenshot: string option }

module OldBrowserCheck =

    /// The same browser lookup as the current check.
    let tryFindBrowser () : string option = BrowserCheck.tryFindBrowser ()

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
    let checkSized (width: int, height: int) (screenshot: string) (report: string) : OldResult =
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
            { Charts = root.GetProperty("charts").GetInt32()
              ChartsDrawn = root.GetProperty("drawn").GetInt32()
              ConsoleErrors = errors
              Screenshot = if File.Exists shot then Some shot else None }
        finally
            try File.Delete probed with _ -> ()

    /// <c>checkSized</c> with a 1280×3000 window.
    let check (screenshot: string) (report: string) : OldResult = checkSized (1280, 3000) screenshot report

let args = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray
let rec parse rounds height variants reports = function
    | "--rounds" :: n :: rest -> parse (int n) height variants reports rest
    | "--height" :: h :: rest -> parse rounds (int h) variants reports rest
    | "--only" :: v :: rest -> parse rounds height [ v ] reports rest
    | r :: rest -> parse rounds height variants (reports @ [ r ]) rest
    | [] -> rounds, height, variants, reports
let rounds, height, variants, reports = parse 3 9000 [ "old"; "new" ] [] args
if reports.IsEmpty then
    eprintfn "usage: dotnet fsi bench/browser-check.fsx [--rounds N] [--height H] [--only old|new] report.html ..."
    exit 2

let work = Path.Combine(Path.GetTempPath(), "browser-check-bench-" + Guid.NewGuid().ToString("N"))
let copies =
    reports |> List.mapi (fun i r ->
        let d = Path.Combine(work, string i)
        Directory.CreateDirectory d |> ignore
        let c = Path.Combine(d, "report.html")
        File.Copy(r, c)
        r, c)

let times = Collections.Generic.Dictionary<string * string, ResizeArray<float>>()
let record key (s: float) =
    if not (times.ContainsKey key) then times[key] <- ResizeArray()
    times[key].Add s

for round in 1 .. rounds do
    for original, copy in copies do
        // alternate which variant goes first, so neither always runs on a warmer machine
        let order = if round % 2 = 1 then variants else List.rev variants
        for variant in order do
            let shot = Path.Combine(Path.GetDirectoryName copy, $"{variant}-{round}.png")
            let sw = Stopwatch.StartNew()
            let drawn, charts, errors =
                if variant = "old" then
                    let r = OldBrowserCheck.checkSized (1280, height) shot copy
                    r.ChartsDrawn, r.Charts, r.ConsoleErrors.Length
                else
                    let r = BrowserCheck.checkSized (1280, height) shot copy
                    r.ChartsDrawn, r.Charts, r.ConsoleErrors.Length
            let s = sw.Elapsed.TotalSeconds
            record (original, variant) s
            let png = FileInfo shot
            printfn "round %d  %-4s %6.1f s  %d/%d charts drawn, %d errors, png %d KB  %s" round variant s drawn charts errors (if png.Exists then png.Length / 1024L else -1L) original

let median (xs: seq<float>) =
    let a = Seq.sort xs |> Array.ofSeq
    if a.Length % 2 = 1 then a[a.Length / 2] else (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2.0
printfn ""
printfn "median seconds over %d rounds (old / new / ratio):" rounds
for original, _ in copies do
    let m v = match times.TryGetValue((original, v)) with | true, t -> median t | _ -> nan
    let o, n = m "old", m "new"
    printfn "  %7.1f  %7.1f  %5.2f  %s" o n (n / o) original
printfn "screenshots kept in %s" work
