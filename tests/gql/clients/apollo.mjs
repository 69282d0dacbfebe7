// Apollo Client against a served app: node apollo.mjs <base URL> <admin token>.
// For each link (HttpLink, BatchHttpLink, PersistedQueryLink over POST and over GET):
// introspection, a forward cursor walk with variables and a fragment, merged by
// relayStylePagination (only the typePolicies docs/api.md documents), and the mutation without
// and with the token. walks.mjs walks backward too.
import { ApolloClient, HttpLink, gql } from "@apollo/client";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import {
  INTROSPECTION,
  PAGE,
  RUN_ETL,
  apolloWalk,
  codes,
  documentedCache,
  recordingFetch,
  rows,
  sha256,
} from "./common.mjs";

const [base, token] = process.argv.slice(2);
const uri = `${base}/graphql`;

function links(fetch) {
  return {
    http: new HttpLink({ uri, fetch }),
    batch: new BatchHttpLink({ uri, fetch, batchMax: 5, batchInterval: 20 }),
    apq: new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri, fetch })),
    apqGet: new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
      new HttpLink({ uri, fetch }),
    ),
  };
}

function client(link) {
  return new ApolloClient({ link, cache: documentedCache() });
}

async function mutation(apollo, headers) {
  try {
    const { data } = await apollo.mutate({ mutation: gql(RUN_ETL), context: { headers } });
    return { data };
  } catch (error) {
    return { codes: codes(error) };
  }
}

const report = {};
for (const name of ["http", "batch", "apq", "apqGet"]) {
  const seen = [];
  const apollo = client(links(recordingFetch(seen))[name]);
  const introspection = await apollo.query({ query: gql(INTROSPECTION) });
  // Three queries at once: BatchHttpLink sends them as one batch.
  const together = await Promise.all(
    [1, 2, 3].map((first) =>
      apollo.query({ query: gql(PAGE), variables: { first }, fetchPolicy: "network-only" }),
    ),
  );
  const forward = await apolloWalk(client(links(recordingFetch(seen))[name]), "forward");
  report[name] = {
    queryType: introspection.data.__schema.queryType.name,
    types: introspection.data.__schema.types.length,
    together: together.map((r) => rows(r.data.records.edges)),
    walk: forward,
    seen,
    apollo,
  };
}
// The mutations last: the ETL they run adds rows the walks above must not see.
for (const name of Object.keys(report)) {
  const { apollo } = report[name];
  delete report[name].apollo;
  report[name].anonymous = await mutation(apollo, {});
  report[name].admin = await mutation(apollo, { authorization: `Bearer ${token}` });
}
console.log(JSON.stringify(report));
