// One asset: a line per source (bucket closes) over an interval and range, the spread
// between sources per bucket, the same data as a table, a GraphiQL link and a CSV download.

import { el, formatPct, formatPrice, formatTime, priceCell, ready, showError, sourceStyle } from "./common.js";
import { query } from "./live.js";

export const INTERVALS = [
  ["MINUTE_5", "5m"],
  ["HOUR_1", "1h"],
  ["DAY_1", "1d"],
  ["WEEK_1", "1w"],
];
const DAY = 86400 * 1000;
export const RANGES = [
  ["1d", DAY],
  ["7d", 7 * DAY],
  ["30d", 30 * DAY],
  ["90d", 90 * DAY],
  ["1y", 365 * DAY],
  ["all", null],
];
const MAX_BUCKETS = 1000; // MAX_PAGE_SIZE's default

const ASSET = `query DashboardAsset($asset: [String!]) {
  latestPrices(asset: $asset) { asset { id symbol name } source value timestamp }
  consensus(asset: $asset) { median spreadPct }
}`;
export const PRICE_CHANGES = `subscription DashboardAssetChanges($asset: [String!]) {
  priceChanges(asset: $asset) { source value timestamp }
}`;

/** The candles query: one alias per source, each narrowed to that source. */
export function candlesQuery(sources) {
  const parameters = sources.map((_, i) => `, $s${i}: [String!]`).join("");
  const fields = sources
    .map(
      (_, i) =>
        `  s${i}: candles(asset: $asset, source: $s${i}, interval: $interval, since: $since, first: ${MAX_BUCKETS}) { start close }`,
    )
    .join("\n");
  return `query DashboardCandles($asset: String!, $interval: CandleInterval!, $since: DateTime${parameters}) {\n${fields}\n}`;
}

function radios(fieldset, name, options, current, onChange) {
  fieldset.querySelectorAll("label").forEach((label) => label.remove());
  for (const [value, label] of options) {
    const input = el("input", { type: "radio", name, value, checked: value === current });
    input.addEventListener("change", () => onChange(value));
    fieldset.append(el("label", { class: "choice" }, input, label));
  }
}

