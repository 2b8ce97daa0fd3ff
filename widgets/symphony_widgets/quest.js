// QuestPlayer: the story, calls as buttons, facts, score; a person plays or watches a policy.

function escape(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function render({ model, el }) {
  el.style.font = "13px var(--jp-ui-font-family, sans-serif)";
  el.style.maxWidth = "880px";
  const story = document.createElement("div");
  const status = document.createElement("div");
  status.className = "symphony-quest-status";
  status.style.margin = "6px 0";
  const calls = document.createElement("div");
  const controls = document.createElement("div");
  controls.style.margin = "6px 0";
  const log = document.createElement("ol");
  log.style.margin = "4px 0";
  el.append(story, status, calls, controls, log);

  for (const [label, message] of [["Step greedy", { policy: "greedy" }], ["Step solver", { policy: "solver" }], ["Start again", { reset: true }]]) {
    const b = document.createElement("button");
    b.textContent = label;
    b.className = "jp-Button symphony-quest-control";
    b.style.marginRight = "6px";
    b.addEventListener("click", () => model.send(message));
    controls.append(b);
  }

  function drawLevel() {
    const lv = model.get("level") || {};
    story.innerHTML = `<b>${escape(lv.title || "")}</b> <span style="color:#666">band ${lv.band} · optimal ${lv.optimal_steps} steps</span>` +
      `<p style="margin:4px 0">${escape(lv.story || "")}</p><div>goal: <b>${(lv.goal || []).map(escape).join(", ")}</b></div>`;
    calls.replaceChildren();
    (lv.calls || []).forEach((call, i) => {
      const b = document.createElement("button");
      b.className = "jp-Button symphony-quest-call";
      b.dataset.index = i;
      b.textContent = call.label;
      b.title = call.description;
      b.style.margin = "2px 4px 2px 0";
      b.addEventListener("click", () => model.send({ act: i }));
      calls.append(b);
    });
  }

  function drawState() {
    const s = model.get("state") || {};
    const verdict = s.won ? "<b style='color:#2a9d8f'>won</b>" : s.done ? "<b style='color:#e63946'>over</b>" : "playing";
    status.innerHTML = `facts: ${(s.facts || []).map((f) => `<code>${escape(f)}</code>`).join(" ") || "<i>none</i>"}` +
      ` · steps <b class="steps">${s.steps}</b> · score ${s.score} · resources ${s.resources} · ${verdict}` +
      (s.message ? `<div style="margin-top:3px">${escape(s.message)}</div>` : "");
    for (const b of calls.querySelectorAll("button")) b.disabled = !!s.done;
    log.innerHTML = (model.get("moves") || []).map((m) =>
      `<li><code>${escape(m.call)}</code> ${escape(m.outcome)} (${m.reward >= 0 ? "+" : ""}${m.reward})</li>`).join("");
  }

  model.on("change:level", drawLevel);
  model.on("change:state", drawState);
  model.on("change:moves", drawState);
  drawLevel();
  drawState();
}

export default { render };
