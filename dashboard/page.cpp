// The dashboard's page: the HTML report's stylesheet and layout (tiles, "Over time" charts, tables), filled
// by a small inline script from /events. Text from the run goes in with textContent; the charts are the
// report's SVG, escaped by the server (reports/svg_chart.cpp).
#include "dashboard/server.h"
#include "reports/svg_chart.h"

namespace stampede::dashboard {

namespace {

const char* const page_css = R"css(
.live{display:inline-block;width:9px;height:9px;border-radius:50%;background:var(--ok);margin-right:6px;
 animation:pulse 1s infinite alternate}.live.off{background:var(--muted);animation:none}
@keyframes pulse{from{opacity:1}to{opacity:.35}}
td.pending{color:var(--warn);font-weight:600}
#ended{display:none}
)css";

const char* const page_body = R"html(<main>
<h1><span id="live" class="live"></span>stampede live: <span id="title"></span></h1>
<div class="meta" id="status">waiting for the first second of the load…</div>
<div id="ended" class="verdict"><strong id="outcome"></strong><span id="links"></span></div>
<div class="tiles" id="tiles"></div>
<h2>Over time</h2>
<div id="charts"><p><small>The charts start with the first second of the load.</small></p></div>
<div id="shards-box" style="display:none"><h2>Shards</h2>
<table id="shards"><tr><th class="name">shard</th><th class="name">agent</th><th class="name">state</th><th class="name">detail</th></tr></table></div>
<h2>Thresholds</h2>
<table id="thresholds"><tr><th></th><th class="name">metric</th><th class="name">threshold</th><th>now</th></tr></table>
<h2>Errors by kind</h2>
<table id="errors"><tr><th class="name">kind</th><th>count</th></tr></table>
<h2>Faults</h2>
<table id="faults"><tr><th class="name">fault</th><th>start (s)</th><th>end (s)</th></tr></table>
<h2>Steps</h2>
<p><small>Latency in ms from the intended send time (corrected for coordinated omission), since the start.</small></p>
<table id="steps"><tr><th class="name">step</th><th>requests</th><th>req/s</th><th>p50</th><th>p90</th><th>p95</th>
<th>p99</th><th>max</th><th>errors</th></tr></table>
<footer>stampede live dashboard · updated every second from the run's per-second view</footer>
</main>
)html";

