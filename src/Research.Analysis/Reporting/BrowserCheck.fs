namespace Research.Analysis

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Net.WebSockets
open System.Text
open System.Text.Json
open System.Threading
open System.Threading.Tasks

/// What a headless browser saw when it opened a report.
type BrowserCheckResult =
    { /// The report that was opened.
      Report: string
      /// The browser binary used.
      Browser: string
      /// Number of chart containers (div.chart) in the page.
      Charts: int
      /// How many of them plotly.js drew: they hold its SVG canvas, no "WebGL is not supported"
      /// notice, and every 3-D scene in them has a live WebGL canvas.
      ChartsDrawn: int
      /// Uncaught errors, unhandled promise rejections and console.error messages, in order.
      ConsoleErrors: string list
      /// The screenshot written (None if it could not be taken).
      Screenshot: string option }

    /// True when every chart was drawn and nothing was logged as an error.
    member r.Passed = r.Charts > 0 && r.ChartsDrawn = r.Charts && List.isEmpty r.ConsoleErrors

/// Opens a report in headless Chromium (Debian's `chromium`; no network needed because plotly.js
/// is embedded), checks that every chart was drawn and that no script error or console.error
/// occurred, and keeps a screenshot. One browser start per check, driven over the DevTools
/// protocol: a probe script is installed before any of the page's scripts run, the page is loaded,
/// the probe reads the charts once every chart is drawn and nothing it reads changed for 0.3 s (at
/// least 0.3 s, at most 1.5 s after the load event; before, always at 1.5 s), and one screenshot is
/// taken of the loaded page. The report itself is not changed and no copy of it is written.
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

    /// Runs before the page's own scripts: records errors, and defines the function that counts
    /// the drawn charts. A chart counts as drawn when plotly.js made its SVG canvas, did not put up
    /// its "WebGL is not supported" notice, and each of its 3-D scenes (drawn into a WebGL canvas,
    /// not the SVG) has a connected canvas of non-zero size.
    let private probe = """
window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message||e));});
window.addEventListener('unhandledrejection',function(e){var r=e.reason;window.__errors.push('unhandled rejection: '+String(r&&r.message||r));});
(function(){var oe=console.error;console.error=function(){window.__errors.push(Array.prototype.map.call(arguments,String).join(' '));return oe.apply(console,arguments);};})();
window.__browserCheck=function(){
 var charts=document.querySelectorAll('div.chart'),drawn=0,scenes=0,scenesDrawn=0;
 charts.forEach(function(c){
  if(!c.querySelector('svg.main-svg')||c.querySelector('.no-webgl'))return;
  var fl=c._fullLayout,ids=(fl&&fl._subplots&&fl._subplots.gl3d)||[],ok=true;
  ids.forEach(function(id){scenes++;var s=fl[id]&&fl[id]._scene,cv=s&&s.glplot&&s.glplot.canvas;
   if(cv&&cv.isConnected&&cv.width>0&&cv.height>0)scenesDrawn++;else ok=false;});
  if(ok)drawn++;});
 return JSON.stringify({charts:charts.length,drawn:drawn,scenes:scenes,scenesDrawn:scenesDrawn,errors:window.__errors,height:document.documentElement.scrollHeight});
};
window.__browserCheckSettled=function(least,most,quiet){return new Promise(function(done){
 var start=Date.now(),last=null,since=start;
 (function poll(){
  var text=window.__browserCheck(),o=JSON.parse(text),now=Date.now(),state=[o.charts,o.drawn,o.scenesDrawn,o.errors.length,o.height].join('/');
  if(state!==last){last=state;since=now;}
  var all=o.charts>0&&o.drawn===o.charts;
  if(now-start>=most||(all&&now-start>=least&&now-since>=quiet))done(text);else setTimeout(poll,50);})();});};
"""

    /// When the probe reads the page, in ms after the load event: once every chart is drawn and nothing
    /// it reads (charts drawn, 3-D scenes, errors, page height) changed for settleQuiet, but not before
    /// settleLeast; at settleMost whatever the page shows (the fixed reading time of the check before).
    let private settleLeast, settleMost, settleQuiet = 300, 1500, 300

    let private flags =
        [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--disable-quic"; "--no-first-run"
          "--disable-background-networking"; "--disable-component-update"; "--disable-sync"
          "--hide-scrollbars"; "--remote-debugging-port=0" ]

    /// A minimal DevTools-protocol client over the browser's WebSocket: one command at a time,
    /// events kept until asked for.
    type private Cdp(ws: ClientWebSocket, ct: CancellationToken) =
        let mutable nextId = 0
        let events = List<JsonElement>()
        let buffer = Array.zeroCreate<byte> (1 <<< 16)

        member _.Receive() : JsonElement =
            use ms = new MemoryStream()
            let mutable fin = false
            while not fin do
                let r = ws.ReceiveAsync(ArraySegment buffer, ct).GetAwaiter().GetResult()
                if r.MessageType = WebSocketMessageType.Close then failwith "the browser closed the DevTools connection"
                ms.Write(buffer, 0, r.Count)
                fin <- r.EndOfMessage
            use doc = JsonDocument.Parse(ms.ToArray())
            doc.RootElement.Clone()

        /// Sends one command and returns its result (raises with the browser's message on error).
        member this.Call(methodName: string, parameters: obj, ?session: string) : JsonElement =
            nextId <- nextId + 1
            let id = nextId
            let msg = Dictionary<string, obj>()
            msg["id"] <- id
            msg["method"] <- methodName
            msg["params"] <- parameters
            session |> Option.iter (fun s -> msg["sessionId"] <- s)
            let bytes = JsonSerializer.SerializeToUtf8Bytes msg
            ws.SendAsync(ArraySegment bytes, WebSocketMessageType.Text, true, ct).GetAwaiter().GetResult()
            let mutable reply = None
            while reply.IsNone do
                let m = this.Receive()
                match m.TryGetProperty "id" with
                | true, i when i.GetInt32() = id -> reply <- Some m
                | _ -> if m.TryGetProperty("method") |> fst then events.Add m
            let m = reply.Value
            match m.TryGetProperty "error" with
            | true, e -> failwithf "DevTools %s failed: %s" methodName (e.GetRawText())
            | _ -> m.GetProperty "result"

        /// Waits for an event of the given name (for the given session).
        member this.WaitFor(methodName: string, session: string) : JsonElement =
            let matches (m: JsonElement) =
                m.GetProperty("method").GetString() = methodName
                && (match m.TryGetProperty "sessionId" with | true, s -> s.GetString() = session | _ -> false)
            let mutable found = None
            let i = events.FindIndex(fun m -> matches m)
            if i >= 0 then
                found <- Some events[i]
                events.RemoveAt i
            while found.IsNone do
                let m = this.Receive()
                if m.TryGetProperty("method") |> fst then
                    if matches m then found <- Some m else events.Add m
            found.Value

    /// Starts the browser with a fresh profile; returns the process, the profile folder and the
    /// DevTools WebSocket address it printed.
    let private start (browser: string) (timeout: TimeSpan) =
        let userDir = Path.Combine(Path.GetTempPath(), "research-chromium-" + Guid.NewGuid().ToString("N"))
        let psi = ProcessStartInfo(browser)
        for a in flags @ [ $"--user-data-dir={userDir}"; "about:blank" ] do psi.ArgumentList.Add a
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        let p = Process.Start psi
        let address = TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously)
        let stderr = StringBuilder()
        p.ErrorDataReceived.Add(fun e ->
            if isNull e.Data then address.TrySetResult null |> ignore
            else
                lock stderr (fun () -> stderr.AppendLine e.Data |> ignore)
                let k = e.Data.IndexOf "DevTools listening on "
                if k >= 0 then address.TrySetResult(e.Data.Substring(k + 22).Trim()) |> ignore)
        p.OutputDataReceived.Add ignore
        p.BeginErrorReadLine()
        p.BeginOutputReadLine()
        let ok = address.Task.Wait timeout
        if not ok || isNull address.Task.Result then
            (try p.Kill true with _ -> ())
            p.Dispose()
            (try Directory.Delete(userDir, true) with _ -> ())
            let text = lock stderr (fun () -> stderr.ToString().Trim())
            failwithf "headless %s did not open its DevTools endpoint%s; stderr: %s" browser
                (if ok then " (it exited)" else $" within {timeout.TotalSeconds:F0} s") text
        p, userDir, address.Task.Result

    let private stop (p: Process) (userDir: string) (closing: bool) =
        if not (closing && p.WaitForExit 10_000) then (try p.Kill true with _ -> ())
        p.WaitForExit()
        p.Dispose()
        try Directory.Delete(userDir, true) with _ -> ()

    /// Opens <paramref name="report"/> in headless Chromium (one browser start), checks its charts
    /// and console, and writes a screenshot to <paramref name="screenshot"/>: the page laid out in a
    /// width × height viewport, captured from the top to the end of the page (at least height,
    /// up to 30,000 px), as one capture of the loaded page.
    /// Raises with a clear message when no browser is installed (install Debian's `chromium`).
    let checkSized (width: int, height: int) (screenshot: string) (report: string) : BrowserCheckResult =
        if not (File.Exists report) then invalidArg (nameof report) $"report '{report}' does not exist"
        let browser =
            match tryFindBrowser () with
            | Some b -> b
            | None -> invalidOp "no Chromium found (set CHROMIUM or install Debian's package: apt-get install chromium)"
        let full = Path.GetFullPath report
        let timeout = TimeSpan.FromSeconds 240.0  // the old check allowed 120 s for each of its two browser starts
        use cts = new CancellationTokenSource(timeout)
        let p, userDir, address = start browser timeout
        let mutable closing = false
        try
            use ws = new ClientWebSocket()
            try ws.ConnectAsync(Uri address, cts.Token).GetAwaiter().GetResult()
            with e -> failwithf "headless %s: cannot connect to %s: %s" browser address e.Message
            let cdp = Cdp(ws, cts.Token)
            try
                let target = cdp.Call("Target.createTarget", {| url = "about:blank" |})
                let attached = cdp.Call("Target.attachToTarget", {| targetId = target.GetProperty("targetId").GetString(); flatten = true |})
                let session = attached.GetProperty("sessionId").GetString()
                cdp.Call("Page.enable", obj (), session) |> ignore
                cdp.Call("Page.addScriptToEvaluateOnNewDocument", {| source = probe |}, session) |> ignore
                cdp.Call("Emulation.setDeviceMetricsOverride",
                         {| width = width; height = height; deviceScaleFactor = 1; mobile = false |}, session) |> ignore
                let nav = cdp.Call("Page.navigate", {| url = Uri(full).AbsoluteUri |}, session)
                match nav.TryGetProperty "errorText" with
                | true, e when not (String.IsNullOrEmpty(e.GetString())) -> failwithf "headless %s could not open %s: %s" browser report (e.GetString())
                | _ -> ()
                cdp.WaitFor("Page.loadEventFired", session) |> ignore
                let probed =
                    cdp.Call("Runtime.evaluate",
                             {| expression = $"window.__browserCheckSettled?window.__browserCheckSettled({settleLeast},{settleMost},{settleQuiet}):null"
                                awaitPromise = true; returnByValue = true |}, session)
                let value = probed.GetProperty("result")
                let json =
                    match value.TryGetProperty "value" with
                    | true, v when v.ValueKind = JsonValueKind.String -> v.GetString()
                    | _ -> failwithf "headless %s did not report on %s (the probe did not run): %s" browser report (probed.GetRawText())
                use doc = JsonDocument.Parse json
                let root = doc.RootElement
                let errors = [ for x in root.GetProperty("errors").EnumerateArray() -> x.GetString() ]
                let shot = Path.GetFullPath screenshot
                Directory.CreateDirectory(Path.GetDirectoryName shot) |> ignore
                // the whole page when it is taller than the viewport (up to 30,000 px), so the end of a long report is in the picture
                let pageHeight = match root.TryGetProperty "height" with | true, h -> h.GetInt32() | _ -> height
                let shotHeight = max height (min 30_000 pageHeight)
                let png =
                    cdp.Call("Page.captureScreenshot",
                             {| format = "png"; captureBeyondViewport = true; optimizeForSpeed = true
                                clip = {| x = 0; y = 0; width = width; height = shotHeight; scale = 1 |} |}, session)
                File.WriteAllBytes(shot, Convert.FromBase64String(png.GetProperty("data").GetString()))
                closing <- true
                (try cdp.Call("Browser.close", obj ()) |> ignore with _ -> ())
                { Report = full
                  Browser = browser
                  Charts = root.GetProperty("charts").GetInt32()
                  ChartsDrawn = root.GetProperty("drawn").GetInt32()
                  ConsoleErrors = errors
                  Screenshot = if File.Exists shot then Some shot else None }
            with :? OperationCanceledException ->
                failwithf "%s did not finish checking %s within %.0f s" browser report timeout.TotalSeconds
        finally
            stop p userDir closing

    /// <c>checkSized</c> with a 1280×3000 window.
    let check (screenshot: string) (report: string) : BrowserCheckResult = checkSized (1280, 3000) screenshot report
