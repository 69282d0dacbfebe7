// What the client checks share: the queries, the documented Apollo cache, a fetch that
// records what went over the wire, and the cursor walks' bookkeeping.
import { createHash } from "node:crypto";
import { InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

export const PAGE_SIZE = 7;

export const INTROSPECTION = `query Introspect { __schema { queryType { name } types { name } } }`;

// The fields of a row: `id` lets a normalizing cache store a record once.
const ROW = `fragment Row on Record { id source recordId timestamp value asset { id } }`;

/** A page of `records`, oldest first: `size` rows from the cursor `from` on. */
const pageQuery = (name, { size, from, more, cursor }) => `
  query ${name}($${size}: Int, $${from}: String) {
    records(${size}: $${size}, ${from}: $${from}, order: ASC) {
      edges { cursor node { ...Row } }
      pageInfo { ${more} ${cursor} }
    }
  }
  ${ROW}
`;

/** The two ways through `records`: forward from the oldest row, backward from the newest. */
export const WALKS = {
  forward: { size: "first", from: "after", more: "hasNextPage", cursor: "endCursor" },
  backward: { size: "last", from: "before", more: "hasPreviousPage", cursor: "startCursor" },
};
export const PAGE = pageQuery("Page", WALKS.forward);
export const BACKWARD = pageQuery("Back", WALKS.backward);

/** Walk `records` to its end, one page at a time: `fetchPage(variables)` answers a page's
 * data. The rows come back oldest first whichever way the walk went. */
export async function walk(direction, fetchPage) {
  const { size, more, cursor, from } = WALKS[direction];
  const walked = [];
  let page = await fetchPage({ [size]: PAGE_SIZE });
  let pages = 1;
  for (;;) {
    const got = rows(page.records.edges);
    if (direction === "forward") walked.push(...got);
    else walked.unshift(...got);
    if (!page.records.pageInfo[more]) break;
    page = await fetchPage({ [size]: PAGE_SIZE, [from]: page.records.pageInfo[cursor] });
    pages += 1;
    if (pages > 1000) throw new Error("the walk does not end");
  }
  return { pages, rows: walked };
}

/** Apollo Client's InMemoryCache with the typePolicies docs/api.md "Client caches" documents,
 * and no others (a test holds the two texts equal). */
export function documentedCache() {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          // One list per filter set and order; first/last/after/before page within it.
          records: relayStylePagination(["source", "recordId", "asset", "symbol", "since",
                                         "until", "order"]),
        },
      },
      Stats: { keyFields: [] },   // singleton: a second stats query merges into the first
      Health: { keyFields: [] },  // singleton
      RowTotals: { merge: true }, // Stats.rows: merge the counters two queries selected
    },
  });
}

/** A full walk with `fetchMore`, each page merged by relayStylePagination into one cached
 * list; that list, read back from the cache, is the walk's result. */
export async function apolloWalk(apollo, direction) {
  const query = gql(direction === "forward" ? PAGE : BACKWARD);
  let watched;
  let first;
  const { pages } = await walk(direction, async (variables) => {
    if (watched === undefined) {
      first = variables;
      const { data } = await apollo.query({ query, variables });
      watched = apollo.watchQuery({ query, variables });
      watched.subscription = watched.subscribe(() => {});
      return data;
    }
    return (await watched.fetchMore({ variables })).data;
  });
  watched.subscription.unsubscribe();
  const merged = apollo.readQuery({ query, variables: first });
  return { pages, rows: rows(merged.records.edges) };
}

export const RUN_ETL = `mutation Run { runEtl(sources: ["csv"]) { id status } }`;

export const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** A fetch that notes each request: method, whether its body is a batch, whether it is a
 * hashed (APQ) request without its query. */
export function recordingFetch(seen) {
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const body = init.body ? JSON.parse(init.body) : null;
    const items = Array.isArray(body) ? body : body ? [body] : [];
    const extensions = url.searchParams.get("extensions") ?? JSON.stringify(items[0]?.extensions ?? null);
    seen.push({
      method: init.method ?? "GET",
      batch: Array.isArray(body),
      size: items.length,
      hashedOnly: extensions.includes("persistedQuery") && !(url.searchParams.get("query") ?? items[0]?.query),
    });
    return fetch(input, init);
  };
}

/** The rows of a page as [source, recordId, timestamp]. */
export const rows = (edges) => edges.map(({ node }) => [node.source, node.recordId, node.timestamp]);

/** The error codes of a failed operation, whatever the client wrapped them in. */
export function codes(error) {
  const errors = error?.errors ?? error?.response?.errors ?? error?.graphQLErrors ?? [];
  return errors.map((e) => e.extensions?.code ?? null);
}
