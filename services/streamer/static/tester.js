// Tester page: status (1 s), checkpoint list and eval chart (5 s), and the control buttons.
"use strict";
const ID = document.body.dataset.tester;
const BASE = "/api/testers/" + encodeURIComponent(ID);
const $ = (id) => document.getElementById(id);
keepStreaming($("stream"), "/stream/" + encodeURIComponent(ID));

function show(s) {
  $("state").textContent = s.status;
  $("state").className = "badge " + s.status;
  $("experiment").textContent = fmt(s.experiment);
  $("checkpoint").textContent = baseName(s.checkpoint);
  $("epoch").textContent = fmt(s.epoch);
  $("reloads").textContent = fmt(s.reloads);
  $("last-reload").textContent = ago(s.last_reload_time);
  $("last-error").textContent = fmt(s.last_reload_error);
  $("reload-interval").textContent = intervalText(s);
  $("pinned").textContent = s.pinned ? baseName(s.pinned) : "no";
  $("episodes").textContent = fmt(s.episodes);
  $("mean-return").textContent = fmt(s.mean_return, 2);
  $("success-rate").textContent = s.success_rate == null ? "–" : (100 * s.success_rate).toFixed(0) + " %";
  $("fps").textContent = fmt(s.fps, 1);
  $("viewers").textContent = fmt(s.viewers);
  $("training").textContent = trainingText(s.training);
  const disk = diskText(s.training);
  $("disk").textContent = disk.text;
  $("disk").classList.toggle("low-disk", disk.low);
  const view3d = webLink(s.view3d_url);
  if (view3d) $("view3d").href = view3d;
  $("view3d").classList.toggle("hidden", !view3d || !s.online);
  $("view3d-error").textContent = s.view3d_error ? "3D view unavailable: " + s.view3d_error : "";
  $("view3d-error").classList.toggle("hidden", !s.view3d_error || !!view3d || !s.online);
  drawTerms(s.reward_terms);
}

// Clear an <svg> and return el(name, attrs, text), which appends a new SVG element to it.
function svgCanvas(svg) {
  const NS = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  return (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
}

// Each reward term's mean per-episode sum under the current checkpoint: signed horizontal bars.
function drawTerms(terms) {
  const svg = $("terms-chart"), el = svgCanvas(svg);
  const W = 360, L = 120, R = 50, ROW = 22, T = 10;
  const entries = Object.entries(terms || {});
  if (entries.length === 0) {
    el("text", { x: W / 2, y: 40, "text-anchor": "middle" }, "no finished episode of this checkpoint yet");
    return;
  }
  const span = Math.max(...entries.map(([, v]) => Math.abs(v)), 1e-9);
  const zero = L + (W - L - R) / 2, half = (W - L - R) / 2;
  svg.setAttribute("viewBox", `0 0 ${W} ${T * 2 + ROW * entries.length}`);
  el("line", { x1: zero, y1: T / 2, x2: zero, y2: T + ROW * entries.length, class: "axis" });
  entries.forEach(([name, v], i) => {
    const y = T + i * ROW, w = Math.abs(v) / span * half;
    el("text", { x: L - 6, y: y + 14, "text-anchor": "end", class: "term" }, name);
    el("rect", { x: v < 0 ? zero - w : zero, y: y + 3, width: Math.max(w, 1), height: ROW - 8,
                 class: v < 0 ? "neg" : "pos", "data-term": name });
    el("text", { x: W - R + 46, y: y + 14, "text-anchor": "end" }, v.toFixed(2));
  });
}

// The interval is the least time each checkpoint is shown before a newer one replaces it.
function intervalText(s) {
  if (s.reload_interval === 0) return "0 (keeps its checkpoint)";
  if (s.reload_interval == null) return "–";
  const next = s.next_reload_in > 0 ? "; a newer one may replace it in " + Math.ceil(s.next_reload_in) + " s"
                                    : "; a newer one replaces it as soon as it lands";
  return "at least " + fmt(s.reload_interval) + " s per checkpoint" + next;
}

async function refreshStatus() {
  try { show(await api("GET", BASE)); } catch (e) { $("state").textContent = "unreachable"; }
}

async function refreshCheckpoints() {
  let list;
  try { list = await api("GET", BASE + "/checkpoints"); } catch (e) { return; }
  const select = $("checkpoint-select");
  const keep = select.value;
  select.replaceChildren(...list.slice().reverse().map(c => {
    const o = document.createElement("option");
    o.value = c.path;
    o.textContent = (c.epoch == null ? "" : "ep " + c.epoch + " · ") + c.name;
    return o;
  }));
  if (keep) select.value = keep;
}

// Eval return vs checkpoint epoch, drawn as a small SVG line chart.
function drawChart(points) {
  const svg = $("eval-chart"), el = svgCanvas(svg);
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 260, L = 50, R = 15, T = 15, B = 30;
  const pts = points.filter(p => p.epoch != null && p.mean_return != null).sort((a, b) => a.epoch - b.epoch);
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  if (pts.length === 0) {
    el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no evaluated checkpoints yet");
    return;
  }
  const xs = pts.map(p => p.epoch), ys = pts.map(p => p.mean_return);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const X = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const Y = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  el("polyline", { class: "line", points: pts.map(p => X(p.epoch) + "," + Y(p.mean_return)).join(" ") });
  for (const p of pts) {
    // clips.js highlights the epochs its players show, and a click on a dot plays that epoch's clip
    const dot = el("circle", { class: "dot", cx: X(p.epoch), cy: Y(p.mean_return), r: 3.5, "data-epoch": p.epoch });
    dot.classList.toggle("highlight", (window.shownEpochs || new Set()).has(p.epoch));
    dot.addEventListener("click", () => window.selectEpoch && window.selectEpoch(p.epoch));
    dot.append(document.createElementNS(NS, "title"));
    svg.lastChild.firstChild.textContent = "epoch " + p.epoch + ": " + p.mean_return.toFixed(2) + " (" + p.episodes + " episodes)";
  }
  el("text", { x: L - 6, y: Y(y1) + 4, "text-anchor": "end" }, y1.toFixed(1));
  el("text", { x: L - 6, y: Y(y0) + 4, "text-anchor": "end" }, y0.toFixed(1));
  el("text", { x: X(x0), y: H - B + 16, "text-anchor": "middle" }, "ep " + x0);
  el("text", { x: X(x1), y: H - B + 16, "text-anchor": "middle" }, "ep " + x1);
  el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "checkpoint epoch → mean eval return");
}

async function refreshEval() {
  try { drawChart(await api("GET", BASE + "/eval")); } catch (e) { /* tester offline: keep the last chart */ }
}

function control(method, path, body) {
  return async () => {
    $("message").textContent = "";
    try { await api(method, BASE + path, body); await refreshStatus(); }
    catch (e) { $("message").textContent = e.message; }
  };
}

$("reload-now").addEventListener("click", control("POST", "/reload"));
$("pause").addEventListener("click", control("POST", "/pause"));
$("resume").addEventListener("click", control("POST", "/resume"));
$("unpin").addEventListener("click", control("DELETE", "/pin"));
$("set-interval").addEventListener("click", () => {
  const v = $("interval").value;
  control("PUT", "/reload-interval", { seconds: v === "" ? null : Number(v) })();
});
$("pin").addEventListener("click", () => control("POST", "/pin", { checkpoint: $("checkpoint-select").value })());

refreshStatus(); refreshCheckpoints(); refreshEval();
setInterval(refreshStatus, 1000);
setInterval(refreshCheckpoints, 5000);
setInterval(refreshEval, 5000);
