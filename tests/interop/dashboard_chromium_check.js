#!/usr/bin/env node
// Watches a live dashboard (`stampede run --dashboard`, `stampede coordinate --dashboard`) in headless
// Chromium (chromium_harness.js): waits for the first figures, reads them, reads them again two seconds
// later, waits for the run's end, and saves a screenshot. Collects console errors, uncaught exceptions, log
// errors and every request to another origin.
//
//   node dashboard_chromium_check.js CHROMIUM URL OUT.png
// Prints {"errors": [...], "foreign_requests": [...], "first": {...}, "second": {...}, "ended": {...}}.
// Exits 2 on a harness failure (browser did not start, timeout).
"use strict";

const { run_check } = require("./chromium_harness.js");

const [chromium, url, screenshot] = process.argv.slice(2);
if (!chromium || !url || !screenshot) {
  process.stderr.write("usage: dashboard_chromium_check.js CHROMIUM URL OUT.png\n");
  process.exit(2);
}
const origin = new URL(url).origin;

run_check(chromium, 45000, async (page) => {
  await page.open(url);
  // What the page shows now: the tiles' figures, the charts' polylines and fault bands, the tables' rows.
  const figures = () => page.evaluate(`(() => {
    const tiles = {};
    for (const t of document.querySelectorAll('#tiles .tile')) tiles[t.querySelector('span').textContent] = t.querySelector('b').textContent;
    const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tr')).slice(1).map((r) => Array.from(r.cells).map((c) => c.textContent));
    return { status: document.getElementById('status').textContent, tiles,
      polylines: document.querySelectorAll('#charts svg polyline').length,
      points: Array.from(document.querySelectorAll('#chart-throughput polyline')).map((p) => p.getAttribute('points').trim().split(' ').length),
      fault_bands: document.querySelectorAll('#charts svg g.fault').length,
      thresholds: rows('thresholds'), steps: rows('steps'), faults: rows('faults'), errors: rows('errors'),
      shards: document.getElementById('shards-box').style.display === 'block' ? rows('shards') : [],
      ended: document.getElementById('ended').style.display === 'block' ? document.getElementById('outcome').textContent : null,
      links: Array.from(document.querySelectorAll('#links a')).map((a) => a.getAttribute('href')) };
  })()`);
  let first = await figures();
  while (!first.tiles.requests || first.tiles.requests === "0") {
    await page.sleep(200);
    first = await figures();
  }
  await page.sleep(2000);
  const second = await figures();
  let ended = await figures();
  while (ended.ended === null) {
    await page.sleep(250);
    ended = await figures();
  }
  await page.screenshot(screenshot);
  await page.sleep(500);  // errors after the end (a reconnection to a server that is gone) would show here
  const foreign_requests = page.requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:"));
  return { errors: page.errors, foreign_requests, first, second, ended };
});
