// DagView: the layered drawing of a run, nodes coloured by state, updated as states arrive.
// The graph comes once as columns (names, x, y, src, dst); states as one byte per node.

const STATES = ["pending", "ready", "running", "succeeded", "failed", "skipped", "cancelled"];
const COLOURS = ["#d0d4da", "#8ecae6", "#ffb703", "#2a9d8f", "#e63946", "#9aa5b1", "#6c757d"];
const SVG = "http://www.w3.org/2000/svg";

function bytesOf(value) {
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

function render({ model, el }) {
  el.classList.add("symphony-dag");
  const head = document.createElement("div");
  head.className = "head";
  const title = document.createElement("b");
  const legend = document.createElement("span");
  legend.className = "legend";
  head.append(title, legend);
  const box = document.createElement("div");
  box.className = "canvas";
  const svg = document.createElementNS(SVG, "svg");
  box.append(svg);
  const detail = document.createElement("div");
  detail.className = "detail";
  el.append(head, box, detail);

  let circles = [];
  let shown = new Uint8Array(0);
  let view = { x: 0, y: 0, w: 1, h: 1 };

  function setView() {
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  }

  function drawGraph() {
    const g = model.get("graph") || {};
    const names = g.names || [], xs = g.x || [], ys = g.y || [], src = g.src || [], dst = g.dst || [];
    svg.replaceChildren();
    let d = "";
    for (let k = 0; k < src.length; k++) d += `M${xs[src[k]]} ${ys[src[k]]}L${xs[dst[k]]} ${ys[dst[k]]}`;
    const path = document.createElementNS(SVG, "path");  // every edge in one element
    path.setAttribute("d", d);
    path.setAttribute("stroke", "#9aa5b1");
    path.setAttribute("stroke-width", "1.2");
    path.setAttribute("fill", "none");
    svg.append(path);
    const nodes = document.createElementNS(SVG, "g");
    circles = new Array(names.length);
    const radius = names.length > 2000 ? 5 : 7;
    for (let i = 0; i < names.length; i++) {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("class", "node");
      c.setAttribute("cx", xs[i]);
      c.setAttribute("cy", ys[i]);
      c.setAttribute("r", radius);
      c.dataset.index = i;
      const t = document.createElementNS(SVG, "title");
      t.textContent = names[i];
      c.append(t);
      nodes.append(c);
      circles[i] = c;
    }
    svg.append(nodes);
    if (names.length <= 300) {  // labels while they can be read
      const labels = document.createElementNS(SVG, "g");
      labels.setAttribute("class", "labels");
      for (let i = 0; i < names.length; i++) {
        const t = document.createElementNS(SVG, "text");
        t.setAttribute("x", xs[i]);
        t.setAttribute("y", ys[i] + radius + 9);
        t.setAttribute("text-anchor", "middle");
        t.setAttribute("font-size", "8");
        t.setAttribute("fill", "currentColor");
        t.textContent = names[i].length > 14 ? names[i].slice(0, 13) + "…" : names[i];
        labels.append(t);
      }
      svg.append(labels);
    }
    shown = new Uint8Array(names.length).fill(255);
    const pad = 20;
    const minX = Math.min(...xs, 0) - pad, maxX = Math.max(...xs, 0) + pad;
    const minY = Math.min(...ys, 0) - pad, maxY = Math.max(...ys, 0) + pad;
    // A small graph is drawn at its natural size, not blown up to the box.
    const w = Math.max(maxX - minX, 640), h = Math.max(maxY - minY, 240);
    view = { x: (minX + maxX - w) / 2, y: (minY + maxY - h) / 2, w, h };
    setView();
    paint();
  }

  function paint() {
    const states = bytesOf(model.get("states"));
    const counts = new Array(STATES.length).fill(0);
    for (let i = 0; i < circles.length; i++) {
      const s = i < states.length ? states[i] : 0;
      counts[s] = (counts[s] || 0) + 1;
      if (shown[i] !== s) {  // only nodes whose state changed are touched
        circles[i].setAttribute("fill", COLOURS[s] || COLOURS[0]);
        circles[i].dataset.state = STATES[s] || "pending";
        shown[i] = s;
      }
    }
    legend.innerHTML = STATES.map((s, k) => counts[k] ? `<span><i style="background:${COLOURS[k]}"></i>${counts[k]} ${s}</span>` : "").join("");
    title.textContent = `${model.get("run_id") || "not started"} · ${model.get("status")}`;
  }

  function showDetail() {
    const d = model.get("detail") || {};
    circles.forEach((c) => c.classList.remove("selected"));
    const i = model.get("selected");
    if (i >= 0 && circles[i]) circles[i].classList.add("selected");
    if (!d.node) { detail.textContent = "Click a node for its attempts, error, time and artifact."; return; }
    const parts = [`<b>${escape(d.node)}</b> ${escape(d.state)}`];
    if (d.attempts !== undefined) parts.push(`attempts ${d.attempts}`);
    if (d.seconds !== undefined && d.seconds !== null) parts.push(`${(d.seconds * 1000).toFixed(2)} ms`);
    if (d.artifact) parts.push(`artifact <code title="${escape(d.artifact)}">${escape(d.artifact.slice(0, 12))}…</code>`);
    if (d.error) parts.push(`<span style="color:#e63946">${escape(d.error)}</span>`);
    detail.innerHTML = parts.join(" · ");
  }

  function escape(text) {
    return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  }

  svg.addEventListener("click", (event) => {
    const target = event.target.closest ? event.target.closest("circle.node") : null;
    if (!target) return;
    model.set("selected", Number(target.dataset.index));
    model.save_changes();
  });
  svg.addEventListener("wheel", (event) => {  // zoom about the pointer
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width, fy = (event.clientY - rect.top) / rect.height;
    const k = event.deltaY > 0 ? 1.2 : 1 / 1.2;
    const w = view.w * k, h = view.h * k;
    view = { x: view.x + (view.w - w) * fx, y: view.y + (view.h - h) * fy, w, h };
    setView();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => { drag = { x: event.clientX, y: event.clientY, view: { ...view } }; });
  window.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const rect = svg.getBoundingClientRect();
    view = { ...drag.view, x: drag.view.x - (event.clientX - drag.x) * view.w / rect.width, y: drag.view.y - (event.clientY - drag.y) * view.h / rect.height };
    setView();
  });

  model.on("change:graph", drawGraph);
  model.on("change:states", paint);
  model.on("change:run_id", paint);
  model.on("change:status", paint);
  model.on("change:detail", showDetail);
  drawGraph();
  showDetail();
}

export default { render };
