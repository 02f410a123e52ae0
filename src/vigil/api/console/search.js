// Search page: text, picture upload, "more like this"; source, date, object and class
// filters; pages of results; a large view of a hit with its boxes and the clip around it.
// The URL always says what is shown (query, filters, page), so reload, back and forward work.
"use strict";

const results = document.querySelector("#results");
const viewer = document.querySelector("#viewer");
const PICTURE_KEY = "vigil.picture.";

// What is searched: one of q (words), similar (a frame id), picture (an upload kept in
// this tab's sessionStorage, since a URL cannot carry the file), and the page.
const state = { q: "", similar: "", picture: "", offset: 0, answer: null, nearest: false };

const field = (id) => document.querySelector(`#${id}`);

function limit() { return Number(field("limit").value); }

// Filters as the search API takes them (dates become the local day's bounds, with zone).
function apiFilters({ forFrames = false } = {}) {
  const params = new URLSearchParams({ limit: limit(), offset: state.offset });
  if (field("source").value) params.append("source", field("source").value);
  if (field("since").value) params.set("since", new Date(`${field("since").value}T00:00:00`).toISOString());
  if (field("until").value) params.set("until", new Date(`${field("until").value}T23:59:59.999`).toISOString());
  if (!forFrames && field("objects").checked) {
    params.set("target", "objects");
    if (field("class").value) params.append("class", field("class").value);
  }
  return params;
}

// The page's own URL: the query and the filters as the form shows them.
function pageUrl() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  else if (state.similar) params.set("similar", state.similar);
  else if (state.picture) params.set("picture", state.picture);
  for (const id of ["source", "since", "until", "class"]) if (field(id).value) params.set(id, field(id).value);
  if (field("objects").checked) params.set("objects", "1");
  if (limit() !== 24) params.set("limit", limit());
  if (state.offset) params.set("offset", state.offset);
  if (state.nearest) params.set("nearest", "1");
  return `?${params}`;
}

function fromUrl() {
  const params = new URLSearchParams(location.search);
  state.q = params.get("q") || "";
  state.similar = state.q ? "" : params.get("similar") || "";
  state.picture = state.q || state.similar ? "" : params.get("picture") || "";
  state.offset = Math.max(0, Number(params.get("offset")) || 0);
  state.nearest = params.get("nearest") === "1";
  field("q").value = state.q;
  for (const id of ["source", "since", "until", "class"]) field(id).value = params.get(id) || "";
  field("objects").checked = params.get("objects") === "1";
  field("limit").value = params.get("limit") || "24";
}

function hasQuery() { return Boolean(state.q || state.similar || state.picture); }

async function pictureBody() {
  const dataUrl = sessionStorage.getItem(PICTURE_KEY + state.picture);
  if (!dataUrl) throw new Error("the picture of this search is no longer kept in this tab: pick it again");
  const body = new FormData();
  body.append("file", await (await fetch(dataUrl)).blob(), "picture");
  return body;
}

// Run what ``state`` says; ``push`` adds a history entry (a new search, another page).
async function run({ push = true } = {}) {
  if (!hasQuery()) return;
  history[push ? "pushState" : "replaceState"](null, "", pageUrl());
  showStatus("searching…");
  try {
    let answer;
    if (state.q) answer = await api(`/api/v1/search?${apiFilters()}&q=${encodeURIComponent(state.q)}`);
    else if (state.similar) answer = await api(`/api/v1/search/similar/${encodeURIComponent(state.similar)}?${apiFilters({ forFrames: true })}`);
    else answer = await api(`/api/v1/search/image?${apiFilters()}`, { method: "POST", body: await pictureBody() });
    state.answer = answer;
    render();
  } catch (error) {
    results.replaceChildren();
    field("pager").hidden = true;
    field("doubt").hidden = true;
    showStatus(error.message, true);
  }
}

function hitId(hit) { return hit.object ? `object:${hit.object.id}` : `frame:${hit.frame_id}`; }

