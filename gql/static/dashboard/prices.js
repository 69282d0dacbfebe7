// The latest prices (one row per asset) and the divergences (widest spread first).

import {
  assetLink,
  el,
  formatAge,
  formatPct,
  formatTime,
  priceCell,
  ready,
  showError,
  sourceStyle,
} from "./common.js";
import { query } from "./live.js";

const QUOTE = "source value deviationPct outlier";
// Two requests, not one document: latestPrices alone is answered by the server's compiled
// path (gql.compiled); beside another root field it takes the general one, many times slower.
export const LATEST = `query DashboardLatest {
  latestPrices { asset { id symbol name } source value timestamp }
}`;
export const CONSENSUS = `query DashboardConsensus {
  consensus { asset { id } median spreadPct quotes { ${QUOTE} } }
}`;
export const PRICE_CHANGES = `subscription DashboardPriceChanges {
  priceChanges { asset { id } source value timestamp }
}`;
export const DIVERGENCES = `query DashboardDivergences($min: Float!) {
  divergences(minSpreadPct: $min, first: 100) {
    asset { id symbol name } median min max spreadPct quotes { ${QUOTE} }
  }
}`;

/** One row per asset: its consensus, spread and each source's newest quote. */
function rows(data) {
  const consensus = new Map(data.consensus.map((c) => [c.asset.id, c]));
  const byAsset = new Map();
  for (const price of data.latestPrices) {
    let row = byAsset.get(price.asset.id);
    if (!row) {
      row = { asset: price.asset, quotes: new Map(), consensus: consensus.get(price.asset.id) };
      byAsset.set(price.asset.id, row);
    }
    row.quotes.set(price.source, price);
  }
  return [...byAsset.values()];
}

function quoteNote(row, source) {
  const kept = row.consensus && row.consensus.quotes.find((q) => q.source === source);
  if (!kept) return { outlier: false, note: "too old for the consensus" };
  const deviation = `${kept.deviationPct >= 0 ? "+" : ""}${formatPct(kept.deviationPct)} % from consensus`;
  return { outlier: kept.outlier, note: deviation };
}

const SOURCE_KEY = "source:"; // sort keys of the source columns: no clash with "asset"…

export class PricesView {
  constructor() {
    this.table = document.getElementById("prices-table");
    this.filter = document.getElementById("symbol-filter");
    this.sort = { key: "asset", descending: false };
    this.data = null;
    this.filter.addEventListener("input", () => this.draw());
  }

  async refresh() {
    try {
      const [latest, consensus] = await Promise.all([query(LATEST), query(CONSENSUS)]);
      this.data = { ...latest, ...consensus };
      this.draw();
      ready();
    } catch (error) {
      showError(error);
    }
  }

  sortValue(row, key) {
    if (key === "asset") return row.asset.symbol;
    if (key === "consensus") return row.consensus ? row.consensus.median : -Infinity;
    if (key === "spread") return row.consensus ? row.consensus.spreadPct : -Infinity;
    const quote = row.quotes.get(key.slice(SOURCE_KEY.length));
    return quote ? quote.value : -Infinity;
  }

  header(key, label) {
    const active = this.sort.key === key;
    const button = el(
      "button",
      {
        type: "button",
        class: "sort",
        onclick: () => {
          this.sort = { key, descending: active ? !this.sort.descending : key !== "asset" };
          this.draw();
          this.table.querySelector(`th[data-key="${CSS.escape(key)}"] button`).focus();
        },
      },
      label,
    );
    const order = this.sort.descending ? "descending" : "ascending";
    return el(
      "th",
      { scope: "col", class: key === "asset" ? "" : "num", dataset: { key }, "aria-sort": active ? order : "none" },
      button,
    );
  }

