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
      el("span", {}, el("b", {}, hit.source), ` ${fmtTime(hit.media_time)} · ${hit.score.toFixed(3)} · `,
        el("code", { class: "item-id", title: "Catalog id, as in YAML examples and the CLI" }, `frame:${hit.frame_id}`)),
      el("button", { type: "button", class: "more", title: "Frames that look like this one",
        onclick: () => similar(hit.frame_id) }, "More like this")),
  )));
  const what = answer.query;
  showStatus(answer.hits.length
    ? `${answer.hits.length} frames for “${what}” in ${(answer.seconds * 1000).toFixed(0)} ms (${answer.model_id})`
    : `nothing found for “${what}” — is anything indexed yet? (see Sources)`);
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
