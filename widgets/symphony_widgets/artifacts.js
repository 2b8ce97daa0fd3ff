// ArtifactBrowser: a filterable table of artifacts; a row's value preview and its lineage graph.

const SVG = "http://www.w3.org/2000/svg";

function escape(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function lineageSvg(lineage, selected) {
  // Columns by distance from the selected artifact (its inputs to the left).
  const nodes = lineage.nodes || [], edges = lineage.edges || [];
  const depth = new Map([[selected, 0]]);
  for (let changed = true, guard = 0; changed && guard < 50; guard++) {
    changed = false;
    for (const [parent, child] of edges) {
      if (depth.has(child) && (!depth.has(parent) || depth.get(parent) < depth.get(child) + 1)) {
        depth.set(parent, depth.get(child) + 1);
        changed = true;
      }
    }
  }
  const columns = new Map();
  for (const n of nodes) {
    const d = depth.get(n) ?? 0;
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(n);
  }
  const maxDepth = Math.max(...columns.keys(), 0);
  const pos = new Map();
  for (const [d, members] of columns) members.forEach((n, k) => pos.set(n, [(maxDepth - d) * 110 + 50, k * 30 + 18]));
  const height = Math.max(...[...columns.values()].map((m) => m.length), 1) * 30 + 10;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", (maxDepth + 1) * 110);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "symphony-lineage");
  for (const [parent, child] of edges) {
    const [x1, y1] = pos.get(parent), [x2, y2] = pos.get(child);
    const line = document.createElementNS(SVG, "line");
    Object.entries({ x1, y1, x2, y2, stroke: "#9aa5b1" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  for (const n of nodes) {
    const [x, y] = pos.get(n);
    const g = document.createElementNS(SVG, "g");
    const r = document.createElementNS(SVG, "rect");
    Object.entries({ x: x - 45, y: y - 10, width: 90, height: 20, rx: 4, fill: n === selected ? "#6a4c93" : "#e9ecef" }).forEach(([k, v]) => r.setAttribute(k, v));
    const t = document.createElementNS(SVG, "text");
    Object.entries({ x, y: y + 4, "text-anchor": "middle", "font-size": 10, fill: n === selected ? "#fff" : "#222" }).forEach(([k, v]) => t.setAttribute(k, v));
    t.textContent = n.slice(0, 12) + "…";
    const title = document.createElementNS(SVG, "title");
    title.textContent = n;
    g.append(r, t, title);
    svg.append(g);
  }
  return svg;
}

function render({ model, el }) {
  el.style.font = "12px var(--jp-ui-font-family, sans-serif)";
  const box = document.createElement("input");
  box.placeholder = "filter: id, type, tag or producer";
  box.style.width = "300px";
  const count = document.createElement("span");
  count.style.marginLeft = "8px";
  const scroller = document.createElement("div");
  scroller.style.cssText = "max-height:260px;overflow:auto;margin-top:4px";
  const preview = document.createElement("div");
  preview.style.marginTop = "6px";
  el.append(box, count, scroller, preview);

  function drawRows() {
    const needle = box.value.toLowerCase();
    const rows = (model.get("rows") || []).filter((r) => !needle ||
      `${r.id} ${r.content_type} ${r.tags.join(" ")} ${r.producer || r.created_by}`.toLowerCase().includes(needle));
    count.textContent = `${rows.length} artifact(s)`;
    const selected = model.get("selected");
    scroller.innerHTML = `<table><tr><th>id</th><th>size</th><th>type</th><th>tags</th><th>producer</th><th>value</th><th>policy</th></tr>` +
      rows.map((r) => `<tr class="artifact" data-id="${escape(r.id)}" style="cursor:pointer;${r.id === selected ? "background:#ede7f6" : ""}">` +
        `<td><code title="${escape(r.id)}">${escape(r.id.slice(0, 12))}…</code></td><td>${r.size}</td><td>${escape(r.content_type || "")}</td>` +
        `<td>${escape(r.tags.join(", "))}</td><td>${escape(r.producer || r.created_by)}</td><td>${r.value}</td><td>${escape(r.action)}</td></tr>`).join("") + `</table>`;
  }
  function drawPreview() {
    const p = model.get("preview") || {};
    preview.replaceChildren();
    if (!p.id) { preview.textContent = "Click a row for its value and lineage."; return; }
    if (p.error) { preview.innerHTML = `<span style="color:#e63946">${escape(p.error)}</span>`; return; }
    const head = document.createElement("div");
    head.innerHTML = `<b>${escape(p.type)}</b> · ${escape(p.content_type || "")} · tags ${escape((p.tags || []).join(", ") || "none")}`;
    const text = document.createElement("pre");
    text.className = "symphony-preview";
    text.style.cssText = "max-height:160px;overflow:auto;background:var(--jp-layout-color2,#f6f6f6);padding:4px";
    text.textContent = p.text;
    preview.append(head, text, lineageSvg(p.lineage || {}, p.id));
  }
  box.addEventListener("input", drawRows);
  scroller.addEventListener("click", (event) => {
    const row = event.target.closest("tr.artifact");
    if (!row) return;
    model.set("selected", row.dataset.id);
    model.save_changes();
  });
  model.on("change:rows", drawRows);
  model.on("change:selected", drawRows);
  model.on("change:preview", drawPreview);
  drawRows();
  drawPreview();
}

export default { render };
