// The site plan: cameras placed on a floor plan, their track counts, handovers between them.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
let view = null;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function planName() { return document.querySelector("#plan").value; }

function render() {
  const overlay = document.querySelector("#overlay");
  overlay.replaceChildren();
  if (!view) return;
  overlay.setAttribute("viewBox", `0 0 ${view.plan.width} ${view.plan.height}`);
  const unit = Math.max(view.plan.width, view.plan.height) / 1000;
  const where = Object.fromEntries(view.cameras.map((c) => [c.source_id, c]));
  for (const link of view.links) {
    const [a, b] = link.sources.map((id) => where[id]);
    overlay.append(svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: "#ff8c00", "stroke-width": unit * (2 + link.handovers), class: "link" }));
    overlay.append(svg("text", { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6 * unit, "font-size": 16 * unit, fill: "#b35c00", "font-weight": "bold" },
      `${link.handovers} handovers`));
  }
  for (const camera of view.cameras) {
    const reach = 70 * unit;
    const cone = [-30, 30].map((d) => {
      const r = (camera.direction_deg + d) * Math.PI / 180;
      return `${camera.x + reach * Math.cos(r)},${camera.y + reach * Math.sin(r)}`;
    });
    overlay.append(svg("polygon", { points: `${camera.x},${camera.y} ${cone.join(" ")}`, fill: "rgba(79,179,255,0.35)" }));
    overlay.append(svg("circle", { cx: camera.x, cy: camera.y, r: 8 * unit, fill: "#dc1e1e", class: "camera" }));
    const counts = Object.entries(camera.tracks).map(([label, n]) => `${n} ${label}`).join(", ") || "no tracks";
    overlay.append(svg("text", { x: camera.x + 10 * unit, y: camera.y - 10 * unit, "font-size": 15 * unit, fill: "#111", class: "camera-label" },
      `${camera.source}: ${counts}`));
  }
  const rows = view.links.map((link) => el("tr", {},
    el("td", {}, link.sources.map((id) => where[id].source).join(" ↔ ")),
    el("td", {}, `${link.handovers} tracks that look alike (mean score ${link.mean_score})`),
    el("td", { class: "muted" }, link.ordered ? "ordered by capture time" : "no capture times: order not checked")));
  document.querySelector("#links").replaceChildren(
    el("tr", {}, el("th", {}, "cameras"), el("th", {}, "handovers"), el("th", {}, "clock")), ...rows);
}

async function load() {
  const name = planName();
  if (!name) { showStatus("no plan yet: upload a floor plan or map"); return; }
  const minScore = document.querySelector("#min-score").value || "0.8";
  try {
    view = await api(`/api/v1/site/plans/${encodeURIComponent(name)}?min_score=${minScore}`);
    document.querySelector("#plan-image").src = `/api/v1/site/plans/${encodeURIComponent(name)}/image?t=${Date.now()}`;
    showStatus(`${view.cameras.length} cameras on ${name}`);
    render();
  } catch (error) { showStatus(error.message, true); }
}

async function place(event) {
  const camera = document.querySelector("#camera").value;
  if (!view || !camera) return;
  const box = document.querySelector("#overlay").getBoundingClientRect();
  const x = Math.round((event.clientX - box.left) * view.plan.width / box.width);
  const y = Math.round((event.clientY - box.top) * view.plan.height / box.height);
  try {
    view = await api(`/api/v1/site/plans/${encodeURIComponent(planName())}/cameras/${camera}`, {
      method: "PUT", body: { x, y, direction_deg: Number(document.querySelector("#direction").value || 0) } });
    await load();
  } catch (error) { showStatus(error.message, true); }
}

async function upload(event) {
  event.preventDefault();
  const name = document.querySelector("#plan-name").value.trim() || planName() || "site";
  const file = document.querySelector("#plan-file").files[0];
  if (!file) { showStatus("choose a plan image first", true); return; }
  const form = new FormData();
  form.append("file", file);
  try {
    await api(`/api/v1/site/plans/${encodeURIComponent(name)}`, { method: "PUT", body: form });
    await plans(name);
  } catch (error) { showStatus(error.message, true); }
}

async function plans(selected) {
  const names = await api("/api/v1/site/plans");
  const select = document.querySelector("#plan");
  select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (selected) select.value = selected;
  await load();
}

(async () => {
  try {
    const sources = await api("/api/v1/sources");
    document.querySelector("#camera").replaceChildren(...sources.map((s) => el("option", { value: s.id }, s.name)));
    document.querySelector("#upload").addEventListener("submit", upload);
    document.querySelector("#plan").addEventListener("change", load);
    document.querySelector("#min-score").addEventListener("change", load);
    document.querySelector("#overlay").addEventListener("click", place);
    await plans();
  } catch (error) { showStatus(error.message, true); }
})();
