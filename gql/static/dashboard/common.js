// Formatting, colours and small DOM helpers shared by the dashboard's views.

/** Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), the
 * yellow last: it is the hardest to see on white. */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
const KNOWN_SOURCES = ["coinpaprika", "coingecko", "csv", "csv2"];

/** A source's colour and line dash: fixed for the known sources, then by name. */
export function sourceStyle(source, others) {
  let index = KNOWN_SOURCES.indexOf(source);
  if (index < 0) {
    const extra = [...new Set(others)].filter((s) => !KNOWN_SOURCES.includes(s)).sort();
    index = KNOWN_SOURCES.length + Math.max(0, extra.indexOf(source));
  }
  return { stroke: PALETTE[index % PALETTE.length], dash: DASHES[index % DASHES.length] };
}

// Made once: toLocaleString builds a formatter on every call (slow over thousands of cells).
const CENTS = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SIGNIFICANT = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 });

/** A USD price: two decimals from 1 up, six significant digits below. */
export function formatPrice(value) {
  return Math.abs(value) >= 1 ? CENTS.format(value) : SIGNIFICANT.format(value);
}

export function formatPct(value) {
  return CENTS.format(value);
}

/** How long ago `timestamp` (ISO-8601) was, shortly: "42 s", "5 min", "3 h", "12 d", "4 y". */
export function formatAge(timestamp, now = Date.now()) {
  const seconds = Math.max(0, (now - Date.parse(timestamp)) / 1000);
  const steps = [
    [60, 1, "s"],
    [3600, 60, "min"],
    [86400, 3600, "h"],
    [86400 * 365, 86400, "d"],
  ];
  for (const [below, unit, name] of steps) {
    if (seconds < below) return `${Math.floor(seconds / unit)} ${name}`;
  }
  return `${Math.floor(seconds / (86400 * 365))} y`;
}

export function formatTime(timestamp) {
  return timestamp.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, " UTC");
}

/** A new element: `el("td", {class: "num", dataset: {value: 1}}, "text", child)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

export function assetLink(asset) {
  return el(
    "a",
    { href: `/assets/${encodeURIComponent(asset.id)}`, title: asset.name },
    asset.symbol,
    el("span", { class: "name" }, ` ${asset.name}`),
  );
}

/** A price cell: the formatted value, its raw number in `data-value`. */
export function priceCell(value, attributes = {}) {
  return el(
    "td",
    { class: "num", ...attributes, dataset: { value: String(value), ...(attributes.dataset || {}) } },
    el("span", { class: "value" }, formatPrice(value)),
  );
}

export function pollSeconds() {
  const meta = document.querySelector('meta[name="kasparro-poll-seconds"]');
  const seconds = Number(meta && meta.content);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 10;
}

/** The page is drawn: tests and people can rely on what it shows. */
export function ready() {
  if (!performance.getEntriesByName("kasparro-ready").length) performance.mark("kasparro-ready");
  document.body.dataset.state = "ready";
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  const error = document.getElementById("error");
  error.hidden = true;
}

export function showError(error) {
  const box = document.getElementById("error");
  box.textContent = `Could not load the data: ${error.message || error}`;
  box.hidden = false;
  document.body.dataset.state = "error";
}
