// Shared by the pages: JSON calls with the bearer token when the streamer asks for one.
// The token comes from ?token=... once (then kept in this browser's localStorage). Without it a control
// call answers 401 and the page says how to get the token, rather than a prompt() a user may dismiss
// without knowing where the token lives.
"use strict";
const TOKEN_KEY = "policycast-token";
(function takeTokenFromUrl() {
  const url = new URL(location.href);
  const t = url.searchParams.get("token");
  if (t) {
    localStorage.setItem(TOKEN_KEY, t);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);  // keep it out of history
  }
})();

const TOKEN_HELP = "open this page once as /?token=<token> (the streamer printed it; the stack keeps it " +
                   "as POLICYCAST_TOKEN in .policycast.env)";

// Every call that changes something is JSON (the streamer refuses other content types: that is what a
// cross-site page could send without asking), with the token.
async function api(method, path, body) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (body === undefined) body = {};
  }
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) {
    throw new Error(token ? "this streamer refused the saved control token: " + TOKEN_HELP
                          : "this control needs the token: " + TOKEN_HELP);
  }
  if (!resp.ok) throw new Error(data.error || (method + " " + path + ": " + resp.status));
  return data;
}

// A URL a status gives to be opened (the 3D view): http(s) only, whatever the streamer let through.
function webLink(url) {
  try { return ["http:", "https:"].includes(new URL(url).protocol) ? url : ""; } catch (e) { return ""; }
}

function fmt(value, digits) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value === "number" && digits !== undefined) return value.toFixed(digits);
  return String(value);
}

function baseName(path) {
  return path ? String(path).split("/").pop() : "–";
}

function ago(unixSeconds) {
  if (!unixSeconds) return "never";
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  return s < 90 ? Math.round(s) + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}

// The followed training run (its progress.json, via the tester's status) on one line:
// "epoch 45/300 · 1.2M env-steps · 34% success · ETA 12m", or "training stopped · epoch 45 · ...".
function trainingText(p) {
  if (!p) return "–";
  const parts = ["epoch " + p.epoch + (p.max_epochs == null ? "" : "/" + p.max_epochs),
                 count(p.env_steps) + " env-steps"];
  if (p.success_rate != null) parts.push(Math.round(100 * p.success_rate) + "% success");
  if (p.state === "training") {
    if (p.eta_s != null) parts.push("ETA " + duration(p.eta_s));
    return parts.join(" · ");
  }
  return "training " + (p.state === "finished" ? "finished" : "stopped") + " · " + parts.join(" · ");
}

// Where the followed training run writes (progress.json's disk and checkpoints): "runs 1.2 GB · 45.3 GB free
// (12 %) · 57 checkpoints, 98 MB". low: under the trainer's train.keep.lowDiskPercent (it thins harder).
function diskText(p) {
  const d = p && p.disk;
  if (!d) return { text: "–", low: false };
  const parts = ["runs " + bytes(d.runs_bytes), bytes(d.free_bytes) + " free (" + Math.round(d.free_percent) + " %)"];
  const c = p.checkpoints;
  if (c) parts.push(c.kept + " checkpoints, " + bytes(c.bytes));
  return { text: (d.low ? "LOW DISK · " : "") + parts.join(" · "), low: !!d.low };
}

function bytes(n) {
  if (n == null) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function count(n) {
  return n >= 1e9 ? (n / 1e9).toFixed(1) + "G" : n >= 1e6 ? (n / 1e6).toFixed(1) + "M"
       : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(n);
}

function duration(s) {
  s = Math.round(s);
  return s >= 3600 ? Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m"
       : s >= 60 ? Math.round(s / 60) + "m" : s + "s";
}

// A broken <img> stream (streamer restarted, network blip) reconnects by itself. Chrome fires no "error"
// when an MJPEG response is cut mid-stream: the image just turns broken (complete, no width). So a timer
// looks for that state, which also covers a refused (re)connection.
function keepStreaming(img, src) {
  const timer = setInterval(() => {
    if (!img.isConnected) { clearInterval(timer); return; }  // its tile was removed
    if (img.complete && img.naturalWidth === 0) img.src = src + "?r=" + Date.now();
  }, 2000);
}
