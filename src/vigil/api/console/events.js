// Event timeline: newest first; a click opens the evidence (peak frame, strip, scores, alerts).
"use strict";

function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }

async function openEvent(li, id) {
  if (li.classList.contains("open")) { li.classList.remove("open"); li.querySelector(".detail")?.remove(); return; }
  try {
    const event = await api(`/api/v1/events/${id}`);
    const scores = Object.entries(event.details.scores || {}).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(", ");
    li.classList.add("open");
    li.querySelector(".body").append(el("div", { class: "detail" },
      el("div", { class: "evidence" },
        event.thumbnail_url ? el("img", { src: event.thumbnail_url, alt: `evidence of event ${id}`, class: "evidence-peak" }) : "",
        event.heatmap_url ? el("img", { src: event.heatmap_url, alt: `anomaly heatmap of event ${id}`, class: "evidence-peak" }) : "",
        event.strip_url ? el("img", { src: event.strip_url, alt: `strip of event ${id}`, style: "width: 480px" }) : ""),
      el("p", {}, `peak ${event.peak_score.toFixed(2)} at ${when(event.peak_at)} · ${event.frames} frames · scores: ${scores || "—"}`),
      el("p", { class: "muted" }, `alerts: ${event.deliveries.map((d) => `${d.kind} → ${d.target} (${d.status})`).join("; ") || "none"}`),
      feedbackForm(event)));
  } catch (error) { showStatus(error.message, true); }
}

// Triage: one button per event marks it reviewed (or not); the mark is stored with the event.
function triageControl(e) {
  const reviewed = Boolean(e.reviewed_at);
  const button = el("button", { type: "button", class: `triage${reviewed ? " done" : ""}`, "data-reviewed": reviewed ? "yes" : "no",
    title: reviewed ? `reviewed ${when(e.reviewed_at)}${e.reviewed_by ? ` by ${e.reviewed_by}` : ""}; click to undo` : "Mark this event reviewed" },
  reviewed ? "✓ reviewed" : "Mark reviewed");
  button.addEventListener("click", async (event) => {
    event.stopPropagation();  // not a click that opens the event
    try {
      const updated = await api(`/api/v1/events/${e.id}`, { method: "PATCH", body: { reviewed: !reviewed } });
      button.replaceWith(triageControl(updated));
      showStatus(`event ${e.id} ${updated.reviewed_at ? "marked reviewed" : "back to unreviewed"}`);
    } catch (error) { showStatus(error.message, true); }
  });
  return button;
}

// Confirm the event, or correct it to another class: it becomes a label of the scenario.
function feedbackForm(event) {
  const said = event.feedback ? `${event.feedback.verdict} as ${event.feedback.label} by ${event.feedback.annotator}` : "no feedback yet";
  const classes = Object.keys(event.details.scores || {}).filter((name) => name !== event.class_name);
  const select = el("select", { class: "correct-to", "aria-label": "correct to class" }, ...classes.map((name) => el("option", { value: name }, name)));
  const send = async (body) => {
    try {
      const done = await api(`/api/v1/events/${event.id}/feedback`, { method: "POST", body: Object.assign(body, event.feedback ? { replace: true } : {}) });
      showStatus(`event ${event.id} ${done.verdict} as ${done.label}: ${done.item} is now a label of ${done.scenario}`);
    } catch (error) { showStatus(error.message, true); }
  };
  const stop = (handler) => (click) => { click.stopPropagation(); handler(); };
  return el("p", { class: "feedback" },
    el("span", { class: "muted" }, `${said} · `),
    el("button", { type: "button", class: "confirm", onclick: stop(() => send({ confirm: true })) }, `Confirm ${event.class_name}`),
    classes.length ? [" or ", select, " ", el("button", { type: "button", class: "correct", onclick: stop(() => send({ label: select.value })) }, "Correct")] : "");
}

async function load() {
  const params = new URLSearchParams({ limit: 200 });
  const scenario = document.querySelector("#f-scenario").value.trim();
  const cls = document.querySelector("#f-class").value.trim();
  const status = document.querySelector("#f-status").value;
  if (scenario) params.set("scenario", scenario);
  if (cls) params.set("class_name", cls);
  if (status) params.set("status", status);
  try {
    const events = await api(`/api/v1/events?${params}`);
    document.querySelector("#timeline").replaceChildren(...events.map((e) => {
      const li = el("li", { "data-event": e.id },
        el("div", {}, el("b", {}, when(e.started_at)), el("div", { class: "muted" }, e.ended_at ? `until ${when(e.ended_at)}` : "ongoing")),
        el("div", { class: "body" },
          el("span", { class: `pill ${e.status === "open" ? "running" : e.status === "closed" ? "ok" : "bad"}` }, e.status),
          ` ${e.class_name} · ${e.scenario} · ${e.source} · peak ${e.peak_score.toFixed(2)} `, triageControl(e)));
      li.addEventListener("click", (event) => { if (!["IMG", "BUTTON", "SELECT", "OPTION"].includes(event.target.tagName)) openEvent(li, e.id); });
      return li;
    }));
    showStatus(events.length ? `${events.length} events` : "no events yet: run a scenario on a source (vigil run, or POST /api/v1/jobs/run)");
    const runners = await api("/api/v1/runner");
    document.querySelector("#runners").replaceChildren(...(runners.length ? runners.map((r) => el("div", {},
      `job ${r.job_id}: ` + r.sources.map((s) => `${s.source} ${s.fps_processed.toFixed(1)} fps, lag ${s.lag_s.toFixed(2)} s, ${s.events_open} open`).join("; "))) : ["none running"]));
  } catch (error) { showStatus(error.message, true); }
}

document.querySelector("#filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