/** An axis tick: short (no cents from 1000 up), since the axis has little room. */
function formatTick(value) {
  if (Math.abs(value) >= 1000) return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return formatPrice(value);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export class AssetView {
  constructor(assetId) {
    this.assetId = assetId;
    const params = new URLSearchParams(window.location.search);
    this.interval = INTERVALS.some(([v]) => v === params.get("interval")) ? params.get("interval") : "DAY_1";
    this.range = RANGES.some(([v]) => v === params.get("range")) ? params.get("range") : "1y";
    this.charts = [];
    radios(document.getElementById("interval"), "interval", INTERVALS, this.interval, (v) => {
      this.interval = v;
      this.refresh();
    });
    const ranges = RANGES.map(([v]) => [v, v]);
    radios(document.getElementById("range"), "range", ranges, this.range, (v) => {
      this.range = v;
      this.refresh();
    });
    // The charts follow their box's width (the window's, a scroll bar appearing).
    new ResizeObserver(() => this.resize()).observe(document.getElementById("chart"));
  }

  resize() {
    for (const chart of this.charts) {
      const width = chart.root.parentElement.clientWidth;
      if (width && width !== chart.width) chart.setSize({ width, height: chart.height });
    }
  }

  async refresh() {
    try {
      if (await this.load()) ready();
    } catch (error) {
      showError(error);
    }
  }

  async load() {
    // A switch while an earlier load is still under way: only the newest load draws.
    const load = (this.loads = (this.loads || 0) + 1);
    const about = await query(ASSET, { asset: [this.assetId] });
    if (!about.latestPrices.length) throw new Error(`no prices for asset "${this.assetId}"`);
    const asset = about.latestPrices[0].asset;
    const sources = [...new Set(about.latestPrices.map((p) => p.source))].sort();
    const newest = Math.max(...about.latestPrices.map((p) => Date.parse(p.timestamp)));
    const span = RANGES.find(([v]) => v === this.range)[1];
    const variables = {
      asset: this.assetId,
      interval: this.interval,
      since: span === null ? null : new Date(newest - span).toISOString(),
    };
    sources.forEach((source, i) => (variables[`s${i}`] = [source]));
    const document_ = candlesQuery(sources);
    const data = await query(document_, variables);
    if (load !== this.loads) return false;

    document.title = `${asset.symbol} · Kasparro`;
    const consensus = about.consensus[0];
    const title = document.getElementById("asset-title");
    title.textContent = `${asset.name} (${asset.symbol})`;
    if (consensus) {
      title.append(
        el("span", { class: "sub", dataset: { kind: "consensus", value: String(consensus.median) } }, ` consensus ${formatPrice(consensus.median)} USD, spread ${formatPct(consensus.spreadPct)} %`),
      );
    }
    const search = new URLSearchParams({ interval: this.interval, range: this.range });
    history.replaceState(null, "", `${window.location.pathname}?${search}`);
    document.getElementById("graphiql-link").href =
      `/graphql?q=${encodeURIComponent(document_)}&variables=${encodeURIComponent(JSON.stringify(variables))}`;
    const csv = new URLSearchParams({ asset: this.assetId });
    if (variables.since) csv.set("since", variables.since);
    document.getElementById("csv-link").href = `/data.csv?${csv}`;

    this.draw(asset, sources, sources.map((_, i) => data[`s${i}`]));
    return true;
  }

  draw(asset, sources, candles) {
    const starts = [...new Set(candles.flatMap((list) => list.map((c) => c.start)))].sort();
    const index = new Map(starts.map((start, i) => [start, i]));
    const closes = candles.map((list) => {
      const column = new Array(starts.length).fill(null);
      for (const candle of list) column[index.get(candle.start)] = candle.close;
      return column;
    });
    const spreads = starts.map((_, i) => {
      const values = closes.map((column) => column[i]).filter((v) => v !== null);
      if (values.length < 2) return null;
      return ((Math.max(...values) - Math.min(...values)) / median(values)) * 100;
    });
    const xs = starts.map((start) => Date.parse(start) / 1000);
    const label = INTERVALS.find(([v]) => v === this.interval)[1];

    for (const chart of this.charts) chart.destroy();
    this.charts = [];
    const width = document.getElementById("chart").clientWidth || 600;
    const styles = sources.map((source) => sourceStyle(source, sources));
    this.charts.push(
      new uPlot(
        {
          width,
          height: 320,
          title: `${asset.symbol} close per ${label} bucket, USD`,
          scales: { x: { time: true } },
          series: [
            {},
            ...sources.map((source, i) => ({
              label: source,
              stroke: styles[i].stroke,
              dash: styles[i].dash,
              width: 2,
              spanGaps: false, // a source without a bucket is a gap, not a line across it
              value: (u, v) => (v === null ? "–" : formatPrice(v)),
            })),
          ],
          axes: [{}, { size: 80, values: (u, ticks) => ticks.map(formatTick) }],
        },
        [xs, ...closes],
        document.getElementById("chart"),
      ),
    );
    this.charts.push(
      new uPlot(
        {
          width,
          height: 160,
          title: "Spread between sources per bucket, %",
          scales: { x: { time: true } },
          series: [{}, { label: "spread %", stroke: "#000000", width: 1.5, spanGaps: false }],
          axes: [{}, { size: 70 }],
        },
        [xs, spreads],
        document.getElementById("spread-chart"),
      ),
    );

    const first = starts.length ? formatTime(starts[0]) : "";
    const last = starts.length ? formatTime(starts[starts.length - 1]) : "";
    const lasts = sources
      .map((source, i) => {
        const column = closes[i].filter((v) => v !== null);
        return column.length ? `${source} ${formatPrice(column[column.length - 1])}` : null;
      })
      .filter(Boolean);
    document.getElementById("chart-summary").textContent = starts.length
      ? `${starts.length} ${label} buckets from ${first} to ${last}; last close: ${lasts.join(", ")} USD. The table below holds every value.`
      : "No prices in this range.";
    const widest = Math.max(...spreads.filter((v) => v !== null));
    document.getElementById("spread-summary").textContent = Number.isFinite(widest)
      ? `Widest spread between sources in this range: ${formatPct(widest)} %.`
      : "Fewer than two sources in every bucket: no spread.";

    const table = document.getElementById("candles-table");
    table.dataset.interval = this.interval;
    table.tHead.replaceChildren(
      el("tr", {}, el("th", { scope: "col" }, "Bucket start"), ...sources.map((s) => el("th", { scope: "col", class: "num" }, s)), el("th", { scope: "col", class: "num" }, "Spread %")),
    );
    table.tBodies[0].replaceChildren(
      ...starts.map((start, i) =>
        el(
          "tr",
          { dataset: { start } },
          el("th", { scope: "row" }, formatTime(start)),
          ...sources.map((source, s) =>
            closes[s][i] === null ? el("td", { class: "num", dataset: { source } }, "–") : priceCell(closes[s][i], { dataset: { source } }),
          ),
          el("td", { class: "num" }, spreads[i] === null ? "–" : formatPct(spreads[i])),
        ),
      ),
    );
  }
}
