// zproxy dashboard: polls the JSON twins and updates the page in place (no reload, no CDN).
// Every value from the server goes into the DOM through textContent, never as markup:
// paths, user agents and model names are chosen by clients.
(() => {
  "use strict";

  const root = document.getElementById("dashboard");
  if (!root) return;
  const refreshMs = Number(root.dataset.refreshMs) || 5000;
  const SVG = "http://www.w3.org/2000/svg";
  const state = (window.zproxyDashboard = {
    loadedAt: Date.now(), refreshes: 0, failures: 0, lastUpdate: null,
  });

  // --- formatting -------------------------------------------------------------------------
  const dash = "–";
  const fmtInt = (v) => (v === null || v === undefined ? dash : Number(v).toLocaleString("en-US"));
  const fmtMs = (v) => {
    if (v === null || v === undefined) return dash;
    return v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
  };
  const fmtDuration = (s) => {
    if (s === null || s === undefined) return dash;
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
  };
  const fmtTime = (epoch) => new Date(epoch * 1000).toLocaleTimeString();
  const fmtBool = (v) => (v === null || v === undefined ? dash : v ? "yes" : "no");
  // "2 · unavailable": attempts, then the cause of each failed one (the retries)
  const fmtAttempts = (r) =>
    (r.retries && r.retries.length ? `${r.attempts} · ${r.retries.join(", ")}` : String(r.attempts));
  const FORMATS = { int: fmtInt, ms: fmtMs, duration: fmtDuration };

  const pick = (obj, path) => path.split(".").reduce((o, k) => (o == null ? o : o[k]), obj);

  // --- DOM helpers ------------------------------------------------------------------------
  function row(cells, className) {
    const tr = document.createElement("tr");
    if (className) tr.className = className;
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    return tr;
  }

  function fillTable(id, items, toCells, emptyText, rowClass) {
    const body = document.querySelector(`#${id} tbody`);
    if (!body) return;
    const columns = document.querySelectorAll(`#${id} thead th`).length;
    const rows = items.map((item) => row(toCells(item), rowClass ? rowClass(item) : ""));
    if (!rows.length) {
      const tr = row([emptyText], "empty");
      tr.firstChild.colSpan = columns;
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  // --- charts (inline SVG) ----------------------------------------------------------------
  const W = 600, H = 160, PAD_L = 44, PAD_B = 18, PAD_T = 8;

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function axes(svg, maxValue, label, points) {
    const plotH = H - PAD_B - PAD_T;
    svg.appendChild(el("line", { x1: PAD_L, y1: H - PAD_B, x2: W, y2: H - PAD_B, class: "axis" }));
    for (const frac of [0.5, 1]) {
      const y = H - PAD_B - plotH * frac;
      svg.appendChild(el("line", { x1: PAD_L, y1: y, x2: W, y2: y, class: "grid" }));
      svg.appendChild(el("text", { x: PAD_L - 4, y: y + 4, class: "tick", "text-anchor": "end" },
        label(maxValue * frac)));
    }
    if (points.length) {
      svg.appendChild(el("text", { x: PAD_L, y: H - 4, class: "tick" }, fmtTime(points[0].t)));
      svg.appendChild(el("text", { x: W, y: H - 4, class: "tick", "text-anchor": "end" },
        fmtTime(points[points.length - 1].t)));
    }
  }

  function drawRequests(points) {
    const svg = document.getElementById("chart-requests");
    if (!svg) return;
    svg.replaceChildren();
    const max = Math.max(1, ...points.map((p) => p.requests));
    axes(svg, max, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)), points);
    const plotH = H - PAD_B - PAD_T, step = (W - PAD_L) / Math.max(1, points.length);
    points.forEach((p, i) => {
      if (!p.requests) return;
      const x = PAD_L + i * step + 1, w = Math.max(1, step - 2);
      const h = (p.requests / max) * plotH, hf = (p.failures / max) * plotH;
      const bar = el("rect", { x, y: H - PAD_B - h, width: w, height: h - hf, class: "bar" });
      bar.appendChild(el("title", {}, `${fmtTime(p.t)}: ${p.requests} requests, ${p.failures} failed`));
      svg.appendChild(bar);
      if (hf > 0) svg.appendChild(el("rect", { x, y: H - PAD_B - hf, width: w, height: hf, class: "bar-fail" }));
    });
  }

  function linePath(points, key, max, step) {
    const plotH = H - PAD_B - PAD_T;
    let d = "", pen = "M";
    points.forEach((p, i) => {
      const v = p[key];
      if (v === null || v === undefined) { pen = "M"; return; }
      const x = PAD_L + i * step + step / 2, y = H - PAD_B - (v / max) * plotH;
      d += `${pen}${x.toFixed(1)},${y.toFixed(1)} `;
      pen = "L";
    });
    return d.trim();
  }

  function drawLatency(points) {
    const svg = document.getElementById("chart-latency");
    if (!svg) return;
    svg.replaceChildren();
    const values = points.flatMap((p) => [p.avg_latency_ms, p.avg_ttft_ms]).filter((v) => v != null);
    const max = Math.max(1, ...values);
    axes(svg, max, fmtMs, points);
    const step = (W - PAD_L) / Math.max(1, points.length);
    for (const [key, cls] of [["avg_latency_ms", "line-latency"], ["avg_ttft_ms", "line-ttft"]]) {
      const d = linePath(points, key, max, step);
      if (d) svg.appendChild(el("path", { d, class: cls }));
      points.forEach((p, i) => {
        if (p[key] == null) return;
        const cx = PAD_L + i * step + step / 2, cy = H - PAD_B - (p[key] / max) * (H - PAD_B - PAD_T);
        svg.appendChild(el("circle", { cx, cy, r: 2.5, class: cls }));
      });
    }
    svg.appendChild(el("text", { x: PAD_L + 6, y: PAD_T + 10, class: "legend line-latency-text" }, "latency"));
    svg.appendChild(el("text", { x: PAD_L + 6, y: PAD_T + 24, class: "legend line-ttft-text" }, "TTFT"));
  }

  // --- render -----------------------------------------------------------------------------
  function render(stats, recent) {
    for (const node of document.querySelectorAll("[data-stat]")) {
      const format = FORMATS[node.dataset.format] || String;
      node.textContent = format(pick(stats, node.dataset.stat));
    }
    fillTable("models-table", stats.models, (m) => [m.model, fmtInt(m.requests), fmtInt(m.failures),
      fmtMs(m.avg_latency_ms), fmtMs(m.avg_ttft_ms), fmtInt(m.prompt_tokens),
      fmtInt(m.completion_tokens)], "No requests yet");
    fillTable("statuses-table", stats.statuses, (s) => [String(s.status), fmtInt(s.requests)],
      "No requests yet");
    fillTable("apis-table", stats.apis, (a) => [a.name, fmtInt(a.requests)], "No requests yet");
    fillTable("clients-table", stats.clients, (c) => [c.name, fmtInt(c.requests)], "No requests yet");
    fillTable("errors-table", stats.errors, (e) => [e.name, fmtInt(e.requests)], "No errors");
    fillTable("recent-table", recent, (r) => [fmtTime(r.time), r.method, r.path, r.api ?? dash, String(r.status),
      r.model ?? dash, fmtBool(r.stream), fmtMs(r.duration_ms), fmtMs(r.ttft_ms),
      `${r.prompt_tokens ?? dash}/${r.completion_tokens ?? dash}`, fmtAttempts(r), r.client,
      r.client_ip, r.error_type ?? dash], "No requests yet", (r) => (r.ok ? "ok" : "fail"));
    drawRequests(stats.timeline);
    drawLatency(stats.timeline);
  }

  function setStatus(text, bad) {
    const node = document.getElementById("refresh-status");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store",
      headers: { Accept: "application/json" } });
    if (response.status === 401) throw new Error("session expired: log in again");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  async function refresh() {
    try {
      const [stats, recent] = await Promise.all([getJSON("/dashboard/stats"),
        getJSON("/dashboard/requests")]);
      render(stats, recent.data);
      state.refreshes += 1;
      state.lastUpdate = Date.now();
      setStatus(`Live · updated ${new Date().toLocaleTimeString()}`, false);
    } catch (err) {
      state.failures += 1;
      setStatus(`Not updating (${err.message})`, true);
    } finally {
      window.setTimeout(refresh, refreshMs);
    }
  }

  const initial = (id) => JSON.parse(document.getElementById(id)?.textContent || "null");
  const stats = initial("initial-stats"), recent = initial("initial-recent");
  if (stats && recent) render(stats, recent);
  window.setTimeout(refresh, refreshMs);
})();
