// The Playground's alpha slider and its predictions, drawn in the browser (Streamlit Components v2).
// Python sends each image's grid of real probabilities (softmax of real interpolated weights at the
// grid alphas) and its exact answer at the session's alpha. While the thumb moves, this draws from the
// grid at once (every step of 0.05 in [0, 1] is a grid point); an alpha the grid does not cover
// (extrapolation, per-block alpha, a row still being computed) shows the server's answer when it comes.
// The alpha goes back to Python on `change` (release, key press): URL, Curves marker, merge download.

const STATE = new WeakMap();
// The words, in the viewer's language: Python sends them as `data.text` (assets/i18n, keys "slider.*").
const ENGLISH = {
  label: "α  (0 = zero-shot, 1 = fine-tuned)", prediction: "Prediction at α = {alpha}: ", true_label: "true label",
  computing: "computing…", zero: "α = 0 (zero-shot)", one: "α = 1 (fine-tuned)",
  chart: "p(class) vs α, {done}/{total} computed",
  loading: "loading the live model…",
};

function say(data, key, fields) {
  const text = (data.text && data.text[key]) || ENGLISH[key];
  return text.replace(/\{([a-z_]+)\}/g, (all, name) => (fields && name in fields ? String(fields[name]) : all));
}

function fmt(alpha) {
  return String(Number(alpha.toFixed(2)));
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;  // names from files are text, never markup
  return node;
}

function gridIndex(data, alpha) {
  for (let i = 0; i < data.grid.length; i++) {
    if (Math.abs(data.grid[i] - alpha) < 1e-6) return i;
  }
  return -1;
}

// Probabilities of an image's listed classes at alpha, or null when neither grid nor server has them.
function probsAt(data, image, alpha) {
  const i = gridIndex(data, alpha);
  if (data.grid_usable && i >= 0 && image.rows[i]) return image.rows[i];
  if (image.server && Math.abs(data.server_alpha - alpha) < 1e-6) return image.server;
  return null;
}

function topK(data, image, probs, k) {
  return probs.map((p, j) => [image.classes[j], p]).sort((a, b) => b[1] - a[1]).slice(0, k);
}

function bars(data, image, probs, title) {
  const box = el("div", "wiseft-bars");
  box.appendChild(el("div", "wiseft-bars-title", title));
  if (!probs) {
    box.appendChild(el("div", "wiseft-pending", say(data, "computing")));
    return box;
  }
  for (const [cls, p] of topK(data, image, probs, data.top_k)) {
    const row = el("div", "wiseft-bar" + (cls === image.label ? " wiseft-true" : ""));
    row.appendChild(el("span", "wiseft-bar-name", data.classnames[cls]));
    const track = el("span", "wiseft-bar-track");
    const fill = el("span", "wiseft-bar-fill");
    fill.style.width = (100 * p).toFixed(1) + "%";
    track.appendChild(fill);
    row.appendChild(track);
    row.appendChild(el("span", "wiseft-bar-value", (100 * p).toFixed(0) + "%"));
    box.appendChild(row);
  }
  return box;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

function chart(data, image, alpha) {
  const w = 260, h = 120, pad = 22;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "wiseft-chart");
  const lo = data.grid[0], hi = data.grid[data.grid.length - 1];
  const x = (a) => pad + (w - 2 * pad) * (a - lo) / (hi - lo);
  const y = (p) => (h - pad) - (h - 1.5 * pad) * p;
  const axis = document.createElementNS(ns, "path");
  axis.setAttribute("d", `M${pad},${pad / 2}V${h - pad}H${w - pad}`);
  axis.setAttribute("class", "wiseft-axis");
  svg.appendChild(axis);
  image.chart_classes.forEach((cls, n) => {
    const j = image.classes.indexOf(cls);
    let d = "";
    data.grid.forEach((a, i) => {
      const row = image.rows[i];
      if (!row) return;
      d += (d ? "L" : "M") + x(a).toFixed(1) + "," + y(row[j]).toFixed(1);
    });
    const line = document.createElementNS(ns, "path");
    line.setAttribute("d", d);
    line.setAttribute("class", "wiseft-line");
    line.setAttribute("stroke", COLORS[n % COLORS.length]);
    svg.appendChild(line);
    const key = document.createElementNS(ns, "text");
    key.setAttribute("x", String(w - pad));
    key.setAttribute("y", String(10 + 11 * n));
    key.setAttribute("text-anchor", "end");
    key.setAttribute("fill", COLORS[n % COLORS.length]);
    key.textContent = data.classnames[cls];
    svg.appendChild(key);
  });
  if (alpha >= lo && alpha <= hi) {
    const mark = document.createElementNS(ns, "line");
    mark.setAttribute("x1", x(alpha)); mark.setAttribute("x2", x(alpha));
    mark.setAttribute("y1", String(pad / 2)); mark.setAttribute("y2", String(h - pad));
    mark.setAttribute("class", "wiseft-marker");
    svg.appendChild(mark);
  }
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", String(pad)); label.setAttribute("y", String(h - 6));
  label.textContent = say(data, "chart", { done: image.rows.filter(Boolean).length, total: data.grid.length });
  svg.appendChild(label);
  return svg;
}

