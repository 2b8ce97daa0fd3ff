// EventLog: the newest events, newest first, filtered as you type.

function escape(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function render({ model, el }) {
  el.style.font = "12px var(--jp-ui-font-family, sans-serif)";
  const box = document.createElement("input");
  box.placeholder = "filter: component, kind, subject or data";
  box.style.width = "320px";
  box.value = model.get("filter");
  const count = document.createElement("span");
  count.style.marginLeft = "8px";
  const scroller = document.createElement("div");
  scroller.style.maxHeight = "280px";
  scroller.style.overflow = "auto";
  el.append(box, count, scroller);

  function draw() {
    const needle = (model.get("filter") || "").toLowerCase();
    const rows = (model.get("events") || []).filter((e) =>
      !needle || `${e.component} ${e.kind} ${e.subject} ${e.data}`.toLowerCase().includes(needle));
    count.textContent = `${rows.length} event(s)`;
    const body = rows.slice().reverse().map((e) =>
      `<tr class="event"><td>${e.seq}</td><td>${new Date(e.time * 1000).toLocaleTimeString()}</td>` +
      `<td>${escape(e.component)}</td><td>${escape(e.kind)}</td><td title="${escape(e.subject)}">${escape(e.subject.length > 40 ? e.subject.slice(0, 40) + "…" : e.subject)}</td>` +
      `<td>${escape(e.data)}</td></tr>`).join("");
    scroller.innerHTML = `<table><tr><th>seq</th><th>time</th><th>component</th><th>kind</th><th>subject</th><th>data</th></tr>${body}</table>`;
  }
  box.addEventListener("input", () => { model.set("filter", box.value); model.save_changes(); draw(); });
  model.on("change:events", draw);
  model.on("change:filter", draw);
  draw();
}

export default { render };
