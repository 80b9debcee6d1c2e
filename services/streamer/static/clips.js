// Tester page, clips: a timeline of the tester's clips by checkpoint epoch (return and success under each),
// two players side by side (click: left; "vs": right), and the eval chart highlighting the epochs shown.
"use strict";
(function () {
  const ID = document.body.dataset.tester;
  const LIST = "/api/testers/" + encodeURIComponent(ID) + "/clips";
  const timeline = document.getElementById("timeline");
  const players = { a: document.getElementById("clip-a"), b: document.getElementById("clip-b") };
  const shown = { a: null, b: null };  // the clip each player shows
  let clips = [];
  window.shownEpochs = new Set();

  function label(c) {
    const success = c.success ? "success" : "no success";
    return "epoch " + fmt(c.epoch) + " · return " + fmt(c.return, 1) + " · " + success;
  }

  function play(slot, c) {
    const v = players[slot];
    shown[slot] = c;
    v.src = c.url;
    v.play().catch(() => {});  // muted: autoplay is allowed; a refusal leaves the controls to the user
    document.getElementById("clip-" + slot + "-label").textContent = label(c) + " · " + c.name;
    highlight();
  }

  // Both views mark what the players show: timeline cards and the eval chart's dots (tester.js redraws the
  // chart every 5 s and reads window.shownEpochs when it does).
  function highlight() {
    window.shownEpochs = new Set(Object.values(shown).filter(Boolean).map(c => c.epoch));
    for (const card of timeline.querySelectorAll(".clip")) {
      card.classList.toggle("selected", Object.values(shown).some(c => c && c.name === card.dataset.name));
    }
    for (const dot of document.querySelectorAll("#eval-chart .dot")) {
      dot.classList.toggle("highlight", window.shownEpochs.has(Number(dot.dataset.epoch)));
    }
  }

  // A click on a chart dot plays that epoch's clip (the left player), when there is one.
  window.selectEpoch = (epoch) => {
    const c = clips.find(x => x.epoch === epoch);
    if (c) play("a", c);
  };

  function card(c) {
    const b = document.createElement("button");
    b.className = "clip";
    b.dataset.name = c.name;
    b.dataset.epoch = c.epoch;
    b.title = label(c) + " (" + c.checkpoint + ")";
    const epoch = document.createElement("span");
    epoch.className = "epoch";
    epoch.textContent = c.episode ? "ep " + fmt(c.epoch) + " #" + c.episode : "epoch " + fmt(c.epoch);
    const facts = document.createElement("span");
    facts.className = "facts";
    facts.textContent = fmt(c.return, 1) + " · " + (c.success ? "✓ success" : "✗");
    const vs = document.createElement("span");
    vs.className = "vs";
    vs.textContent = "vs";
    vs.title = "play beside the other clip";
    b.append(epoch, facts, vs);
    b.addEventListener("click", (ev) => play(ev.target === vs ? "b" : "a", c));
    return b;
  }

  async function refresh() {
    let list;
    try { list = await api("GET", LIST); } catch (e) { return; }  // tester offline: keep the strip
    const names = list.map(c => c.name).join("|");
    if (names === clips.map(c => c.name).join("|")) return;  // unchanged: keep focus and scroll
    clips = list;
    if (list.length) timeline.replaceChildren(...list.map(card));
    highlight();
  }

  refresh();
  setInterval(refresh, 5000);
})();
