// Apollo Client against a served app: node apollo.mjs <base URL> <admin token>.
// For each link (HttpLink, BatchHttpLink, PersistedQueryLink over POST and over GET):
// introspection, a forward cursor walk with variables and a fragment, merged by
// relayStylePagination (no other typePolicies), and the mutation without and with the token.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";
import { INTROSPECTION, PAGE, PAGE_SIZE, RUN_ETL, codes, recordingFetch, rows, sha256 } from "./common.mjs";

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
  const cache = new InMemoryCache({
    typePolicies: { Query: { fields: { records: relayStylePagination(["order"]) } } },
  });
  return new ApolloClient({ link, cache });
}

async function walk(apollo) {
  const query = gql(PAGE);
  let result = await apollo.query({ query, variables: { first: PAGE_SIZE } });
  const watched = apollo.watchQuery({ query, variables: { first: PAGE_SIZE } });
  const subscription = watched.subscribe(() => {});
  let pages = 1;
  while (result.data.records.pageInfo.hasNextPage) {
    // The page fetched; relayStylePagination merges it into the cached list.
    result = await watched.fetchMore({
      variables: { first: PAGE_SIZE, after: result.data.records.pageInfo.endCursor },
    });
    pages += 1;
    if (pages > 1000) throw new Error("the walk does not end");
  }
  subscription.unsubscribe();
  // The cache merged every page into one list (relayStylePagination).
  const merged = apollo.readQuery({ query, variables: { first: PAGE_SIZE } });
  return { pages, rows: rows(merged.records.edges) };
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
  const walked = await walk(client(links(recordingFetch(seen))[name]));
  report[name] = {
    queryType: introspection.data.__schema.queryType.name,
    types: introspection.data.__schema.types.length,
    together: together.map((r) => rows(r.data.records.edges)),
    walk: walked,
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
