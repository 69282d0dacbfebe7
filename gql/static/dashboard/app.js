// The dashboard: picks the view the path names and keeps it fresh (live, else polling).

import { AssetView, PRICE_CHANGES as ASSET_CHANGES } from "./asset.js";
import { pollSeconds } from "./common.js";
import { keepFresh } from "./live.js";
import { DivergencesView, PRICE_CHANGES, PricesView } from "./prices.js";
import { RUN_EVENTS, RunsView } from "./runs.js";

function showMode(mode, reason) {
  const status = document.getElementById("live");
  document.body.dataset.live = mode;
  status.textContent =
    mode === "live" ? "Live updates" : `Refreshing every ${pollSeconds()} s`;
  status.title = reason;
}

function start() {
  const path = window.location.pathname;
  let view;
  let section;
  let subscription = PRICE_CHANGES;
  let variables = {};
  if (path.startsWith("/assets/")) {
    const assetId = decodeURIComponent(path.slice("/assets/".length));
    view = new AssetView(assetId);
    section = "asset";
    subscription = ASSET_CHANGES;
    variables = { asset: [assetId] };
  } else if (path === "/spread") {
    view = new DivergencesView(() => view.refresh());
    section = "divergences";
  } else if (path === "/runs") {
    view = new RunsView(() => view.refresh());
    section = "runs";
    subscription = RUN_EVENTS;
  } else {
    view = new PricesView();
    section = "prices";
  }
  const graphiql = document.querySelector('meta[name="kasparro-graphiql"]');
  if (!graphiql || graphiql.content !== "on") {
    for (const link of document.querySelectorAll("a[data-graphiql]")) link.hidden = true;
  }
  document.getElementById(section).hidden = false;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === section) link.setAttribute("aria-current", "page");
  }
  keepFresh({
    refresh: () => view.refresh(),
    subscription,
    variables,
    pollSeconds: pollSeconds(),
    onMode: showMode,
  });
}

start();
