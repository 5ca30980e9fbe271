#!/usr/bin/env node
// Reads a stampede .hlog with hdr-histogram-js's HistogramLogReader (an independent port of the Java
// reader), adds the interval histograms per tag, and prints per tag: count, min, max, and the value at the
// percentiles given. Driven by tests/reports/reports_hlog_interop_test.cpp.
//
//   node reports_hlog_check.js FILE.hlog 50,90,99,99.9
// Prints {"<tag or NO TAG>": {"count": n, "max": v, "intervals": k, "start_ms": t, "percentiles": {"50": v}}}
"use strict";

const fs = require("fs");
const hdr = require("hdr-histogram-js");

const [file, list] = process.argv.slice(2);
const percentiles = (list || "50,90,99").split(",").map(Number);
const content = fs.readFileSync(file, "utf8");
const reader = new hdr.HistogramLogReader(content, 64);
const totals = new Map();
for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
  const tag = h.tag || "NO TAG";
  if (!totals.has(tag)) {
    totals.set(tag, { sum: hdr.build({ bitBucketSize: 64, numberOfSignificantValueDigits: 3,
                                        highestTrackableValue: 3600000000 }),
                      intervals: 0, start_ms: h.startTimeStampMsec });
  }
  const t = totals.get(tag);
  t.sum.add(h);
  t.intervals += 1;
  t.start_ms = Math.min(t.start_ms, h.startTimeStampMsec);
}
const out = {};
for (const [tag, t] of totals) {
  const p = {};
  for (const q of percentiles) p[String(q)] = t.sum.getValueAtPercentile(q);
  out[tag] = { count: t.sum.totalCount, max: t.sum.getValueAtPercentile(100), intervals: t.intervals,
               start_ms: t.start_ms, percentiles: p };
}
process.stdout.write(JSON.stringify(out) + "\n");
