// The one headless-Chromium harness of the browser checks (reports_chromium_check.js,
// dashboard_chromium_check.js): starts Chromium with --remote-debugging-pipe (fd 3 to the browser, fd 4 from
// it, NUL-delimited JSON; no npm dependency), opens a page at 1100 px wide, collects console errors, uncaught
// exceptions, log errors and every requested URL, and saves screenshots. A harness failure (the browser did
// not start, a timeout) exits 2.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const width = 1100;

// Runs `body(page)` against a fresh headless Chromium and prints its result as one JSON line; exits 0, or 2
// on a harness failure or after `timeout_ms`. `page` has: open(url), evaluate(expr), screenshot(file),
// errors (array), requests (array of URLs), sleep(ms).
function run_check(chromium, timeout_ms, body) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stampede-chromium-"));
  const browser = spawn(chromium, [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank",
  ], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });

  const to_browser = browser.stdio[3];
  const from_browser = browser.stdio[4];
  let next_id = 1;
  const pending = new Map();
  const listeners = [];
  let buffer = Buffer.alloc(0);

  from_browser.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (let end = buffer.indexOf(0); end >= 0; end = buffer.indexOf(0)) {
      const message = JSON.parse(buffer.subarray(0, end).toString("utf8"));
      buffer = buffer.subarray(end + 1);
      if (message.id && pending.has(message.id)) {
        const { resolve, reject } = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) reject(new Error(JSON.stringify(message.error)));
        else resolve(message.result);
      } else {
        for (const listener of listeners) listener(message);
      }
    }
  });

  function send(method, params = {}, sessionId = undefined) {
    const id = next_id++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    to_browser.write(JSON.stringify(message) + "\0");
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  // Exits once the browser is gone and its profile removed: removing the profile while Chromium (or a child
  // of it) still writes there left a stampede-chromium-* directory behind after every check.
  function finish(code) {
    let finished = false;
    const remove_and_exit = () => {
      if (finished) return;
      finished = true;
      try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch (e) { /* best effort */ }
      process.exit(code);
    };
    if (browser.exitCode !== null || browser.signalCode !== null) return remove_and_exit();
    browser.once("exit", () => setTimeout(remove_and_exit, 200));  // its children close their files too
    if (code !== 0) browser.kill("SIGKILL");
    else setTimeout(() => browser.kill("SIGKILL"), 2000);  // Browser.close was sent: let it exit
    setTimeout(remove_and_exit, 5000);
  }

  const deadline = setTimeout(() => {
    process.stderr.write("timeout\n");
    finish(2);
  }, timeout_ms);

  async function main() {
    const errors = [];
    const requests = [];
    let loaded = () => {};
    listeners.push((m) => {
      if (m.method === "Runtime.exceptionThrown") errors.push("exception: " + JSON.stringify(m.params.exceptionDetails.text + " " + (m.params.exceptionDetails.exception || {}).description));
      if (m.method === "Runtime.consoleAPICalled" && (m.params.type === "error" || m.params.type === "assert")) {
        errors.push("console." + m.params.type + ": " + JSON.stringify(m.params.args.map((a) => a.value)));
      }
      if (m.method === "Log.entryAdded" && m.params.entry.level === "error") errors.push("log: " + m.params.entry.text);
      if (m.method === "Network.requestWillBeSent") requests.push(m.params.request.url);
      if (m.method === "Page.loadEventFired") loaded();
    });
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await send(domain + ".enable", {}, sessionId);
    await send("Emulation.setDeviceMetricsOverride", { width, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
    const evaluate = async (expression) =>
      (await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId)).result.value;
    const page = {
      errors,
      requests,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      evaluate,
      async open(url) {
        const load_fired = new Promise((resolve) => { loaded = resolve; });
        await send("Page.navigate", { url }, sessionId);
        await load_fired;
      },
      async screenshot(file) {
        const height = await evaluate("document.documentElement.scrollHeight");
        const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true,
          clip: { x: 0, y: 0, width, height: Math.min(height, 6000), scale: 1 } }, sessionId);
        fs.writeFileSync(file, Buffer.from(shot.data, "base64"));
        return height;
      },
    };
    const result = await body(page);
    await send("Browser.close").catch(() => {});
    process.stdout.write(JSON.stringify(result) + "\n");
  }

  main().then(() => {
    clearTimeout(deadline);
    finish(0);
  }).catch((e) => {
    process.stderr.write(String(e && e.stack || e) + "\n");
    finish(2);
  });
}

module.exports = { run_check };
