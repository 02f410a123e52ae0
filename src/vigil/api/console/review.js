// Review page: work through the queue with the keyboard; every answer is sent at once.
"use strict";

const state = { scenario: "", classes: [], items: [], index: 0, done: 0, busy: false };

async function loadScenarios() {
  const scenarios = await api("/api/v1/scenarios");
  const select = document.querySelector("#scenario");
  select.replaceChildren(...scenarios.map((s) => el("option", { value: s.name }, `${s.name} (v${s.version})`)));
  const wanted = new URLSearchParams(location.search).get("scenario");
  if (wanted && scenarios.some((s) => s.name === wanted)) select.value = wanted;
  if (!scenarios.length) showStatus("no scenarios yet: create one on the Scenarios page");
  return select.value;
}

async function loadQueue() {
  state.scenario = document.querySelector("#scenario").value;
  if (!state.scenario) return;
  history.replaceState(null, "", `?scenario=${encodeURIComponent(state.scenario)}`);
  showStatus("loading the review queue…");
  const queue = await api(`/api/v1/scenarios/${encodeURIComponent(state.scenario)}/review?limit=50`);
  Object.assign(state, { classes: queue.classes, items: queue.items, index: 0 });
  if (!queue.items.length) {
    document.querySelector("#review").hidden = true;
    showStatus("nothing to review: run auto-label first, or every item is answered");
    return;
  }
  showStatus(`${queue.items.length} items to review for ${queue.scenario} v${queue.version}`);
  render();
}

function render() {
  const item = state.items[state.index];
  document.querySelector("#review").hidden = false;
  showItem(item);
  document.querySelector("#item-name").textContent = item.item;
  document.querySelector("#item-why").textContent =
    `machine says ${item.label} (${(item.confidence * 100).toFixed(0)}%)` +
    (item.disagree ? `, zero-shot says ${item.zero_shot_label}` : "");
  document.querySelector("#position").textContent = `${state.index + 1} of ${state.items.length}`;
  document.querySelector("#done").textContent = state.done;
  document.querySelector("#choices").replaceChildren(...state.classes.map((name, i) =>
    el("button", { type: "button", class: name === item.answered ? "chosen" : "", "data-label": name,
      onclick: () => label(name) }, el("kbd", {}, String(i + 1)), ` ${name}`,
      name === item.label ? el("span", { class: "muted" }, " · machine") : "")));
}

// The item at full resolution with the detected objects boxed (the item's own object in the
// accent colour), and the camera and time; anomaly scenarios show where the model looked
// instead (the heatmap over the image).
async function showItem(item) {
  const figure = document.querySelector("#item-figure");
  const where = document.querySelector("#item-where");
  if (item.heatmap_url) {
    figure.replaceChildren(el("img", { id: "item-image", src: item.heatmap_url, alt: `heatmap of ${item.item}` }));
    where.textContent = "";
    return;
  }
  const [kind, id] = item.item.split(":");
  try {
    const view = await api(`/api/v1/${kind === "object" ? "objects" : "frames"}/${id}/view`);
    if (state.items[state.index] !== item) return;  // moved on while it loaded
    figure.replaceChildren(frameFigure(view, kind === "object" ? Number(id) : null));
    where.replaceChildren(el("b", {}, view.source), ` · ${fmtWhen(view.captured_at, view.media_time)} · `,
      el("span", { class: "muted" }, objectSummary(view.objects, view.scanned)));
  } catch (error) {
    figure.replaceChildren(el("img", { id: "item-image", src: item.thumbnail_url, alt: item.item }));
    where.textContent = `full-resolution frame unavailable: ${error.message}`;
  }
}

async function label(name) {
  const item = state.items[state.index];
  if (!item || state.busy) return;
  state.busy = true;
  try {
    await api(`/api/v1/scenarios/${encodeURIComponent(state.scenario)}/answers`,
      { method: "POST", body: { item: item.item, label: name } });
    if (!item.answered) state.done += 1;
    item.answered = name;
    showStatus(`${item.item} labeled ${name}`);
    move(1);
  } catch (error) { showStatus(error.message, true); }
  finally { state.busy = false; }
}

function move(step) {
  if (!state.items.length) return;
  const next = state.index + step;
  if (next >= state.items.length) { showStatus(`end of the queue: ${state.done} labeled — press R for more`); render(); return; }
  state.index = Math.max(0, next);
  render();
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (/^[1-9]$/.test(key) && state.classes[Number(key) - 1]) label(state.classes[Number(key) - 1]);
  else if (key === "enter" && state.items[state.index]) label(state.items[state.index].label);
  else if (key === "j" || key === "arrowright") move(1);
  else if (key === "k" || key === "arrowleft") move(-1);
  else if (key === "r") loadQueue().catch((error) => showStatus(error.message, true));
  else return;
  event.preventDefault();
});

document.querySelector("#scenario").addEventListener("change", () => loadQueue().catch((e) => showStatus(e.message, true)));
loadScenarios().then((name) => name && loadQueue()).catch((error) => showStatus(error.message, true));