function card(hit) {
  const when = fmtWhen(hit.captured_at, hit.media_time);
  const confidence = hit.confidence == null ? "" : ` · ${Math.round(hit.confidence * 100)}% confident`;
  return el("div", { class: "card hit", "data-frame": hit.frame_id, "data-object": hit.object ? hit.object.id : null },
    el("button", { type: "button", class: "open", title: "Open large: boxes, full resolution, the clip around it",
      onclick: () => openViewer(hit) },
      el("img", { src: hit.object ? hit.object.thumbnail_url : hit.thumbnail_url, alt: `${hit.source} at ${when}`, loading: "lazy" })),
    el("div", { class: "meta" },
      el("span", { title: whyText(hit) }, el("b", {}, hit.source), " ", el("span", { class: "when" }, when),
        hit.object ? ` · ${hit.object.label}` : "", el("span", { class: "confidence" }, confidence), " · ",
        el("code", { class: "item-id", title: "Catalog id, as in YAML examples and the CLI" }, hitId(hit))),
      el("button", { type: "button", class: "more", title: "Frames that look like this one",
        onclick: () => { Object.assign(state, { q: "", picture: "", similar: String(hit.frame_id), offset: 0, nearest: false }); field("q").value = ""; run(); } },
        "More like this")));
}

function render() {
  const answer = state.answer;
  const hits = answer.hits;
  const what = answer.query;
  const notes = (answer.notes || []).join("; ");
  // Not confident: say so, and show the nearest only when asked.
  const doubtful = answer.confident === false && hits.length > 0;
  field("doubt").hidden = !doubtful || state.nearest;
  field("doubt-text").textContent = doubtful ? `${answer.message || `no confident match for “${what}”`}.` : "";
  if (doubtful && !state.nearest) {
    results.replaceChildren();
    field("pager").hidden = true;
    showStatus(`no confident match for “${what}”${notes ? ` · ${notes}` : ""}`);
    return;
  }
  results.classList.toggle("nearest", doubtful);
  results.replaceChildren(...hits.map(card));
  const first = state.offset + 1;
  field("pager").hidden = !hits.length && !state.offset;
  field("prev").disabled = state.offset === 0;
  field("next").disabled = hits.length < limit();
  field("page").textContent = hits.length ? `${first}–${state.offset + hits.length}` : "no more";
  const kind = field("objects").checked && !state.similar ? "objects" : "frames";
  const prefix = doubtful ? `nearest ${hits.length}, none confident: ` : "";
  showStatus(hits.length
    ? `${prefix}${hits.length} ${kind} for “${what}” in ${(answer.seconds * 1000).toFixed(0)} ms (${answer.model_id})${notes ? ` · ${notes}` : ""}`
    : `nothing found for “${what}” — ${notes || (state.offset ? "no more results" : "no frame passes these filters, or nothing is indexed yet (see Sources)")}`);
}

// The hit's "why" as a tooltip: similarity, concepts with their weights, detected classes, predicates.
function whyText(hit) {
  const cosine = `similarity (cosine) ${hit.score.toFixed(3)}`;
  if (!hit.why) return cosine;
  const concepts = hit.why.concepts.map((c) => `${c.concept} ${c.weight.toFixed(3)}`).join(", ");
  const detected = Object.entries(hit.why.detected).map(([k, v]) => `${v} ${k}`).join(", ");
  const checks = hit.why.predicates.map((p) => `${p.words}: ${p.detail} (×${p.factor})`).join("; ");
  return [cosine, concepts && `concepts: ${concepts}`, detected && `detected: ${detected}`,
    ...hit.why.attributes, checks && `checks: ${checks}`].filter(Boolean).join("\n");
}

