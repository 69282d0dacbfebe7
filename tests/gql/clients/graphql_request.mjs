// graphql-request against a served app: node graphql_request.mjs <base URL> <admin token>.
// Introspection, a forward cursor walk with variables and a fragment, batchRequests, and the
// mutation without and with the token.
import { GraphQLClient, batchRequests } from "graphql-request";
import { INTROSPECTION, PAGE, PAGE_SIZE, RUN_ETL, codes, recordingFetch, rows } from "./common.mjs";

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
const walked = [];
let page = await client.request(PAGE, { first: PAGE_SIZE });
let pages = 1;
walked.push(...rows(page.records.edges));
while (page.records.pageInfo.hasNextPage) {
  page = await client.request(PAGE, { first: PAGE_SIZE, after: page.records.pageInfo.endCursor });
  walked.push(...rows(page.records.edges));
  pages += 1;
  if (pages > 1000) throw new Error("the walk does not end");
}
const documents = [1, 2, 3].map((first) => ({ document: PAGE, variables: { first } }));
const batched = await client.batchRequests(documents);
// The module-level function too (it sends with the global fetch).
const again = await batchRequests(url, documents);
const report = {
  queryType: introspection.__schema.queryType.name,
  walk: { pages, rows: walked },
  batch: batched.map((answer) => rows(answer.data.records.edges)),
  batchAgain: again.map((answer) => rows(answer.data.records.edges)),
  anonymous: await attempt(() => client.request(RUN_ETL)),
  admin: await attempt(() => client.request(RUN_ETL, {}, { authorization: `Bearer ${token}` })),
  seen,
};
console.log(JSON.stringify(report));
