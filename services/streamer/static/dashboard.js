// Dashboard: one tile per tester, refreshed from /api/testers every second (no page reload).
"use strict";
// Browsers open at most 6 HTTP/1.1 connections per host and every MJPEG <img> keeps one: the first
// tiles stream (3), later ones show snapshots refreshed twice a second, so the page never starves itself.
const MAX_STREAMS = 3;  // leaves room for a tester page in another tab
// Snapshot tiles say who polls (?reader=): the streamer counts each page as one reader of the tester,
// and a tester renders frames only while it has readers.
const READER = Math.random().toString(36).slice(2);
const grid = document.getElementById("grid");
const tiles = new Map();

function makeTile(t) {
  const a = document.createElement("a");
  a.className = "tile";
  a.id = "tile-" + t.id;
  a.href = "/tester/" + encodeURIComponent(t.id);
  const img = document.createElement("img");
  img.className = "stream";
  img.alt = "live stream of " + t.id;
  if (tiles.size < MAX_STREAMS) {
    const src = "/stream/" + encodeURIComponent(t.id);
    img.src = src;
    keepStreaming(img, src);
  } else {
    const refresh = () => {
      img.src = "/snapshot/" + encodeURIComponent(t.id) + "?reader=" + READER + "&t=" + Date.now();
    };
    refresh();
    a.dataset.timer = setInterval(refresh, 500);
  }
  const meta = document.createElement("dl");
  meta.className = "meta";
  const view3d = document.createElement("button");
  view3d.className = "view3d hidden";
  view3d.textContent = "3D view ↗";
  view3d.title = "world 0 live in 3D (MuJoCo's web viewer), in a tab of its own";
  view3d.addEventListener("click", (ev) => {  // inside the tile's link: open the viewer, not the page
    ev.preventDefault();
    ev.stopPropagation();
    if (view3d.dataset.url) window.open(view3d.dataset.url, "_blank", "noopener");
  });
  const view3dError = document.createElement("span");  // in the button's place when the view cannot start
  view3dError.className = "view3d-error hidden";
  a.append(img, view3d, view3dError, meta);
  grid.append(a);
  return { a, meta, view3d, view3dError };
}

function fillMeta(tile, t) {
  const rows = [["status", t.status], ["experiment", t.experiment], ["epoch", fmt(t.epoch)],
                ["checkpoint", baseName(t.checkpoint)], ["reloads", fmt(t.reloads)],
                ["last reload", ago(t.last_reload_time)], ["episodes", fmt(t.episodes)],
                ["mean return", fmt(t.mean_return, 2)], ["training", trainingText(t.training)]];
  const disk = diskText(t.training);
  if (t.training && t.training.disk) rows.push(["disk", disk.text]);
  tile.meta.replaceChildren();
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = t.id;
  tile.meta.append(name);
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = fmt(v);
    dd.dataset.field = k.replace(" ", "-");
    tile.meta.append(dt, dd);
  }
  tile.a.classList.toggle("offline", !t.online);
  tile.a.classList.toggle("low-disk", disk.low);  // the trainer's disk is nearly full: warn before it stops
  // MuJoCo's viewer page wants an origin of its own (its WASM threads need cross-origin isolation):
  // it opens in a new tab rather than inside this page.
  tile.view3d.dataset.url = webLink(t.view3d_url);
  tile.view3d.classList.toggle("hidden", !tile.view3d.dataset.url || !t.online);
  tile.view3dError.textContent = t.view3d_error ? "3D view unavailable: " + t.view3d_error : "";
  tile.view3dError.title = tile.view3dError.textContent;
  tile.view3dError.classList.toggle("hidden", !t.view3d_error || !!tile.view3d.dataset.url || !t.online);
  if (!t.online) {
    const forget = document.createElement("button");
    forget.className = "forget";
    forget.textContent = "remove";
    forget.title = "remove this offline tester from the dashboard";
    forget.addEventListener("click", async (ev) => {
      ev.preventDefault();
      try { await api("DELETE", "/api/testers/" + encodeURIComponent(t.id)); removeTile(t.id); }
      catch (e) { forget.textContent = e.message; }
    });
    tile.meta.append(forget);
  }
}

function removeTile(id) {
  const tile = tiles.get(id);
  if (!tile) return;
  clearInterval(Number(tile.a.dataset.timer));
  tile.a.querySelector("img").src = "";  // closes its stream connection
  tile.a.remove();
  tiles.delete(id);
}

async function refresh() {
  try {
    const testers = await api("GET", "/api/testers");
    document.getElementById("empty").classList.toggle("hidden", testers.length > 0);
    const ids = new Set(testers.map(t => t.id));
    for (const id of [...tiles.keys()]) if (!ids.has(id)) removeTile(id);
    for (const t of testers) {
      if (!tiles.has(t.id)) tiles.set(t.id, makeTile(t));
      fillMeta(tiles.get(t.id), t);
    }
    const online = testers.filter(t => t.online).length;
    document.getElementById("summary").textContent = testers.length + " tester(s), " + online + " online";
  } catch (e) {
    document.getElementById("summary").textContent = "streamer unreachable: " + e.message;
  }
}
refresh();
setInterval(refresh, 1000);
