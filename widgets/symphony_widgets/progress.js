// RunProgress: nodes done of total, failures, the run's status.

function render({ model, el }) {
  el.style.font = "12px var(--jp-ui-font-family, sans-serif)";
  const label = document.createElement("div");
  const track = document.createElement("div");
  track.style.cssText = "width:320px;height:8px;background:#e9ecef;border-radius:4px;overflow:hidden";
  const fill = document.createElement("div");
  fill.className = "symphony-progress";
  fill.style.cssText = "height:8px;width:0;transition:width 80ms linear";
  track.append(fill);
  el.append(label, track);
  function draw() {
    const total = model.get("total"), done = model.get("done"), failed = model.get("failed");
    const share = total ? done / total : 1;
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    fill.style.background = failed ? "#e63946" : "#2a9d8f";
    fill.dataset.done = done;
    label.textContent = `${model.get("run_id") || model.get("workflow")} · ${done}/${total} nodes` +
      (failed ? `, ${failed} failed` : "") + ` · ${model.get("status")}`;
  }
  for (const name of ["total", "done", "failed", "status", "run_id"]) model.on(`change:${name}`, draw);
  draw();
}

export default { render };
