// Vigil console: shared helpers for every page (no framework, no build step).
"use strict";

const KEY_STORE = "vigil.apiKey";

function apiKey() { return localStorage.getItem(KEY_STORE) || ""; }

function setApiKey(token) {
  if (token) {
    localStorage.setItem(KEY_STORE, token);
    // <img> tags cannot send headers: the server accepts this cookie for reads only.
    document.cookie = `vigil_key=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
  } else {
    localStorage.removeItem(KEY_STORE);
    document.cookie = "vigil_key=; path=/; max-age=0; SameSite=Strict";
  }
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let body = options.body;
  if (body && !(body instanceof FormData) && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!response.ok) {
    if (response.status === 401) document.querySelector("#key-input")?.focus();
    throw new ApiError(response.status, (data && data.detail) || response.statusText);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showStatus(message, isError = false) {
  const node = document.querySelector("#status");
  if (!node) return;
  node.textContent = message;
  node.classList.toggle("error", isError);
}

function fmtTime(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// When a frame was seen: the wall-clock capture time when the source knows it (streams,
// photos, videos with a creation time), else the position in the video.
function fmtWhen(capturedAt, mediaTime) {
  if (capturedAt) {
    const d = new Date(capturedAt);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  return `${fmtTime(mediaTime)} into the video`;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

// A frame at full resolution with its detected objects drawn over it. The SVG's viewBox
// is the frame's own pixel size, the boxes' coordinate system, so it scales with the image.
// ``focus`` (an object id) is drawn in the accent colour.
function frameFigure(view, focus = null) {
  const img = el("img", { src: view.image_url, alt: `${view.source} at ${fmtWhen(view.captured_at, view.media_time)}`, class: "frame-full" });
  const svg = svgEl("svg", { viewBox: `0 0 ${view.width} ${view.height}`, class: "boxes", "aria-label": "detected objects" });
  const stroke = Math.max(2, Math.round(view.width / 320));
  for (const obj of view.objects) {
    const [x1, y1, x2, y2] = obj.box;
    const group = svgEl("g", { class: obj.id === focus ? "box focus" : "box", "data-object": obj.id });
    group.append(
      svgEl("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, "stroke-width": stroke }),
      svgEl("text", { x: x1 + stroke, y: Math.max(y1 - stroke * 2, stroke * 8), "font-size": stroke * 8 },
        `${obj.label} ${Math.round(obj.score * 100)}%`));
    svg.append(group);
  }
  return el("div", { class: "stage" }, img, svg);
}

function objectSummary(objects, scanned = true) {
  if (!scanned) return "not scanned for objects yet (vigil index --objects)";
  if (!objects.length) return "no objects detected";
  const counts = {};
  for (const o of objects) counts[o.label] = (counts[o.label] || 0) + 1;
  return Object.entries(counts).map(([label, n]) => `${n} ${label}`).join(", ");
}

const PAGES = [
  ["index.html", "Search"], ["sources.html", "Sources"], ["review.html", "Review"],
  ["scenarios.html", "Scenarios"], ["events.html", "Events"], ["models.html", "Models"],
  ["unusual.html", "Unusual"], ["tracks.html", "Zones"], ["site.html", "Site"],
];

function renderHeader() {
  const here = location.pathname.split("/").pop() || "index.html";
  const keyInput = el("input", {
    id: "key-input", type: "password", placeholder: "API key (not needed on loopback)",
    value: apiKey(), size: 28, "aria-label": "API key",
  });
  const header = el("header", {},
    el("span", { class: "brand" }, "VIGIL"),
    el("nav", {}, PAGES.map(([href, label]) =>
      el("a", { href, class: href === here ? "active" : "" }, label))),
    el("span", { class: "key" }, keyInput,
      el("button", { type: "button", onclick: () => { setApiKey(keyInput.value.trim()); location.reload(); } }, "Use key")),
  );
  document.body.prepend(header);
}

document.addEventListener("DOMContentLoaded", renderHeader);
