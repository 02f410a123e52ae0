// Zones and lines drawn on a source's frame, counts over its tracks, and its track pictures.
"use strict";

const state = { source: null, image: null, shapes: [], drawing: null };

function sourceId() { return document.querySelector("#source").value; }

// A point within this share of the frame from an edge snaps to the edge: boxes cut off by
// the frame end there, so a line stopping a few pixels short would miss what crosses it.
const SNAP = 0.015;

function canvasPoint(event) {
  const canvas = document.querySelector("#canvas");
  const box = canvas.getBoundingClientRect();
  const snap = (value, size) => (value < size * SNAP ? 0 : value > size * (1 - SNAP) ? size : value);
  return [snap(Math.round((event.clientX - box.left) * canvas.width / box.width), canvas.width),
          snap(Math.round((event.clientY - box.top) * canvas.height / box.height), canvas.height)];
}

function draw() {
  const canvas = document.querySelector("#canvas");
  const ctx = canvas.getContext("2d");
  if (state.image) ctx.drawImage(state.image, 0, 0);
  const shapes = state.drawing ? [...state.shapes, state.drawing] : state.shapes;
  for (const shape of shapes) {
    const points = shape.kind === "zone" ? shape.polygon : shape.points;
    if (!points.length) continue;
    ctx.lineWidth = 3;
    ctx.strokeStyle = shape === state.drawing ? "#f0b429" : (shape.kind === "zone" ? "#4fb3ff" : "#ff6b6b");
    ctx.fillStyle = "rgba(79, 179, 255, 0.18)";
    ctx.beginPath();
    ctx.moveTo(...points[0]);
    for (const point of points.slice(1)) ctx.lineTo(...point);
    if (shape.kind === "zone" && shape !== state.drawing) { ctx.closePath(); ctx.fill(); }
    ctx.stroke();
    for (const point of points) { ctx.fillStyle = ctx.strokeStyle; ctx.fillRect(point[0] - 3, point[1] - 3, 6, 6); }
    ctx.font = "bold 16px system-ui"; ctx.fillStyle = "#fff";
    ctx.fillText(shape.name || "", points[0][0] + 6, points[0][1] - 6);
  }
}

function renderShapes() {
  document.querySelector("#shapes").replaceChildren(...state.shapes.map((shape, index) => el("li", {},
    el("b", {}, shape.name), ` ${shape.kind}`,
    shape.kind === "zone" ? el("label", {}, " loiter after ",
      el("input", { type: "number", min: "0", step: "any", size: 4, value: shape.loiter_s ?? "", "aria-label": `loiter ${shape.name}`,
        onchange: (e) => { shape.loiter_s = e.target.value ? Number(e.target.value) : null; } }), " s") : null,
    shape.kind === "zone" ? el("label", {}, " intrusion by ",
      el("input", { type: "text", size: 10, placeholder: "person, car", value: (shape.intrusion || []).join(", "), "aria-label": `intrusion ${shape.name}`,
        onchange: (e) => { shape.intrusion = e.target.value.split(",").map((s) => s.trim()).filter(Boolean); } })) : null,
    el("button", { type: "button", onclick: () => { state.shapes.splice(index, 1); renderShapes(); draw(); } }, "Delete"))));
}

function start(kind) {
  const input = document.querySelector("#shape-name");
  const name = input.value.trim() || `${kind}-${state.shapes.length + 1}`;
  if (state.shapes.some((s) => s.name === name)) { showStatus(`the name ${name} is taken`, true); return; }
  input.value = "";
  state.drawing = kind === "zone" ? { kind, name, polygon: [], intrusion: [], loiter_s: null } : { kind, name, points: [] };
  document.querySelector("#finish").disabled = kind !== "zone";
  document.querySelector("#mode").textContent = kind === "zone"
    ? "click the zone's corners in order, then Finish shape" : "click the line's two ends";
}

function finish() {
  const shape = state.drawing;
  if (!shape) return;
  if (shape.kind === "zone" && shape.polygon.length < 3) { showStatus("a zone needs at least 3 corners", true); return; }
  state.shapes.push(shape);
  state.drawing = null;
  document.querySelector("#finish").disabled = true;
  document.querySelector("#mode").textContent = "";
  renderShapes(); draw();
}