async function openViewer(hit) {
  try {
    const view = await api(hit.object ? `/api/v1/objects/${hit.object.id}/view` : `/api/v1/frames/${hit.frame_id}/view`);
    const when = fmtWhen(view.captured_at, view.media_time);
    field("viewer-title").textContent = `${view.source} · ${when}`;
    field("viewer-frame").replaceChildren(frameFigure(view, hit.object ? hit.object.id : null));
    const clip = field("viewer-clip");
    clip.hidden = !view.clip_url;
    if (view.clip_url) clip.src = view.clip_url; else clip.removeAttribute("src");
    field("viewer-meta").textContent = `frame:${view.id} · ${view.width}×${view.height} · ` +
      `${fmtTime(view.media_time)} into the ${view.kind === "video" ? "video" : "source"}` +
      (view.captured_at ? ` · captured ${when}` : " · capture time unknown") +
      (view.clip_url ? " · clip: 2 s before and after" : " · no clip: not a video file");
    field("viewer-objects").textContent = objectSummary(view.objects, view.scanned);
    await offerLabels(hit);
    viewer.showModal();
  } catch (error) { showStatus(error.message, true); }
}

// "Label this as ...": the hit becomes a human label of a scenario (with its provenance),
// for the next distillation. Only scenarios that label this kind of item are offered.
let labelTarget = null;
let scenarios = null;

async function offerLabels(hit) {
  const form = field("label-hit");
  labelTarget = hitId(hit);
  field("label-done").textContent = "";
  try { scenarios = scenarios || await api("/api/v1/scenarios"); } catch (_) { scenarios = []; }
  const kind = hit.object ? "object" : "frame";
  const fitting = scenarios.filter((s) => s.target === kind);
  form.hidden = !fitting.length;
  if (!fitting.length) return;
  const pick = field("label-scenario");
  pick.replaceChildren(...fitting.map((s) => el("option", { value: s.name }, s.name)));
  const classes = () => field("label-class").replaceChildren(...fitting
    .find((s) => s.name === pick.value).classes.map((c) => el("option", { value: c }, c)));
  pick.onchange = classes;
  classes();
}

field("label-hit").addEventListener("submit", async (event) => {
  event.preventDefault();
  const scenario = field("label-scenario").value;
  const label = field("label-class").value;
  try {
    await api(`/api/v1/scenarios/${encodeURIComponent(scenario)}/feedback`, {
      method: "POST", body: { item: labelTarget, label } });
    field("label-done").textContent = `${labelTarget} labeled ${label} in ${scenario}`;
  } catch (error) { field("label-done").textContent = error.message; }
});

viewer.addEventListener("close", () => { const clip = field("viewer-clip"); clip.pause(); clip.removeAttribute("src"); clip.load(); });
field("viewer-close").addEventListener("click", () => viewer.close());
viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });

document.querySelector("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = field("q").value.trim();
  if (!q) { showStatus("type what you are looking for", true); return; }
  Object.assign(state, { q, similar: "", picture: "", offset: 0, nearest: false });
  run();
});

field("image").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const id = Date.now().toString(36);
    try { sessionStorage.setItem(PICTURE_KEY + id, reader.result); }
    catch (_) { showStatus("the picture is too large to keep in this tab for reloads", true); }
    Object.assign(state, { q: "", similar: "", picture: id, offset: 0, nearest: false });
    field("q").value = "";
    run();
  };
  reader.readAsDataURL(file);
});

// A filter changed: back to the first page of the same query (still showing the nearest
// if that was asked for: the question has not changed).
document.querySelector("#filters").addEventListener("change", (event) => {
  if (event.target.id === "class" && event.target.value) field("objects").checked = true;
  state.offset = 0;
  run();
});
document.querySelector("#filters").addEventListener("submit", (event) => event.preventDefault());
field("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - limit()); run(); });
field("next").addEventListener("click", () => { state.offset += limit(); run(); });
field("show-nearest").addEventListener("click", () => {
  state.nearest = true;
  history.replaceState(null, "", pageUrl());
  render();
});
window.addEventListener("popstate", () => { fromUrl(); if (hasQuery()) run({ push: false }); });

(async () => {
  try {
    const [sources, classes] = await Promise.all([api("/api/v1/sources"), api("/api/v1/objects/classes")]);
    for (const s of sources) field("source").append(el("option", { value: s.id }, s.name));
    for (const c of classes) field("class").append(el("option", { value: c.name }, `${c.name} (${c.count})`));
  } catch (error) { showStatus(error.message, true); }
  fromUrl();
  run({ push: false });
})();
