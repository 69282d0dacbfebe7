// Apollo Client's InMemoryCache against a served app: node cache.mjs <base URL>.
// With only the documented typePolicies, the same record read under two argument sets is
// one normalized entry, the same for a latest price, and a second `stats` (or `health`)
// query selecting other fields merges into the first instead of replacing it. Apollo's
// warnings (it warns when it must drop cached data) are reported too.
import { ApolloClient, HttpLink, gql } from "@apollo/client";
import { documentedCache } from "./common.mjs";

const [base] = process.argv.slice(2);
const warnings = [];
console.warn = (...args) => warnings.push(args.map(String).join(" "));

const apollo = new ApolloClient({ link: new HttpLink({ uri: `${base}/graphql` }), cache: documentedCache() });
const read = async (text) => (await apollo.query({ query: gql(text) })).data;

// The three oldest records, asked for two ways.
const oldest = await read(`{ records(first: 3, order: ASC) { edges { node { id source value } } } }`);
const newestLast = await read(`{ records(last: 3, order: DESC) { edges { node { id timestamp } } } }`);
const prices = await read(`{ latestPrices(asset: ["bitcoin"]) { id value } }`);
const allPrices = await read(`{ latestPrices { id source } }`);
const STATS = [
  `{ stats { recordsTotal rows { inserted } } }`,
  `{ stats { runsTotal rows { skipped } } }`,
];
const stats = [];
for (const text of STATS) stats.push(await read(text));
await read(`{ health { db } }`);
await read(`{ health { database } }`);
// The first stats query again, from the cache alone: still whole after the second.
const cachedStats = apollo.readQuery({ query: gql(STATS[0]) });
const cache = apollo.cache.extract();
// All of it at once from the server, to compare the merged entry with.
const fresh = await read(`{ stats { recordsTotal runsTotal rows { inserted skipped } } }`);

const ids = (edges) => edges.map(({ node }) => node.id);
console.log(
  JSON.stringify({
    ids: [ids(oldest.records.edges), ids(newestLast.records.edges)],
    priceIds: [prices.latestPrices.map((p) => p.id), allPrices.latestPrices.map((p) => p.id)],
    stats,
    cachedStats,
    fresh,
    cache,
    warnings,
  }),
);
