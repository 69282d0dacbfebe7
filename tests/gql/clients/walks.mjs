// Both ways through `records` against a served app: node walks.mjs <base URL>.
// Apollo Client (HttpLink, the documented cache) walks forward with `first`/`after` and
// backward with `last`/`before`, each by `fetchMore` merged by relayStylePagination;
// graphql-request walks backward page by page.
import { ApolloClient, HttpLink } from "@apollo/client";
import { GraphQLClient } from "graphql-request";
import { BACKWARD, apolloWalk, documentedCache, walk } from "./common.mjs";

const [base] = process.argv.slice(2);
const uri = `${base}/graphql`;
const apollo = () => new ApolloClient({ link: new HttpLink({ uri }), cache: documentedCache() });
const client = new GraphQLClient(uri);

const report = {
  apolloForward: await apolloWalk(apollo(), "forward"),
  apolloBackward: await apolloWalk(apollo(), "backward"),
  graphqlRequestBackward: await walk("backward", (variables) => client.request(BACKWARD, variables)),
};
console.log(JSON.stringify(report));
