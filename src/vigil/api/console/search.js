// Search page: text, picture upload, "more like this", source filter; state kept in the URL.
"use strict";

const form = document.querySelector("#search-form");
const results = document.querySelector("#results");

function filters() {
  const params = new URLSearchParams({ limit: document.querySelector("#limit").value });
  const source = document.querySelector("#source").value;
  if (source) params.append("source", source);
  return params;
}

function render(answer) {
  results.replaceChildren(...answer.hits.map((hit) => el("div", { class: "card hit", "data-frame": hit.frame_id },
    el("img", { src: hit.thumbnail_url, alt: `${hit.source} at ${fmtTime(hit.media_time)}`, loading: "lazy" }),
    el("div", { class: "meta" },
      el("span", { title: whyText(hit) }, el("b", {}, hit.source), ` ${fmtTime(hit.media_time)} · ${hit.score.toFixed(3)}`,
        hit.confidence == null ? "" : ` · confidence ${hit.confidence.toFixed(2)}`, " · ",
        el("code", { class: "item-id", title: "Catalog id, as in YAML examples and the CLI" }, `frame:${hit.frame_id}`)),
      el("button", { type: "button", class: "more", title: "Frames that look like this one",
        onclick: () => similar(hit.frame_id) }, "More like this")),
  )));
  const what = answer.query;
  const notes = (answer.notes || []).join("; ");
  // Not confident: say so first, and still show the nearest frames to look at.
  const doubt = answer.confident === false && answer.hits.length
    ? `${answer.message} — showing the nearest ${answer.hits.length}. ` : "";
  showStatus(answer.hits.length
    ? `${doubt}${answer.hits.length} frames for “${what}” in ${(answer.seconds * 1000).toFixed(0)} ms (${answer.model_id})${notes ? ` · ${notes}` : ""}`
    : `nothing found for “${what}” — ${notes || "is anything indexed yet? (see Sources)"}`);
}

// The hit's "why" as a tooltip: concepts with their weights, detected classes, predicates.
function whyText(hit) {
  if (!hit.why) return "";
  const concepts = hit.why.concepts.map((c) => `${c.concept} ${c.weight.toFixed(3)}`).join(", ");
  const detected = Object.entries(hit.why.detected).map(([k, v]) => `${v} ${k}`).join(", ");
  const checks = hit.why.predicates.map((p) => `${p.words}: ${p.detail} (×${p.factor})`).join("; ");
  return [concepts && `concepts: ${concepts}`, detected && `detected: ${detected}`,
    ...hit.why.attributes, checks && `checks: ${checks}`].filter(Boolean).join("\n");
}

async function run(promise) {
  showStatus("searching…");
  try { render(await promise); } catch (error) { showStatus(error.message, true); }
}

function searchText(q) {
  const params = filters(); params.set("q", q);
  history.replaceState(null, "", `?q=${encodeURIComponent(q)}`);
  return run(api(`/api/v1/search?${params}`));
}

function similar(frameId) {
  history.replaceState(null, "", `?similar=${frameId}`);
  return run(api(`/api/v1/search/similar/${frameId}?${filters()}`));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.querySelector("#q").value.trim();
  if (q) searchText(q); else showStatus("type what you are looking for", true);
});

document.querySelector("#image").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const body = new FormData(); body.append("file", file);
  run(api(`/api/v1/search/image?${filters()}`, { method: "POST", body }));
});

(async () => {
  try {
    const sources = await api("/api/v1/sources");
    const select = document.querySelector("#source");
    for (const s of sources) select.append(el("option", { value: s.id }, s.name));
  } catch (error) { showStatus(error.message, true); }
  const params = new URLSearchParams(location.search);
  if (params.get("q")) { document.querySelector("#q").value = params.get("q"); searchText(params.get("q")); }
  else if (params.get("similar")) similar(params.get("similar"));
})();
