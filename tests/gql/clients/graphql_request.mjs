// graphql-request against a served app: node graphql_request.mjs <base URL> <admin token>.
// Introspection, a forward cursor walk with variables and a fragment, batchRequests, and the
// mutation without and with the token.
import { GraphQLClient, batchRequests } from "graphql-request";
import { INTROSPECTION, PAGE, RUN_ETL, codes, recordingFetch, rows, walk } from "./common.mjs";

const [base, token] = process.argv.slice(2);
const url = `${base}/graphql`;
const seen = [];
const client = new GraphQLClient(url, { fetch: recordingFetch(seen) });

async function attempt(run) {
  try {
    return { data: await run() };
  } catch (error) {
    return { codes: codes(error) };
  }
}

const introspection = await client.request(INTROSPECTION);
const walked = await walk("forward", (variables) => client.request(PAGE, variables));
const documents = [1, 2, 3].map((first) => ({ document: PAGE, variables: { first } }));
const batched = await client.batchRequests(documents);
// The module-level function too (it sends with the global fetch).
const again = await batchRequests(url, documents);
const report = {
  queryType: introspection.__schema.queryType.name,
  walk: walked,
  batch: batched.map((answer) => rows(answer.data.records.edges)),
  batchAgain: again.map((answer) => rows(answer.data.records.edges)),
  anonymous: await attempt(() => client.request(RUN_ETL)),
  admin: await attempt(() => client.request(RUN_ETL, {}, { authorization: `Bearer ${token}` })),
  seen,
};
console.log(JSON.stringify(report));
