// PoolView: bars of each pool's dimensions (used, leased part) and the models' lifecycle states.

const STATE_COLOURS = { cold: "#9aa5b1", warming: "#ffb703", hot: "#2a9d8f", cooling: "#8ecae6", failed: "#e63946" };

function escape(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function render({ model, el }) {
  el.style.font = "12px var(--jp-ui-font-family, sans-serif)";
  const bars = document.createElement("div");
  const table = document.createElement("div");
  el.append(bars, table);

  function draw() {
    const pools = model.get("pools") || [];
    bars.replaceChildren();
    if (!pools.length) bars.textContent = "No pools yet: pit.pools.add_pool(name, cpu=..., memory_mb=...)";
    for (const pool of pools) {
      const box = document.createElement("div");
      box.className = "symphony-pool";
      box.style.margin = "4px 0 8px";
      box.innerHTML = `<b>${escape(pool.name)}</b> · ${pool.models} model(s), ${pool.allocated} allocated`;
      for (const d of pool.dimensions) {
        const cap = d.capacity;
        const used = cap ? Math.min(1, d.used / cap) : 0, leased = cap ? Math.min(1, d.leased / cap) : 0;
        const row = document.createElement("div");
        row.className = "symphony-bar";
        row.dataset.pool = pool.name;
        row.dataset.dimension = d.dimension;
        row.style.display = "flex";
        row.style.alignItems = "center";
        row.style.gap = "6px";
        row.innerHTML =
          `<span style="width:110px">${escape(d.dimension)}</span>` +
          `<span style="position:relative;width:260px;height:12px;background:#e9ecef;border-radius:3px;overflow:hidden">` +
          `<span class="used" style="position:absolute;left:0;top:0;bottom:0;width:${(used * 100).toFixed(1)}%;background:#6a4c93"></span>` +
          `<span class="leased" style="position:absolute;left:0;top:0;bottom:0;width:${(leased * 100).toFixed(1)}%;background:#b39ddb"></span></span>` +
          `<span>${d.used} / ${cap === null ? "∞" : cap}${d.leased ? ` (leased ${d.leased})` : ""}</span>`;
        box.append(row);
      }
      bars.append(box);
    }
    const models = model.get("models") || [];
    table.innerHTML = models.length
      ? `<table><tr><th>model</th><th>pool</th><th>state</th><th>handle</th><th>invocations</th></tr>` +
        models.map((m) => `<tr><td>${escape(m.name)} v${escape(m.version)}</td><td>${escape(m.pool)}</td>` +
          `<td><span style="color:${STATE_COLOURS[m.state] || "#444"}">●</span> ${escape(m.state)}</td>` +
          `<td>${m.handle ?? ""}</td><td>${m.invocations}</td></tr>`).join("") + `</table>`
      : "";
  }
  model.on("change:pools", draw);
  model.on("change:models", draw);
  draw();
}

export default { render };
