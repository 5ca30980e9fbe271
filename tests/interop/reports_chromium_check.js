#!/usr/bin/env node
// Loads an HTML report in headless Chromium (chromium_harness.js), collects console errors, uncaught
// exceptions, failed requests and log errors, counts the charts, and saves a screenshot.
//
//   node reports_chromium_check.js CHROMIUM PAGE.html OUT.png
// Prints {"errors": [...], "requests": [...], "svg": n, "polylines": n, "fault_bands": n, "title": "..."}.
// Exits 2 on a harness failure (browser did not start, timeout).
"use strict";

const path = require("path");
const { run_check } = require("./chromium_harness.js");

const [chromium, report, screenshot] = process.argv.slice(2);
if (!chromium || !report || !screenshot) {
  process.stderr.write("usage: reports_chromium_check.js CHROMIUM PAGE.html OUT.png\n");
  process.exit(2);
}

run_check(chromium, 30000, async (page) => {
  await page.open("file://" + path.resolve(report));
  const result = {
    errors: page.errors,
    requests: page.requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:")),
    svg: await page.evaluate("document.querySelectorAll('svg').length"),
    polylines: await page.evaluate("document.querySelectorAll('svg polyline').length"),
    fault_bands: await page.evaluate("document.querySelectorAll('svg g.fault').length"),
    title: await page.evaluate("document.title"),
  };
  result.height = await page.screenshot(screenshot);
  return result;
});
