/* tokentrail dashboard: charts (plotly.js, served by tokentrail itself), the range picker and the query console. */
"use strict";
(function () {
  const PALETTE = ["#0b57d0", "#e8710a", "#1a7f37", "#b3261e", "#8250df", "#9a6700", "#0a7d8c", "#c2185b", "#57606a"];
  const NAMES = {
    cost_usd: "cost (USD)", calls: "requests", input_tokens: "input", output_tokens: "output",
    cache_read_tokens: "cache read", latency_p50_ms: "latency p50", latency_p95_ms: "latency p95",
    latency_p99_ms: "latency p99", ttft_p50_ms: "TTFT p50", ttft_p95_ms: "TTFT p95",
  };
  const requests = new Map();
  const money2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const money4 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  const usd = (v) => (v === null || v === undefined ? "–" : "$" + (Math.abs(v) >= 1 ? money2 : money4).format(v));
  const label = (key) => NAMES[key] || key.replace(/^errors_/, "").replace(/_/g, " ");
  const shown = (v) => (v === null || v === undefined || v === "" ? "(none)" : String(v));

  function node(tag, props, ...children) {
    const n = document.createElement(tag);
    Object.assign(n, props || {});
    n.append(...children);
    return n;
  }

  function getJSON(url) {
    if (!requests.has(url)) {
      requests.set(url, fetch(url, { headers: { Accept: "application/json" } }).then(async (r) => {
        const body = await r.json();
        if (!r.ok) throw new Error(body.error || r.statusText);
        return body;
      }));
    }
    return requests.get(url);
  }

  function plot(el, traces, layout) {
    const grid = { gridcolor: "#eaeef2", automargin: true };
    const base = {
      margin: { l: 56, r: 12, t: 8, b: 36 }, colorway: PALETTE, showlegend: traces.length > 1,
      font: { family: "system-ui, sans-serif", size: 12, color: "#1b1f24" }, legend: { orientation: "h", y: -0.25 },
      xaxis: Object.assign({}, grid, layout.xaxis), yaxis: Object.assign({ rangemode: "tozero" }, grid, layout.yaxis),
    };
    el.textContent = "";
    const config = { displaylogo: false, responsive: true, displayModeBar: false };
    return window.Plotly.newPlot(el, traces, Object.assign({}, layout, base), config)
      .then(() => { el.dataset.rendered = "true"; });
  }

  function note(el, text, state) {
    el.dataset.rendered = state;
    el.replaceChildren(node("p", { className: state === "error" ? "chart-error" : "loading", textContent: text }));
  }

  function timeChart(el) {
    return getJSON(el.dataset.src).then((data) => {
      let keys = el.dataset.series.split(",");
      if (keys[0].endsWith("*")) {
        const prefix = keys[0].slice(0, -1);
        keys = Object.keys(data.series).filter((k) => k.startsWith(prefix) && data.series[k].some((v) => v));
        if (!keys.length) return note(el, "No errors in this range.", "empty");
      }
      const kind = el.dataset.chart;
      const traces = keys.map((k) => ({
        x: data.t, y: data.series[k], name: label(k), type: kind === "line" ? "scatter" : "bar",
        mode: "lines+markers", marker: { size: 3 },  // markers keep lone buckets visible between gaps
      }));
      const bands = firingBands(el);
      return plot(el, traces, { barmode: kind === "stack" ? "stack" : "group", xaxis: { type: "date" }, shapes: bands })
        .then(() => { el.dataset.firingBands = String(bands.length); });
    }).catch((e) => note(el, "Could not load the chart: " + e.message, "error"));
  }

  /* Alert firings of the range (the overview's data-firings), shaded from fired_at to resolved_at. */
  function firingBands(el) {
    const holder = el.closest("[data-firings]");
    const firings = holder ? JSON.parse(holder.dataset.firings) : [];
    return firings.map((f) => ({
      type: "rect", xref: "x", yref: "paper", x0: f.from, x1: f.to, y0: 0, y1: 1, layer: "below",
      fillcolor: f.severity === "critical" ? "rgba(179, 38, 30, 0.18)" : "rgba(232, 113, 10, 0.16)", line: { width: 0 },
    }));
  }

  function filterLink(dim, value) {
    const q = new URLSearchParams(location.search);
    q.set(dim, value);
    q.delete("offset");
    return node("a", { href: location.pathname + "?" + q, textContent: value });
  }

  function breakdownTable(dim, rows) {
    const total = rows.reduce((s, r) => s + (r.cost_usd || 0), 0);
    const head = node("tr", {}, node("th", { scope: "col", textContent: dim.replace(/_/g, " ") }),
      ...["Cost", "Requests", "Share of cost"].map((t) => node("th", { scope: "col", className: "num", textContent: t })));
    const body = rows.map((r) => node("tr", {},
      node("th", { scope: "row" }, r.value === null ? "(none)" : filterLink(dim, r.value)),
      node("td", { className: "num", textContent: usd(r.cost_usd) }),
      node("td", { className: "num", textContent: count.format(r.calls) }),
      node("td", { className: "num", textContent: total ? ((100 * (r.cost_usd || 0)) / total).toFixed(1) + "%" : "–" })));
    return node("table", { className: "data compact" }, node("thead", {}, head), node("tbody", {}, ...body));
  }

  function breakdown(el) {
    const dim = el.dataset.breakdown;
    return getJSON(el.dataset.src).then((data) => {
      const rows = data.dims[dim] || [];
      document.querySelector(`[data-breakdown-table="${dim}"]`).replaceChildren(breakdownTable(dim, rows));
      if (!rows.length) return note(el, "No calls in this range.", "empty");
      const useCost = rows.some((r) => r.cost_usd);
      const top = rows.slice().reverse();
      const trace = {
        type: "bar", orientation: "h", y: top.map((r) => shown(r.value)), marker: { color: PALETTE[0] },
        x: top.map((r) => (useCost ? r.cost_usd : r.calls)), name: useCost ? "cost (USD)" : "requests",
      };
      return plot(el, [trace], { margin: { l: 110 }, yaxis: { type: "category" }, xaxis: { title: { text: trace.name } } });
    }).catch((e) => note(el, "Could not load the breakdown: " + e.message, "error"));
  }

  function compareChart(el) {
    return getJSON(el.dataset.src).then((data) => {
      const traces = el.dataset.compare.split(",").map((k) => ({
        type: "bar", name: label(k), x: data.rows.map((r) => shown(r.value)), y: data.rows.map((r) => r[k]),
      }));
      return plot(el, traces, { barmode: "group", xaxis: { type: "category" } });
    }).catch((e) => note(el, "Could not load the chart: " + e.message, "error"));
  }

  /* ---- experiments: /api/experiments/{name} → variants with intervals; .../timeline → the metric over time */

  function intervalChart(el) {
    return getJSON(el.dataset.src).then((data) => {
      const rows = data.variants.filter((v) => v.estimate !== null);
      if (!rows.length) return note(el, "No values for this metric.", "empty");
      const gap = (a, b) => (a === null || b === null ? 0 : a - b);
      const trace = {
        type: "scatter", mode: "markers", x: rows.map((v) => v.variant), y: rows.map((v) => v.estimate),
        marker: { size: 10, color: PALETTE[0] }, name: data.stat,
        error_y: { type: "data", symmetric: false, array: rows.map((v) => gap(v.ci_high, v.estimate)),
          arrayminus: rows.map((v) => gap(v.estimate, v.ci_low)), thickness: 2, width: 12 },
      };
      return plot(el, [trace], { xaxis: { type: "category" }, yaxis: { rangemode: "normal" } });
    }).catch((e) => note(el, "Could not load the chart: " + e.message, "error"));
  }

  function variantTimeline(el) {
    return getJSON(el.dataset.src).then((data) => {
      const names = Object.keys(data.series);
      if (!data.t.length) return note(el, "No calls.", "empty");
      const traces = names.map((n) => ({ type: "scatter", mode: "lines+markers", name: n, x: data.t, y: data.series[n] }));
      return plot(el, traces, { xaxis: { type: "date" } });
    }).catch((e) => note(el, "Could not load the chart: " + e.message, "error"));
  }

  function rangePicker(select) {
    const custom = select.form.querySelector("[data-custom-range]");
    const sync = () => {
      custom.hidden = select.value !== "custom";
      custom.querySelectorAll("input").forEach((i) => { i.disabled = custom.hidden; });
    };
    select.addEventListener("change", sync);
    sync();
  }

  /* ---- query console: POST /api/query {query, start, end} → {columns: [{name, type}], rows} or 400 {error, line, column, hint} */

  function cell(value) {
    if (typeof value === "number") {
      const text = Number.isInteger(value) ? count.format(value) : String(+value.toPrecision(8));
      return node("td", { className: "num", textContent: text, title: String(value) });
    }
    const text = value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    return node("td", { textContent: text });
  }

  function resultTable(result) {
    const head = node("tr", {}, ...result.columns.map((c) => node("th", { scope: "col", textContent: c.name, title: c.type })));
    const rows = result.rows.map((row) => node("tr", {}, ...row.map(cell)));
    return node("table", { className: "data", id: "query-result" }, node("thead", {}, head), node("tbody", {}, ...rows));
  }

  /* Which chart the column types allow: a timestamp (or bin) column and numbers → "line" (one line per value
     of a single string column, if any); one string column and numbers → "bar"; anything else → table only. */
  function shape(result) {
    const idx = result.columns.map((_, i) => i);
    const of = (...types) => idx.filter((i) => types.includes(result.columns[i].type));
    const time = of("timestamp")[0];
    const strings = of("string");
    const peak = (i) => Math.max(0, ...result.rows.map((r) => Math.abs(r[i] || 0)));
    const all = of("integer", "float");
    // one scale: columns within 10x of the first numeric column (the table shows them all)
    const nums = all.filter((i) => peak(i) <= 10 * peak(all[0]) && peak(i) >= peak(all[0]) / 10);
    const category = strings.length === 1 ? strings[0] : undefined;
    let kind = "none";
    if (nums.length && time !== undefined && strings.length <= 1) kind = "line";
    else if (nums.length && time === undefined && category !== undefined) kind = "bar";
    return { kind, time, nums, category };
  }

  function lineTraces(result, s) {
    if (s.category === undefined) {
      return s.nums.map((i) => ({ type: "scatter", mode: "lines+markers", name: result.columns[i].name,
        x: result.rows.map((r) => r[s.time]), y: result.rows.map((r) => r[i]) }));
    }
    const groups = new Map();
    result.rows.forEach((r) => {
      const key = shown(r[s.category]);
      if (!groups.has(key)) groups.set(key, { type: "scatter", mode: "lines+markers", name: key, x: [], y: [] });
      groups.get(key).x.push(r[s.time]);
      groups.get(key).y.push(r[s.nums[0]]);
    });
    return [...groups.values()];
  }

  function resultChart(result) {
    const card = document.getElementById("query-chart-card");
    const el = document.getElementById("query-chart");
    const s = shape(result);
    el.dataset.kind = s.kind;
    card.hidden = !result.rows.length || s.kind === "none" || !window.Plotly;
    if (card.hidden) return;
    let traces;
    if (s.kind === "line") {
      traces = lineTraces(result, s);
    } else {
      const x = result.rows.map((r) => shown(r[s.category]));
      traces = s.nums.map((i) => ({ type: "bar", name: result.columns[i].name, x, y: result.rows.map((r) => r[i]) }));
    }
    document.getElementById("query-chart-caption").textContent = (s.kind === "line" ? "Line chart" : "Bar chart") + " of the result";
    plot(el, traces, { barmode: "group", xaxis: { type: s.kind === "line" ? "date" : "category" } });
  }

  function showError(form, body) {
    const box = document.getElementById("query-error");
    const where = body.line ? ` (line ${body.line}, column ${body.column})` : "";
    box.textContent = (body.error || "The query failed.") + where + (body.hint ? "\nHint: " + body.hint : "");
    box.hidden = false;
    document.getElementById("query-status").textContent = "";
    const text = form.querySelector("textarea");
    if (body.line) {
      const lines = text.value.split("\n").slice(0, body.line - 1);
      const at = lines.reduce((n, l) => n + l.length + 1, 0) + Math.max((body.column || 1) - 1, 0);
      text.focus();
      text.setSelectionRange(at, at + 1);
    }
  }

  async function runQuery(form) {
    const text = form.querySelector("textarea");
    const status = document.getElementById("query-status");
    document.getElementById("query-error").hidden = true;
    status.textContent = "Running…";
    const url = new URL(location.href);
    url.searchParams.set("q", text.value);
    history.replaceState(null, "", url);
    const started = performance.now();
    const payload = { query: text.value, start: form.dataset.start, end: form.dataset.end };
    let response, body;
    try {
      response = await fetch("/api/query", {
        method: "POST",
        headers: {
          "Content-Type": "application/json", Accept: "application/json",
          "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content,
        },
        body: JSON.stringify(payload),
      });
      body = await response.json();
    } catch (e) {
      return showError(form, { error: "No answer from the server: " + e.message });
    }
    if (!response.ok) return showError(form, body);
    const ms = Math.round(performance.now() - started);
    status.textContent = `${body.rows.length} row${body.rows.length === 1 ? "" : "s"} in ${ms} ms`;
    document.getElementById("query-table").replaceChildren(resultTable(body));
    resultChart(body);
  }

  function queryConsole(form) {
    form.addEventListener("submit", (ev) => { ev.preventDefault(); runQuery(form); });
    form.querySelector("textarea").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); runQuery(form); }
    });
    if (new URLSearchParams(location.search).has("q")) runQuery(form);
  }

  async function promptAction(button) {
    const status = document.getElementById("prompt-status");
    const body = JSON.parse(button.dataset.body || "{}");
    if (button.textContent === "Reject") body.reason = window.prompt("Reason for rejecting?") || undefined;
    const response = await fetch(button.dataset.promptPost, {
      method: "POST",
      headers: {
        "Content-Type": "application/json", Accept: "application/json",
        "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content,
      },
      body: JSON.stringify(body),
    });
    if (response.ok) return location.reload();
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    status.textContent = `Refused (${response.status}): ${answer.error}`;
    status.dataset.status = String(response.status);
  }

  function start() {
    document.querySelectorAll("[data-prompt-post]").forEach((b) => b.addEventListener("click", () => promptAction(b)));
    document.querySelectorAll("[data-range-select]").forEach(rangePicker);
    const form = document.getElementById("query-form");
    if (form) queryConsole(form);
    if (!window.Plotly) return;
    document.querySelectorAll("[data-chart]").forEach(timeChart);
    document.querySelectorAll("[data-breakdown]").forEach(breakdown);
    document.querySelectorAll("[data-compare]").forEach(compareChart);
    document.querySelectorAll("[data-intervals]").forEach(intervalChart);
    document.querySelectorAll("[data-variant-timeline]").forEach(variantTimeline);
  }

  start();
})();