const char* const page_script = R"js(
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const ms = (v) => {
    if (v === null || v === undefined || !isFinite(v)) return '-';
    const a = Math.abs(v);
    if (a === 0) return '0';
    return a < 1 ? v.toFixed(3) : a < 10 ? v.toFixed(2) : a < 100 ? v.toFixed(1) : v.toFixed(0);
  };
  const cell = (text, cls) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  // Keeps a table's header row, replaces the rest.
  const fill = (table, rows, empty) => {
    while (table.rows.length > 1) table.deleteRow(1);
    if (rows.length === 0 && empty) {
      const td = cell(empty, 'name');
      td.colSpan = table.rows[0].cells.length;
      rows = [[td]];
    }
    for (const cells of rows) {
      const tr = table.insertRow();
      for (const td of cells) tr.appendChild(td);
    }
  };
  const tile = (value, label) => {
    const d = document.createElement('div');
    d.className = 'tile';
    const b = document.createElement('b');
    b.textContent = value;
    const s = document.createElement('span');
    s.textContent = label;
    d.append(b, s);
    return d;
  };
  function show(e) {
    $('title').textContent = e.title;
    document.title = 'stampede live: ' + e.title;
    const t = e.totals;
    const last = e.last_second && e.last_second.requests > 0 ? e.last_second : null;  // latencies need responses
    if (e.second >= 0) {
      const planned = e.planned_duration_s > 0 ? ' of ' + e.planned_duration_s.toFixed(0) + ' s planned' : '';
      $('status').textContent = 'run ' + e.run_id + ' · ' + e.elapsed_s.toFixed(1) + ' s' + planned + ' · second ' + e.second;
    }
    $('tiles').replaceChildren(
      tile(String(t.requests), 'requests'),
      tile(e.last_second ? String(e.last_second.requests) : '-', 'requests/s (last second)'),
      tile((100 * t.error_rate).toFixed(2) + '%', 'error rate'),
      tile(last ? ms(last.latency_ms.p50) + ' ms' : '-', 'p50 latency (last second)'),
      tile(last ? ms(last.latency_ms.p99) + ' ms' : '-', 'p99 latency (last second)'),
      tile(ms(t.latency_ms.p99) + ' ms', 'p99 latency (so far)'),
      tile(String(t.vus), 'active VUs'),
      tile(String(t.vus_max), 'max VUs'));
    if (e.charts) $('charts').innerHTML = e.charts;
    fill($('thresholds'), e.thresholds.map((th) => [
      cell(th.state === 'pass' ? '✓' : th.state === 'fail' ? '✗' : '…', th.state === 'pass' ? 'ok' : th.state === 'fail' ? 'bad' : 'pending'),
      cell(th.metric, 'name'),
      cell(th.expression + (th.abort_on_fail ? ' (abortOnFail)' : ''), 'name'),
      cell(th.observed === null ? 'no data yet' : ms(th.observed))]), 'no thresholds');
    $('shards-box').style.display = e.shards.length > 0 ? 'block' : 'none';
    fill($('shards'), e.shards.map((s) => [cell(String(s.shard), 'name'), cell(s.agent || '-', 'name'),
      cell(s.state, s.state === 'lost' ? 'bad' : s.state === 'waiting' ? 'pending' : s.state === 'done' ? 'ok' : 'name'),
      cell(s.detail, 'name')]));
    fill($('errors'), Object.entries(e.errors_by_kind).map(([k, n]) => [cell(k, 'name'), cell(String(n))]), 'no errors');
    fill($('faults'), e.faults.map((f) => [cell(f.label, 'name'), cell(f.start_s.toFixed(1)),
      cell(f.end_s === null ? 'active' : f.end_s.toFixed(1))]), 'no faults');
    fill($('steps'), e.steps.map((s) => [cell(s.name, 'name'), cell(String(s.requests)), cell(s.rps.toFixed(1)),
      cell(ms(s.latency_ms.p50)), cell(ms(s.latency_ms.p90)), cell(ms(s.latency_ms.p95)), cell(ms(s.latency_ms.p99)),
      cell(ms(s.latency_ms.max)), cell(String(s.errors), s.errors > 0 ? 'bad' : '')]));
    if (e.ended) {
      $('live').className = 'live off';
      const box = $('ended');
      box.style.display = 'block';
      box.className = 'verdict ' + (e.ended.ok ? 'ok' : 'bad');
      $('outcome').textContent = 'The run ended: ' + e.ended.outcome;
      const links = $('links');
      links.replaceChildren();
      const add = (label, path) => {
        if (!path) return;
        const a = document.createElement('a');
        a.href = 'file://' + encodeURI(path);
        a.textContent = path;
        a.style.color = '#fff';
        links.append(label, a, document.createElement('br'));
      };
      add('Report: ', e.ended.report);
      add('Results: ', e.ended.results);
      if (!e.ended.report && !e.ended.results) links.append('No report was written (--report DIR, --out FILE).');
    }
  }
  const source = new EventSource('events');
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    show(e);
    if (e.ended) source.close();  // the server goes away with the run
  };
})();
)js";

}  // namespace

std::string page_html() {
  std::string h =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; connect-src 'self'; "
      "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
      "<link rel=\"icon\" href=\"data:,\">\n<title>stampede live</title>\n<style>";
  h += reports::report_css;
  h += page_css;
  h += "</style></head><body>\n";
  h += page_body;
  h += "<script>";
  h += page_script;
  h += "</script>\n</body></html>\n";
  return h;
}

}  // namespace stampede::dashboard