  draw() {
    if (!this.data) return;
    const all = rows(this.data);
    const sources = [...new Set(this.data.latestPrices.map((p) => p.source))].sort();
    const wanted = this.filter.value.trim().toUpperCase();
    const shown = all.filter((row) => !wanted || row.asset.symbol.includes(wanted));
    const { key, descending } = this.sort;
    shown.sort((a, b) => {
      const x = this.sortValue(a, key);
      const y = this.sortValue(b, key);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return (descending ? -order : order) || a.asset.id.localeCompare(b.asset.id);
    });
    const head = el(
      "tr",
      {},
      this.header("asset", "Asset"),
      this.header("consensus", "Consensus (USD)"),
      this.header("spread", "Spread %"),
      ...sources.map((source) => this.header(SOURCE_KEY + source, source)),
    );
    this.table.tHead.replaceChildren(head);
    const now = Date.now();
    this.table.tBodies[0].replaceChildren(
      ...shown.map((row) => {
        const consensus = row.consensus
          ? priceCell(row.consensus.median, { dataset: { kind: "consensus" } })
          : el("td", { class: "num", dataset: { kind: "consensus" } }, "–");
        const spread = row.consensus
          ? el(
              "td",
              { class: "num", dataset: { kind: "spread", value: String(row.consensus.spreadPct) } },
              formatPct(row.consensus.spreadPct),
            )
          : el("td", { class: "num", dataset: { kind: "spread" } }, "–");
        const cells = sources.map((source) => {
          const quote = row.quotes.get(source);
          if (!quote) return el("td", { class: "num missing", dataset: { source } }, "–");
          const { outlier, note } = quoteNote(row, source);
          const cell = priceCell(quote.value, {
            class: outlier ? "num outlier" : "num",
            title: `${formatTime(quote.timestamp)}; ${note}`,
            dataset: { source, timestamp: quote.timestamp },
          });
          cell.style.borderLeftColor = sourceStyle(source, sources).stroke;
          if (outlier) cell.prepend(el("span", { class: "flag", "aria-label": "outlier" }, "⚠ "));
          cell.append(
            el("span", { class: "age", "aria-label": `${formatAge(quote.timestamp, now)} old` }, formatAge(quote.timestamp, now)),
          );
          return cell;
        });
        return el(
          "tr",
          { dataset: { asset: row.asset.id } },
          el("th", { scope: "row" }, assetLink(row.asset)),
          consensus,
          spread,
          ...cells,
        );
      }),
    );
  }
}

export class DivergencesView {
  constructor(onChange) {
    this.table = document.getElementById("divergences-table");
    this.input = document.getElementById("min-spread");
    this.input.addEventListener("change", onChange);
  }

  async refresh() {
    const min = Number(this.input.value);
    try {
      const data = await query(DIVERGENCES, { min: Number.isFinite(min) && min >= 0 ? min : 1 });
      const sources = data.divergences.flatMap((d) => d.quotes.map((q) => q.source));
      this.table.tBodies[0].replaceChildren(
        ...data.divergences.map((d) =>
          el(
            "tr",
            { dataset: { asset: d.asset.id } },
            el("th", { scope: "row" }, assetLink(d.asset)),
            el("td", { class: "num", dataset: { kind: "spread", value: String(d.spreadPct) } }, formatPct(d.spreadPct)),
            priceCell(d.median, { dataset: { kind: "consensus" } }),
            priceCell(d.min, { dataset: { kind: "min" } }),
            priceCell(d.max, { dataset: { kind: "max" } }),
            el(
              "td",
              {},
              el(
                "ul",
                { class: "quotes" },
                ...d.quotes.map((q) => {
                  const item = el(
                    "li",
                    { class: q.outlier ? "outlier" : "", dataset: { source: q.source, value: String(q.value) } },
                    q.outlier ? el("span", { class: "flag", "aria-label": "outlier" }, "⚠ ") : null,
                    `${q.source} `,
                    el("span", { class: "value" }, `${formatPct(q.deviationPct)} %`),
                  );
                  item.style.borderLeftColor = sourceStyle(q.source, sources).stroke;
                  return item;
                }),
              ),
            ),
          ),
        ),
      );
      if (!data.divergences.length) {
        this.table.tBodies[0].append(
          el("tr", {}, el("td", { colspan: "6" }, "No asset's sources disagree by that much.")),
        );
      }
      ready();
    } catch (error) {
      showError(error);
    }
  }
}
