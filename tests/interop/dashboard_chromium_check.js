#!/usr/bin/env node
// Watches a live dashboard (`stampede run --dashboard`) in headless Chromium over the DevTools protocol
// (--remote-debugging-pipe as reports_chromium_check.js; no npm dependency): waits for the first figures,
// reads them, reads them again two seconds later, waits for the run's end, and saves a screenshot.
// Collects console errors, uncaught exceptions, log errors and every request to another origin.
//
//   node dashboard_chromium_check.js CHROMIUM URL OUT.png
// Prints {"errors": [...], "foreign_requests": [...], "first": {...}, "second": {...}, "ended": {...}}.
// Exits 2 on a harness failure (browser did not start, timeout).
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const [chromium, url, screenshot] = process.argv.slice(2);
if (!chromium || !url || !screenshot) {
  process.stderr.write("usage: dashboard_chromium_check.js CHROMIUM URL OUT.png\n");
  process.exit(2);
}
const origin = new URL(url).origin;

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

function cleanup() {
  try { browser.kill("SIGKILL"); } catch (e) { /* already gone */ }
  try { fs.rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
}

const deadline = setTimeout(() => {
  process.stderr.write("timeout\n");
  cleanup();
  process.exit(2);
}, 45000);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const errors = [];
  const foreign = [];
  let loaded;
  const load_fired = new Promise((resolve) => { loaded = resolve; });
  listeners.push((m) => {
    if (m.method === "Runtime.exceptionThrown") errors.push("exception: " + JSON.stringify(m.params.exceptionDetails.text + " " + (m.params.exceptionDetails.exception || {}).description));
    if (m.method === "Runtime.consoleAPICalled" && (m.params.type === "error" || m.params.type === "assert")) {
      errors.push("console." + m.params.type + ": " + JSON.stringify(m.params.args.map((a) => a.value)));
    }
    if (m.method === "Log.entryAdded" && m.params.entry.level === "error") errors.push("log: " + m.params.entry.text);
    if (m.method === "Network.requestWillBeSent") {
      const u = m.params.request.url;
      if (!u.startsWith(origin + "/") && !u.startsWith("data:")) foreign.push(u);
    }
    if (m.method === "Page.loadEventFired") loaded();
  });
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  for (const domain of ["Page", "Runtime", "Log", "Network"]) await send(domain + ".enable", {}, sessionId);
  await send("Emulation.setDeviceMetricsOverride", { width: 1100, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
  await send("Page.navigate", { url }, sessionId);
  await load_fired;
  const evaluate = async (expr) => (await send("Runtime.evaluate", { expression: expr, returnByValue: true }, sessionId)).result.value;
  // What the page shows now: the tiles' figures, the charts' polylines and fault bands, the tables' rows.
  const figures = () => evaluate(`(() => {
    const tiles = {};
    for (const t of document.querySelectorAll('#tiles .tile')) tiles[t.querySelector('span').textContent] = t.querySelector('b').textContent;
    const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tr')).slice(1).map((r) => Array.from(r.cells).map((c) => c.textContent));
    return { status: document.getElementById('status').textContent, tiles,
      polylines: document.querySelectorAll('#charts svg polyline').length,
      points: Array.from(document.querySelectorAll('#chart-throughput polyline')).map((p) => p.getAttribute('points').trim().split(' ').length),
      fault_bands: document.querySelectorAll('#charts svg g.fault').length,
      thresholds: rows('thresholds'), steps: rows('steps'), faults: rows('faults'), errors: rows('errors'),
      ended: document.getElementById('ended').style.display === 'block' ? document.getElementById('outcome').textContent : null,
      links: Array.from(document.querySelectorAll('#links a')).map((a) => a.getAttribute('href')) };
  })()`);
  let first = await figures();
  while (!first.tiles.requests || first.tiles.requests === "0") {
    await sleep(200);
    first = await figures();
  }
  await sleep(2000);
  const second = await figures();
  let ended = await figures();
  while (ended.ended === null) {
    await sleep(250);
    ended = await figures();
  }
  const height = await evaluate("document.documentElement.scrollHeight");
  const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: 1100, height: Math.min(height, 6000), scale: 1 } }, sessionId);
  fs.writeFileSync(screenshot, Buffer.from(shot.data, "base64"));
  await sleep(500);  // errors after the end (a reconnection to a server that is gone) would show here
  await send("Browser.close").catch(() => {});
  process.stdout.write(JSON.stringify({ errors, foreign_requests: foreign, first, second, ended }) + "\n");
}

main().then(() => {
  clearTimeout(deadline);
  cleanup();
  process.exit(0);
}).catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  cleanup();
  process.exit(2);
});
