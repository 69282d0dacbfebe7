// The last ETL runs, what each source did in them, and "run now" for an admin.

import { el, formatTime, ready, showError } from "./common.js";
import { query } from "./live.js";

const COUNTS = ["rowsRead", "inserted", "updated", "unchanged", "skipped", "rejected"];
const LABELS = { rowsRead: "read", inserted: "inserted", updated: "updated", unchanged: "unchanged", skipped: "skipped", rejected: "rejected" };
const REJECTS_SHOWN = 5;
const RUN = `id status trigger startedAt finishedAt durationMs error
  sources { source status ${COUNTS.join(" ")} error note
    rejects(first: ${REJECTS_SHOWN}) { locator reason } }`;
export const RUNS = `query DashboardRuns { etlRuns(first: 20) { ${RUN} } }`;
export const RUN_EVENTS = `subscription DashboardRunEvents { etlRunEvents { id status } }`;
const RUN_NOW = `mutation DashboardRunNow { runEtl { id status } }`;

function total(run, count) {
  return run.sources.reduce((sum, source) => sum + source[count], 0);
}

function rejectList(source) {
  if (source.rejected === 0) return null;
  const stored = source.rejects.length;
  const more = source.rejected > stored
    ? ` (the first ${stored} of ${source.rejected}; SourceRun.rejects lists up to 100 stored ones)`
    : "";
  return el(
    "div",
    {},
    el("p", {}, `Rejected rows and why${more}:`),
    el(
      "ul",
      { class: "rejects" },
      ...source.rejects.map((reject) =>
        el("li", { dataset: { locator: reject.locator } }, el("code", {}, reject.locator), ` ${reject.reason}`),
      ),
    ),
  );
}

function sourceRows(run) {
  const rows = [];
  for (const source of run.sources) {
    const detailsId = `run-${run.id}-${source.source}-details`;
    const why = [source.error, source.note].filter(Boolean).join(" — ");
    const rejected =
      source.rejected > 0 || why
        ? el(
            "button",
            {
              type: "button",
              class: "link",
              "aria-expanded": "false",
              "aria-controls": detailsId,
              onclick: (event) => {
                const row = document.getElementById(detailsId);
                row.hidden = !row.hidden;
                event.currentTarget.setAttribute("aria-expanded", String(!row.hidden));
              },
            },
            source.rejected > 0 ? String(source.rejected) : `0 · ${source.error ? "error" : "note"}`,
          )
        : String(source.rejected);
    rows.push(
      el(
        "tr",
        { dataset: { source: source.source } },
        el("th", { scope: "row" }, source.source),
        el("td", { class: `status ${source.status.toLowerCase()}` }, source.status.toLowerCase()),
        ...COUNTS.slice(0, -1).map((count) =>
          el("td", { class: "num", dataset: { count } }, String(source[count])),
        ),
        el("td", { class: "num", dataset: { count: "rejected" } }, rejected),
      ),
    );
    rows.push(
      el(
        "tr",
        { id: detailsId, class: "why", hidden: true },
        el(
          "td",
          { colspan: String(COUNTS.length + 2) },
          why ? el("p", {}, why) : null,
          rejectList(source),
        ),
      ),
    );
  }
  return rows;
}

function runBlock(run, open) {
  const running = run.status === "RUNNING";
  const duration = run.durationMs === null ? "" : ` · ${(run.durationMs / 1000).toFixed(1)} s`;
  return el(
    "details",
    { class: "run", open, dataset: { run: String(run.id), status: run.status } },
    el(
      "summary",
      {},
      el("strong", {}, `Run ${run.id}`),
      " ",
      el("span", { class: `status ${run.status.toLowerCase()}` }, run.status.toLowerCase()),
      ` · ${run.trigger} · ${formatTime(run.startedAt)}${duration} · ${total(run, "inserted")} inserted, ${total(run, "rejected")} rejected`,
    ),
    running
      ? el(
          "p",
          {},
          el("label", {}, "In progress ", el("progress", { "aria-label": `run ${run.id} in progress` })),
          ` ${total(run, "rowsRead")} rows read so far`,
        )
      : null,
    run.error ? el("p", { class: "error-text" }, run.error) : null,
    el(
      "div",
      { class: "scroll" },
      el(
        "table",
        {},
        el("caption", { class: "visually-hidden" }, `Sources of run ${run.id}`),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col" }, "Source"),
            el("th", { scope: "col" }, "Status"),
            ...COUNTS.map((count) => el("th", { scope: "col", class: "num" }, LABELS[count])),
          ),
        ),
        el("tbody", {}, ...sourceRows(run)),
      ),
    ),
  );
}

export class RunsView {
  constructor(onRun) {
    this.list = document.getElementById("runs-list");
    this.token = null; // in this object only: never stored, never in the URL
    const input = document.getElementById("admin-token");
    const button = document.getElementById("run-now-button");
    const result = document.getElementById("run-now-result");
    input.addEventListener("input", () => {
      this.token = input.value || null;
      button.hidden = !this.token;
    });
    document.getElementById("run-now").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!this.token) return;
      button.disabled = true;
      result.textContent = "starting…";
      try {
        const data = await query(RUN_NOW, {}, this.token);
        result.textContent = `run ${data.runEtl.id}: ${data.runEtl.status.toLowerCase()}`;
        onRun();
      } catch (error) {
        result.textContent = `refused: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
  }

  async refresh() {
    try {
      const data = await query(RUNS);
      const opened = new Set(
        [...this.list.querySelectorAll("details[open]")].map((d) => d.dataset.run),
      );
      const first = opened.size === 0;
      this.list.replaceChildren(
        ...data.etlRuns.map((run, index) =>
          runBlock(run, first ? index === 0 : opened.has(String(run.id))),
        ),
      );
      if (!data.etlRuns.length) this.list.append(el("p", {}, "No ETL run yet."));
      ready();
    } catch (error) {
      showError(error);
    }
  }
}
