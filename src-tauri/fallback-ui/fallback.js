// The fallback page: polls `list_jobs` once a second and renders a table.
// Uses only Tauri's internal invoke (no bundler in this folder).
"use strict";
const invoke = (cmd, args) => window.__TAURI_INTERNALS__.invoke(cmd, args);

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function mib(bytes) {
  return bytes == null ? "" : (bytes / 1048576).toFixed(1) + " MiB";
}

async function refresh() {
  const body = document.getElementById("jobs");
  const err = document.getElementById("error");
  try {
    const page = await invoke("list_jobs", { limit: 100 });
    body.replaceChildren();
    if (page.jobs.length === 0) {
      const tr = document.createElement("tr");
      tr.append(cell("No jobs yet.", ""));
      tr.firstChild.colSpan = 5;
      body.append(tr);
    }
    for (const job of page.jobs) {
      const tr = document.createElement("tr");
      tr.dataset.jobId = job.id;
      const pct = job.status === "completed" ? "100%" : Math.round(job.progress.percent) + "%";
      const out = job.output.bytes != null ? `${mib(job.output.bytes)} (source ${mib(job.source.bytes)})` : "";
      tr.append(
        cell(job.source.name),
        cell(job.profile),
        cell(job.status, "status-" + job.status),
        cell(pct),
        cell(out),
      );
      body.append(tr);
    }
    err.textContent = "";
  } catch (e) {
    err.textContent = e && e.message ? `${e.message} (${e.code})` : String(e);
  }
}

refresh();
setInterval(refresh, 1000);