function click(event) {
  const shape = state.drawing;
  if (!shape) return;
  const point = canvasPoint(event);
  if (shape.kind === "zone") shape.polygon.push(point);
  else { shape.points.push(point); if (shape.points.length === 2) { finish(); return; } }
  draw();
}

function zoneSet() {
  const canvas = document.querySelector("#canvas");
  return {
    frame_wh: [canvas.width, canvas.height],
    zones: state.shapes.filter((s) => s.kind === "zone").map((s) => ({
      name: s.name, polygon: s.polygon, loiter_s: s.loiter_s || null, intrusion: s.intrusion || [] })),
    lines: state.shapes.filter((s) => s.kind === "line").map((s) => ({ name: s.name, points: s.points })),
  };
}

async function save() {
  try {
    await api(`/api/v1/sources/${sourceId()}/zones`, { method: "PUT", body: zoneSet() });
    showStatus(`saved ${state.shapes.length} zones and lines`);
    document.querySelector("#plot").src = `/api/v1/sources/${sourceId()}/tracks/plot?t=${Date.now()}`;
  } catch (error) { showStatus(error.message, true); }
}

async function count() {
  try {
    showStatus("counting over the stored tracks…");
    const report = await api(`/api/v1/sources/${sourceId()}/zones/count`, { method: "POST" });
    const rows = report.areas.map((area) => el("tr", {}, el("td", {}, `${area.kind} ${area.name}`),
      el("td", {}, area.kind === "zone"
        ? `${area.entries} in, ${area.exits} out, ${area.visits} visits, dwell mean ${area.mean_dwell_s}s, max ${area.max_dwell_s}s`
        : `${area.crossings.left_to_right} left-to-right, ${area.crossings.right_to_left} right-to-left`)));
    document.querySelector("#counts").replaceChildren(el("tr", {}, el("th", {}, "area"), el("th", {}, "counts")), ...rows);
    showStatus(`${report.tracks} tracks; events: ${report.events_stored} new, ${report.events_known} already stored (see Events)`);
  } catch (error) { showStatus(error.message, true); }
}

async function load() {
  const id = sourceId();
  state.shapes = []; state.drawing = null;
  const image = new Image();
  image.onload = () => {
    const canvas = document.querySelector("#canvas");
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    state.image = image; draw();
  };
  image.onerror = () => showStatus("no frame of this source to draw on (index or track it first)", true);
  image.src = `/api/v1/sources/${id}/background`;
  document.querySelector("#plot").src = `/api/v1/sources/${id}/tracks/plot`;
  try {
    const stored = await api(`/api/v1/sources/${id}/zones`);
    state.shapes = [
      ...stored.zones.map((z) => ({ kind: "zone", ...z })),
      ...stored.lines.map((l) => ({ kind: "line", ...l })),
    ];
    showStatus(`${state.shapes.length} stored zones and lines`);
  } catch (error) {
    showStatus(error.status === 404 ? "no zones yet: draw some" : error.message, error.status !== 404);
  }
  renderShapes(); draw();
}

(async () => {
  try {
    const sources = await api("/api/v1/sources");
    const select = document.querySelector("#source");
    select.replaceChildren(...sources.map((s) => el("option", { value: s.id }, s.name)));
    const wanted = new URLSearchParams(location.search).get("source");
    if (wanted) select.value = wanted;
    select.addEventListener("change", () => { history.replaceState(null, "", `?source=${select.value}`); load(); });
    document.querySelector("#canvas").addEventListener("click", click);
    document.querySelector("#new-zone").addEventListener("click", () => start("zone"));
    document.querySelector("#new-line").addEventListener("click", () => start("line"));
    document.querySelector("#finish").addEventListener("click", finish);
    document.querySelector("#undo").addEventListener("click", () => {
      const shape = state.drawing; if (!shape) return;
      (shape.kind === "zone" ? shape.polygon : shape.points).pop(); draw();
    });
    document.querySelector("#save").addEventListener("click", save);
    document.querySelector("#count").addEventListener("click", count);
    if (sources.length) await load(); else showStatus("no sources yet");
  } catch (error) { showStatus(error.message, true); }
})();