function draw(state) {
  const data = state.data;
  const alpha = state.value;
  state.readout.textContent = `α = ${fmt(alpha)}`;
  const cards = el("div", "wiseft-cards");
  data.images.forEach((image) => {
    const card = el("div", "wiseft-card");
    const thumb = el("img", "wiseft-thumb");
    thumb.src = image.thumb;
    thumb.alt = image.name;
    card.appendChild(thumb);
    const body = el("div", "wiseft-body");
    body.appendChild(el("div", "wiseft-name",
      image.label ? `${image.name} — ${say(data, "true_label")}: ${image.label_name}` : image.name));
    const probs = probsAt(data, image, alpha);
    let verdict = say(data, "prediction", { alpha: fmt(alpha) });
    if (probs) {
      const [cls, p] = topK(data, image, probs, 1)[0];
      verdict += `${data.classnames[cls]} (${(100 * p).toFixed(0)}%)`;
      if (image.label !== null) verdict += cls === image.label ? " ✓" : " ✗";
    } else {
      verdict += "…";
    }
    body.appendChild(el("div", "wiseft-verdict", verdict));
    const row = el("div", "wiseft-row");
    row.appendChild(bars(data, image, probsAt(data, image, 0), say(data, "zero")));
    row.appendChild(bars(data, image, probs, `α = ${fmt(alpha)}`));
    row.appendChild(bars(data, image, probsAt(data, image, 1), say(data, "one")));
    body.appendChild(row);
    card.appendChild(body);
    card.appendChild(chart(data, image, alpha));
    cards.appendChild(card);
  });
  state.cards.replaceWith(cards);
  state.cards = cards;
}

export default function (component) {
  const { parentElement, setStateValue, setTriggerValue } = component;
  const data = component.data[0];  // sent as a one-item list (see live_slider.py)
  let state = STATE.get(parentElement);
  if (!state) {
    const root = el("div", "wiseft-live");
    const top = el("div", "wiseft-top");
    const input = document.createElement("input");
    input.type = "range";
    input.className = "wiseft-range";
    input.setAttribute("aria-label", "α (0 = zero-shot, 1 = fine-tuned)");
    const readout = el("span", "wiseft-readout");
    const label = el("span", "wiseft-label");
    top.appendChild(label);
    top.appendChild(input);
    top.appendChild(readout);
    const cards = el("div", "wiseft-cards");
    const note = el("div", "wiseft-note");
    root.appendChild(top);
    root.appendChild(note);
    root.appendChild(cards);
    parentElement.appendChild(root);
    state = { root, input, readout, cards, label, note, data: null, value: null, sent: [], frame: 0, poll: 0 };
    input.addEventListener("input", () => {
      state.value = Number(input.value);
      cancelAnimationFrame(state.frame);
      state.frame = requestAnimationFrame(() => draw(state));
    });
    input.addEventListener("change", () => {
      const alpha = Number(input.value);
      state.sent = state.sent.concat([alpha]).slice(-64);
      setStateValue("alpha", alpha);
      const url = new URL(window.location.href);  // a link to this alpha at once (Python sets it too)
      url.searchParams.set("alpha", fmt(alpha));
      window.history.replaceState(window.history.state, "", url);
    });
    STATE.set(parentElement, state);
  }
  const first = state.data === null;
  const rangeChanged = first || state.data.min !== data.min || state.data.max !== data.max;
  const serverMoved = first || state.data.alpha !== data.alpha;
  state.data = data;
  if (rangeChanged) {
    state.input.min = String(data.min);
    state.input.max = String(data.max);
    state.input.step = String(data.step);
  }
  const echo = state.sent.some((a) => Math.abs(a - data.alpha) < 1e-9);
  if (serverMoved && !echo) {
    state.value = data.alpha;  // the server's alpha (URL, range clamp); never undo the viewer's own move
    state.input.value = String(data.alpha);
  } else if (state.value === null) {
    state.value = data.alpha;
  }
  // A new server's stored first answer (app_pages/preview.py) is not the live page's: pending until replaced.
  state.root.dataset.pending = data.pending || data.preview ? "1" : "0";
  state.root.dataset.preview = data.preview ? "1" : "0";
  state.input.disabled = Boolean(data.preview);
  state.note.textContent = data.preview ? say(data, "loading") : "";
  state.label.textContent = say(data, "label");
  state.input.setAttribute("aria-label", say(data, "label"));
  draw(state);
  // While the charts fill in on the server, ask for fresh numbers: one request per answer received,
  // so a busy server is polled only as fast as it answers (a timer on the server would queue reruns).
  clearTimeout(state.poll);
  if (data.pending) {
    state.poll = setTimeout(() => setTriggerValue("poll", Date.now()), data.poll_ms);
  }
}
