// Scenario editor: YAML in a textarea, saved as a new version with an optimistic lock.
"use strict";

const TEMPLATE = `name: my-scenario
description: What this scenario watches for.
target: {kind: frame}
alert_threshold: 0.6
alert_classes: [crowd]
classes:
  - name: crowd
    prompts: ["many people walking together", "a crowd of pedestrians"]
  - name: quiet
    prompts: ["an empty walkway", "one person walking alone"]
`;

const editor = { name: "", version: null };

async function loadList(selected) {
  const scenarios = await api("/api/v1/scenarios");
  const select = document.querySelector("#scenario");
  select.replaceChildren(el("option", { value: "" }, "— new scenario —"),
    ...scenarios.map((s) => el("option", { value: s.name }, `${s.name} (v${s.version})`)));
  select.value = selected || "";
}

async function open(name) {
  if (!name) {
    Object.assign(editor, { name: "", version: null });
    document.querySelector("#yaml").value = TEMPLATE;
    document.querySelector("#version").textContent = "new";
    return;
  }
  const scenario = await api(`/api/v1/scenarios/${encodeURIComponent(name)}`);
  Object.assign(editor, { name: scenario.name, version: scenario.version });
  document.querySelector("#yaml").value = scenario.yaml;
  document.querySelector("#version").textContent = `version ${scenario.version} of ${scenario.versions}`;
  document.querySelector("#review-link").href = `review.html?scenario=${encodeURIComponent(name)}`;
  document.querySelector("#export-link").href = `/api/v1/scenarios/${encodeURIComponent(name)}/export?format=csv`;
  history.replaceState(null, "", `?scenario=${encodeURIComponent(name)}`);
}

async function save() {
  const yaml = document.querySelector("#yaml").value;
  try {
    const saved = editor.name
      ? await api(`/api/v1/scenarios/${encodeURIComponent(editor.name)}`,
        { method: "PUT", body: { yaml, base_version: editor.version } })
      : await api("/api/v1/scenarios", { method: "POST", body: { yaml } });
    await loadList(saved.name);
    await open(saved.name);
    showStatus(`saved ${saved.name} as version ${saved.version}`);
  } catch (error) {
    showStatus(error.status === 409 ? `conflict: ${error.message}` : error.message, true);
  }
}

async function autolabel() {
  if (!editor.name) { showStatus("save the scenario first", true); return; }
  try {
    let job = await api(`/api/v1/scenarios/${encodeURIComponent(editor.name)}/autolabel`, { method: "POST", body: {} });
    while (["queued", "running"].includes(job.status)) {
      showStatus(`auto-labeling: ${(job.progress * 100).toFixed(0)}% ${job.message || ""}`);
      await new Promise((resolve) => setTimeout(resolve, 700));
      job = await api(`/api/v1/jobs/${job.id}`);
    }
    if (job.status === "succeeded") showStatus(`labeled ${job.result.labeled} items (${job.result.method}); now review them`);
    else showStatus(`auto-label ${job.status}: ${job.error || ""}`, true);
  } catch (error) { showStatus(error.message, true); }
}

document.querySelector("#scenario").addEventListener("change", (event) => open(event.target.value).catch((e) => showStatus(e.message, true)));
document.querySelector("#save").addEventListener("click", save);
document.querySelector("#autolabel").addEventListener("click", autolabel);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); save(); }
});

(async () => {
  try {
    const wanted = new URLSearchParams(location.search).get("scenario") || "";
    await loadList(wanted);
    await open(document.querySelector("#scenario").value);
  } catch (error) { showStatus(error.message, true); }
})();
