// The talk as one deck in the browser (like reveal.js): every step is in the page, a key press shows
// the next one at once (no server round trip), plotly figures are drawn from their JSON, the live
// step's alpha slider redraws its bars from the precomputed grid. Used twice: by the exported HTML file
// and by the app's Streamlit Components v2 element; `hooks` tell each what a step or alpha change means.
//
// Clicker-safe keys: PageDown/PageUp/Space/arrows/Home/End always move between steps, except ←/→ while
// the alpha slider has focus (the presenter holds it on purpose); Escape releases the focus.

function wiseftDeckCreate(root, hooks) {
  const deck = { root: root, payload: null, version: null, current: -1, sections: [], figures: [],
                 liveFrame: 0, onChange: [], startedAt: 0, stepAt: 0 };
  const NEXT = { ArrowRight: 1, ArrowDown: 1, PageDown: 1, " ": 1, Spacebar: 1 };
  const PREV = { ArrowLeft: 1, ArrowUp: 1, PageUp: 1, Backspace: 1 };

  function scaleFonts(node, k) {  // figures are built at 24 px; a 1080p screen gets them larger
    if (!node || typeof node !== "object") return;
    for (const key of Object.keys(node)) {
      const value = node[key];
      if (value && typeof value === "object") {
        if (/font$/i.test(key) && typeof value.size === "number") value.size = Math.round(value.size * k);
        scaleFonts(value, k);
      }
    }
  }

  function plotDiv(div) {
    if (div.dataset.drawn || typeof Plotly === "undefined") return Promise.resolve();
    const fig = JSON.parse(JSON.stringify(deck.figures[Number(div.dataset.fig)]));
    const k = Math.max(1, Math.min(1.4, window.innerHeight * 0.033 / 24));
    if (k > 1.05) {
      scaleFonts(fig.layout, k);
      if (fig.layout.margin && fig.layout.margin.t) fig.layout.margin.t = Math.round(fig.layout.margin.t * k);
    }
    div.dataset.drawn = "1";
    return Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displayModeBar: false }).then(function () {
      if (deck.payload.poll && Number(div.dataset.fig) === deck.payload.poll.fig) pollDraw();
    });
  }

  // The poll step: the room's answers per alpha, as the app's server last heard them (about once a second).
  // Redrawn only when a count changed, so an idle poll costs the deck nothing.
  function pollDraw() {
    const poll = deck.payload && deck.payload.poll;
    if (!poll || !deck.votes) return;
    const div = root.querySelector('.plot[data-fig="' + poll.fig + '"]');
    const counts = deck.votes;
    if (!div || !div.dataset.drawn || div.dataset.votes === counts.join(",")) return;
    div.dataset.votes = counts.join(",");
    const total = counts.reduce(function (a, b) { return a + b; }, 0);
    const top = Math.max(1, Math.max.apply(null, counts));
    Plotly.restyle(div, { y: [counts], text: [counts.map(function (n) { return n ? String(n) : ""; })] }, [0]);
    Plotly.relayout(div, { "title.text": poll.title.replace("{n}", String(total)), "yaxis.range": [0, top * 1.3],
                           "yaxis.dtick": Math.max(1, Math.ceil(top / 5)) });  // figures.poll_dtick
  }

  function draw(section) {
    return Promise.all(Array.from(section.querySelectorAll(".plot")).map(plotDiv));
  }

  function drawRest() {  // the other steps' figures in idle moments, nearest first: later steps show at once
    const order = deck.sections.map((s, i) => i).sort((a, b) => Math.abs(a - deck.current) - Math.abs(b - deck.current));
    const version = deck.version;
    let i = 0;
    const idle = window.requestIdleCallback || function (fn) { return setTimeout(fn, 30); };
    function next() {
      if (version !== deck.version || i >= order.length) return;
      draw(deck.sections[order[i++]]).then(function () { idle(next); });
    }
    idle(next);
  }

  function show(index, why) {
    if (!deck.sections.length) return;
    index = Math.max(0, Math.min(deck.sections.length - 1, index));
    if (index === deck.current) return;
    deck.current = index;
    deck.sections.forEach(function (s, j) { s.classList.toggle("active", j === index); });
    const active = document.activeElement;
    if (active && active.classList && active.classList.contains("deck-range")) active.blur();
    root.dataset.step = String(index + 1);
    window.talkReady = 0;
    draw(deck.sections[index]).then(function () {
      if (deck.current === index) window.talkReady = index + 1;
    });
    if (why !== "mount") {  // the talk's clock starts with its first step change, not at page load
      deck.stepAt = Date.now();
      if (!deck.startedAt) deck.startedAt = deck.stepAt;
    }
    if (hooks.onStep) hooks.onStep(index + 1, why || "key");
    deck.onChange.forEach(function (fn) { fn(); });
  }

  function liveSetup() {
    const live = deck.payload.live;
    if (!live) return;
    const range = root.querySelector(".deck-range");
    const out = root.querySelector(".deck-range-value");
    if (!range) return;
    range.min = "0"; range.max = String(live.alphas.length - 1); range.step = "1";
    range.value = String(live.active);
    const apply = function () {
      const k = Number(range.value);
      const frame = live.frames[k];
      out.textContent = "α = " + live.labels[k];
      const div = root.querySelector('.plot[data-fig="' + live.fig + '"]');
      if (!div || !div.dataset.drawn) return;
      cancelAnimationFrame(deck.liveFrame);
      deck.liveFrame = requestAnimationFrame(function () {
        Plotly.restyle(div, { x: [frame.x], y: [frame.y], text: [frame.text], "marker.color": [frame.color] }, [0]);
        Plotly.relayout(div, { "title.text": frame.title });
      });
    };
    range.addEventListener("input", apply);
    range.addEventListener("change", function () {
      if (hooks.onAlpha) hooks.onAlpha(live.alphas[Number(range.value)]);
    });
    out.textContent = "α = " + live.labels[live.active];
  }

  function mount(payload) {
    if (payload.version === deck.version) return;
    const keep = deck.current >= 0 ? deck.current : payload.step - 1;
    deck.version = payload.version;
    deck.payload = payload;
    deck.figures = payload.figures;
    root.innerHTML = payload.html;  // built by wiseft_core.talk.deck from escaped texts
    deck.sections = Array.from(root.querySelectorAll(".slide"));
    root.querySelectorAll("[data-deck-go]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        const go = button.dataset.deckGo;
        if (go === "notes") { if (hooks.onNotes) hooks.onNotes(); return; }
        show(deck.current + (go === "next" ? 1 : -1), "button");
        button.blur();
      });
    });
    deck.current = -1;
    liveSetup();
    show(keep, "mount");
    drawRest();
  }

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || !deck.sections.length) return;
    const target = event.target;
    const key = event.key;
    if (key === "Escape") {
      if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
      return;
    }
    const slider = target && target.classList && target.classList.contains("deck-range");
    if (!slider && target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    if (slider && (key === "ArrowLeft" || key === "ArrowRight")) return;  // the presenter holds alpha
    let step = null;
    if (NEXT[key]) step = deck.current + 1;
    else if (PREV[key]) step = deck.current - 1;
    else if (key === "Home") step = 0;
    else if (key === "End") step = deck.sections.length - 1;
    else if ((key === "n" || key === "N") && hooks.onNotes) { hooks.onNotes(); event.preventDefault(); return; }
    if (step === null) return;
    event.preventDefault();
    event.stopPropagation();
    show(step, "key");
  }

  document.addEventListener("keydown", onKey, true);
  deck.mount = mount;
  deck.drawAll = function () { return Promise.all(deck.sections.map(draw)); };  // every figure (for printing)
  deck.show = show;
  deck.setVotes = function (counts) { deck.votes = counts.map(Number); pollDraw(); };
  deck.destroy = function () { document.removeEventListener("keydown", onKey, true); };
  return deck;
}

