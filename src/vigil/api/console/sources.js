// Sources page: list with indexing health, add, index in the background, follow jobs.
"use strict";

function healthCell(source) {
  if (!source.health.length) return el("span", { class: "pill" }, "not indexed");
  return source.health.map((h) => el("div", {},
    el("span", { class: `pill ${h.status}`, title: h.last_error || "" }, h.status),
    ` ${h.frames_done} frames · ${h.model_id}`));
}

async function loadSources() {
  const sources = await api("/api/v1/sources");
  document.querySelector("#sources tbody").replaceChildren(...sources.map((s) => el("tr", { "data-source": s.id },
    el("td", {}, s.id), el("td", {}, s.name), el("td", {}, s.kind),
    el("td", { class: "muted" }, s.location), el("td", {}, healthCell(s)),
    el("td", {},
      el("button", { type: "button", onclick: () => indexSource(s.id) }, "Index"), " ",
      el("button", { type: "button", onclick: () => removeSource(s) }, "Remove")))));
  if (!sources.length) showStatus("no sources yet: add a video file, image folder or stream above");
}

async function loadJobs() {
  const jobs = await api("/api/v1/jobs?limit=20");
  document.querySelector("#jobs tbody").replaceChildren(...jobs.map((j) => el("tr", {},
    el("td", {}, j.id), el("td", {}, j.kind), el("td", {}, el("span", { class: `pill ${j.status}` }, j.status)),
    el("td", {}, el("progress", { max: 1, value: j.progress }), ` ${(j.progress * 100).toFixed(0)}%`),
    el("td", { class: "muted" }, j.error || j.message || ""),
    el("td", {}, ["queued", "running"].includes(j.status)
      ? el("button", { type: "button", onclick: () => api(`/api/v1/jobs/${j.id}/cancel`, { method: "POST" }).then(refresh) }, "Cancel")
      : ""))));
  return jobs.some((j) => ["queued", "running"].includes(j.status));
}

async function refresh() {
  try {
    const busy = await loadJobs();
    await loadSources();
    if (busy) setTimeout(refresh, 1000);
  } catch (error) { showStatus(error.message, true); }
}

async function indexSource(id) {
  try {
    const job = await api("/api/v1/jobs/index", { method: "POST", body: { sources: [id] } });
    showStatus(`indexing job ${job.id} started`);
    refresh();
  } catch (error) { showStatus(error.message, true); }
}

async function removeSource(source) {
  if (!confirm(`Forget ${source.name} and everything indexed from it?`)) return;
  try { await api(`/api/v1/sources/${source.id}`, { method: "DELETE" }); refresh(); }
  catch (error) { showStatus(error.message, true); }
}

document.querySelector("#add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { location: document.querySelector("#location").value.trim() };
  const name = document.querySelector("#name").value.trim();
  const site = document.querySelector("#site").value.trim();
  if (name) body.name = name;
  if (site) body.site = site;
  try {
    const source = await api("/api/v1/sources", { method: "POST", body });
    showStatus(`added ${source.name}`);
    event.target.reset();
    refresh();
  } catch (error) { showStatus(error.message, true); }
});

refresh();
