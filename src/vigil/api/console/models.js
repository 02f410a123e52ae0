// Models page: the image-text models, and distilled models with their reports and plots
// when the server has the distillation area.
"use strict";

const fmt = (value) => (typeof value === "number" ? value.toFixed(3) : "n/a");

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
      el("h3", {}, `${m.name} `, el("span", { class: `pill ${m.status === "ready" ? "ok" : m.status === "rejected" ? "bad" : ""}` }, m.status),
        m.role ? el("span", { class: "pill" }, m.role) : ""),
      // Accuracy alone flatters a model that always answers the common class: show the
      // balanced figures and the majority-class floor beside it, and why a model was rejected.
      el("p", { class: "figures" }, `accuracy ${fmt(m.accuracy)} · balanced accuracy ${fmt(m.balanced_accuracy)} · ` +
        `macro-F1 ${fmt(m.macro_f1)} · majority-class baseline (balanced) ${fmt(m.baseline_balanced_accuracy)}`),
      m.error ? el("p", { class: "reason" }, `${m.status === "rejected" ? "rejected" : "error"}: ${m.error}`) : "",
      el("pre", { class: "muted" }, JSON.stringify(m.metrics || {}, null, 2)),
      el("div", { class: "plots" }, (m.plots || []).map((url) => el("img", { src: url, alt: `plot of ${m.name}` }))))));
  } catch (error) {
    box.textContent = error.status === 404 ? "distillation is not available on this server yet" : error.message;
  }
})();
