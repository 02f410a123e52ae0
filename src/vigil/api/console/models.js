// Models page: the image-text models, and distilled models with their reports and plots
// when the server has the distillation area.
"use strict";

(async () => {
  try {
    const models = await api("/api/v1/models");
    document.querySelector("#embedders tbody").replaceChildren(...models.map((m) => el("tr", {},
      el("td", {}, m.name), el("td", {}, el("span", { class: `pill ${m.available ? "ok" : "bad"}` }, m.available ? "yes" : "no")),
      el("td", {}, m.active ? "✓" : ""), el("td", { class: "muted" }, m.summary))));
  } catch (error) { showStatus(error.message, true); }
  const box = document.querySelector("#distilled");
  try {
    const distilled = await api("/api/v1/distilled");
    if (!distilled.length) { box.textContent = "no distilled models yet"; return; }
    box.replaceChildren(...distilled.map((m) => el("section", { class: "card", style: "padding: .8rem; margin-bottom: 1rem" },
      el("h3", {}, `${m.name} `, el("span", { class: "pill" }, m.status)),
      el("pre", { class: "muted" }, JSON.stringify(m.metrics || {}, null, 2)),
      el("div", { class: "plots" }, (m.plots || []).map((url) => el("img", { src: url, alt: `plot of ${m.name}` }))))));
  } catch (error) {
    box.textContent = error.status === 404 ? "distillation is not available on this server yet" : error.message;
  }
})();
