#!/usr/bin/env node
// Interop check of stampede::hdr_histogram's V2 compressed encoding against an independent
// implementation, hdr-histogram-js (a port of the Java reference). Driven by
// tests/common/hdr_interop_test.cpp; runnable by hand too.
//
//   node hdr_interop.js check < cases.json
//       cases.json: [{name, base64, total_count, min, max, percentiles: [[p, value], ...]}, ...]
//       produced by our encoder. Decodes each with hdr-histogram-js and compares. Prints a JSON report
//       {checked, failures: [...]} and exits 1 if anything differs.
//   node hdr_interop.js generate
//       Builds histograms with hdr-histogram-js from seeded data and prints
//       [{name, base64, total_count, min, max, mean, stddev, percentiles, hgrm_csv}, ...]
//       for our decoder to check (hgrm_csv: Java's percentile distribution, value scale 1).
"use strict";

const hdr = require("hdr-histogram-js");

const percentiles_to_check = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100];

function min_of(h) {
  if (h.totalCount === 0 || h.getCountAtIndex(0) > 0) return 0;
  return h.lowestEquivalentValue(h.minNonZeroValue);
}

// The top of the highest non-empty bucket. Not from h.maxValue: hdr-histogram-js 3.0.1 stores
// maxValue + unitMagnitudeMask (Java ORs the mask), which overshoots into the next bucket when
// lowestDiscernibleValue > 1. The 100th percentile is the same quantity, computed from the counts.
function max_of(h) {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(100);
}

function read_stdin() {
  return require("fs").readFileSync(0, "utf8");
}

function check() {
  const cases = JSON.parse(read_stdin());
  const failures = [];
  for (const c of cases) {
    let h;
    try {
      // 64-bit buckets: counts above 2^32 must survive (exact up to 2^53 in a JS number).
      h = hdr.decodeFromCompressedBase64(c.base64, 64, false);
    } catch (e) {
      failures.push({ name: c.name, what: "decode threw", detail: String(e) });
      continue;
    }
    const compare = (what, got, want) => {
      if (got !== want) failures.push({ name: c.name, what, got, want });
    };
    compare("total_count", h.totalCount, c.total_count);
    compare("min", min_of(h), c.min);
    compare("max", max_of(h), c.max);
    for (const [p, want] of c.percentiles) {
      compare("p" + p, h.getValueAtPercentile(p), want);
    }
  }
  process.stdout.write(JSON.stringify({ checked: cases.length, failures }) + "\n");
  process.exit(failures.length === 0 ? 0 : 1);
}

// Deterministic 32-bit LCG so both sides of the test see the same data on every run.
function lcg(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

function generate() {
  const make = (lowest, highest, digits) =>
    hdr.build({
      bitBucketSize: 64,
      autoResize: false,
      lowestDiscernibleValue: lowest,
      highestTrackableValue: highest,
      numberOfSignificantValueDigits: digits,
    });
  const cases = [];
  const add = (name, h) => {
    cases.push({
      name,
      base64: hdr.encodeIntoCompressedBase64(h),
      total_count: h.totalCount,
      min: min_of(h),
      max: max_of(h),
      mean: h.mean,
      stddev: h.getStdDeviation(),
      percentiles: percentiles_to_check.map((p) => [p, h.getValueAtPercentile(p)]),
      hgrm_csv: h.outputPercentileDistribution(5, 1, true),
    });
  };

  {
    // Latency-like: exponential body with a heavy tail, microseconds up to 1 h.
    const h = make(1, 3600000000, 3);
    const rnd = lcg(1);
    for (let i = 0; i < 50000; i++) {
      const v = Math.floor(-Math.log(1 - rnd()) * 2000) + 1;
      h.recordValue(rnd() < 0.01 ? v * 1000 : v);
    }
    add("latency_us_3digits", h);
  }
  {
    const h = make(1, 1e12, 2);
    for (let v = 1; v < 1e12; v *= 7) h.recordValue(v);
    add("sparse_2digits", h);
  }
  {
    const h = make(1, 3600000000, 3);
    add("empty", h);
  }
  {
    const h = make(1, 3600000000, 3);
    h.recordValueWithCount(5, 2 ** 40);
    h.recordValueWithCount(123456789, 2 ** 45 + 3);
    h.recordValue(0);
    add("huge_counts", h);
  }
  {
    const h = make(1000, 60000000000, 5);
    const rnd = lcg(7);
    for (let i = 0; i < 20000; i++) h.recordValue(1000 + Math.floor(rnd() * 5e9));
    add("five_digits_unit_1000", h);
  }
  process.stdout.write(JSON.stringify(cases) + "\n");
}

const mode = process.argv[2];
if (mode === "check") {
  check();
} else if (mode === "generate") {
  generate();
} else if (mode === "--selftest") {
  // Round trip within hdr-histogram-js, to show the package itself is installed and working.
  const h = hdr.build({ bitBucketSize: 64, autoResize: false, highestTrackableValue: 3600000000 });
  h.recordValue(1234);
  const back = hdr.decodeFromCompressedBase64(hdr.encodeIntoCompressedBase64(h), 64, false);
  const ok = back.totalCount === 1 && back.getValueAtPercentile(50) === h.getValueAtPercentile(50);
  console.log(ok ? "1 passed, 0 failed" : "0 passed, 1 failed");
  process.exit(ok ? 0 : 1);
} else {
  process.stderr.write("usage: node hdr_interop.js check < cases.json | generate | --selftest\n");
  process.exit(2);
}
