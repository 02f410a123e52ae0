// "What is unusual here": a source's frames ranked by distance from its own history.
"use strict";

async function rank(event) {
  if (event) event.preventDefault();
  const source = document.querySelector("#source").value;
  if (!source) return;
  const params = new URLSearchParams({ limit: "40", gap: document.querySelector("#gap").value || "5" });
  const since = document.querySelector("#since").value;
  if (since) params.set("since", since);
  if (document.querySelector("#by-hour").checked) params.set("by_hour", "true");
  try {
    const items = await api(`/api/v1/sources/${source}/unusual?${params}`);
    showStatus(items.length ? `${items.length} most unusual frames` : "no frames to rank");
    document.querySelector("#results").replaceChildren(...items.map((item) => el("figure", { class: "card" },
      el("img", { src: `/api/v1/items/frame/${item.item.split(":")[1]}/thumbnail`, alt: `${item.item}`, loading: "lazy" }),
      el("figcaption", {}, `#${item.rank} · ${item.item} · ${fmtTime(item.media_time)} · distance ${item.distance.toFixed(3)}`))));
  } catch (error) { showStatus(error.message, true); }
}

(async () => {
  try {
    const sources = await api("/api/v1/sources");
    document.querySelector("#source").replaceChildren(...sources.map((s) => el("option", { value: s.id }, s.name)));
    document.querySelector("#pick").addEventListener("submit", rank);
    if (sources.length) await rank();
  } catch (error) { showStatus(error.message, true); }
})();