// The presenter view: notes, current and next step previews, elapsed and countdown timers, buttons that
// drive the deck. Drawn into `win`, a window this page opened (same origin), so it needs no server.
function wiseftNotesView(deck, win, minutes) {
  const ui = deck.payload.ui;
  const doc = win.document;
  const esc = function (s) { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; };
  doc.title = ui.notes;
  Array.from(document.querySelectorAll("style")).forEach(function (s) { doc.head.appendChild(s.cloneNode(true)); });
  const css = doc.createElement("style");
  css.textContent = "body{margin:0;padding:12px 18px;font-family:'DejaVu Sans',Arial,sans-serif;background:#fff;color:#000;" +
    "overflow:auto!important;height:auto!important}.pv-top{display:flex;gap:14px;align-items:center;font-size:22px;flex-wrap:wrap}" +
    ".pv-top button{font-size:22px;padding:4px 14px}.pv-timer{font-weight:700;font-variant-numeric:tabular-nums}" +
    ".pv-row{display:flex;gap:16px;margin:10px 0}.pv-box{flex:1;min-width:0}.pv-box h3{margin:4px 0;font-size:18px}" +
    ".pv-frame{position:relative;overflow:hidden;border:2px solid #000;aspect-ratio:16/9;background:#fff}" +
    ".pv-frame .slide{visibility:visible!important;transform-origin:0 0}.pv-notes{font-size:24px;line-height:1.35}";
  doc.head.appendChild(css);
  doc.body.innerHTML = '<div class="pv-top"><button data-go="prev">← ' + esc(ui.previous) + '</button>' +
    '<span class="pv-count"></span><button data-go="next">' + esc(ui.next) + ' →</button>' +
    '<span class="pv-timer"></span><span class="pv-countdown"></span>' +
    '<button data-go="restart">' + esc(ui.restart_timer) + '</button></div>' +
    '<div class="pv-row"><div class="pv-box"><h3>' + esc(ui.current_step) + '</h3><div class="pv-frame pv-cur"></div></div>' +
    '<div class="pv-box"><h3>' + esc(ui.next_step) + '</h3><div class="pv-frame pv-next"></div></div></div>' +
    '<h2 class="pv-title"></h2><div class="pv-notes"></div>';
  doc.querySelectorAll("[data-go]").forEach(function (b) {
    b.addEventListener("click", function () {
      const go = b.dataset.go;
      if (go === "restart") { deck.startedAt = Date.now(); deck.stepAt = Date.now(); tick(); return; }
      deck.show(deck.current + (go === "next" ? 1 : -1), "remote");
    });
  });
  function preview(box, index) {
    box.innerHTML = "";
    const section = deck.sections[index];
    if (!section) { box.textContent = ui.last_step; return; }
    const copy = section.cloneNode(true);
    const w = deck.root.clientWidth || 1280, h = deck.root.clientHeight || 720;
    copy.style.width = w + "px"; copy.style.height = h + "px";
    copy.style.transform = "scale(" + (box.clientWidth / w) + ")";
    box.appendChild(copy);
  }
  function mmss(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return String(Math.floor(s / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    if (win.closed) { clearInterval(timer); return; }
    const now = Date.now();
    const total = deck.startedAt ? now - deck.startedAt : 0;
    const left = minutes * 60000 - total;
    doc.querySelector(".pv-timer").textContent = "⏱ " + ui.timer + " " + mmss(total) + " · " +
      mmss(deck.stepAt && deck.startedAt ? now - deck.stepAt : 0) + " " + ui.on_this_step;
    doc.querySelector(".pv-countdown").textContent = ui.countdown + " " + (left < 0 ? "−" : "") + mmss(Math.abs(left));
  }
  function update() {
    if (win.closed) return;
    const i = deck.current, n = deck.payload.notes;
    doc.querySelector(".pv-count").textContent = ui.step + " " + (i + 1) + " / " + n.length;
    doc.querySelector(".pv-title").textContent = n[i].title;
    doc.querySelector(".pv-notes").innerHTML = n[i].notes;  // built by Python from escaped texts
    preview(doc.querySelector(".pv-cur"), i);
    preview(doc.querySelector(".pv-next"), i + 1);
    tick();
  }
  const timer = setInterval(tick, 1000);
  deck.onChange.push(update);
  update();
}
