// What the client checks share: the queries, a fetch that records what went over the wire,
// and the forward cursor walk's bookkeeping.
import { createHash } from "node:crypto";

export const PAGE_SIZE = 7;

export const INTROSPECTION = `query Introspect { __schema { queryType { name } types { name } } }`;

export const PAGE = `
  query Page($first: Int, $after: String) {
    records(first: $first, after: $after, order: ASC) {
      edges { cursor node { ...Row } }
      pageInfo { hasNextPage endCursor }
    }
  }
  fragment Row on Record { source recordId timestamp value asset { id } }
`;

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
