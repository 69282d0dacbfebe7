// Subscriptions over graphql-transport-ws: node live.mjs <base URL> <subscription token> <events>.
// The graphql-ws client (on the `ws` WebSocket, Node 20 has none built in) and Apollo
// Client's GraphQLWsLink subscribe; a client with a wrong token is refused first. Each
// subscription collects <events> results (the caller runs the load once the server holds
// all three), then prints one line of JSON.
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [base, token, events] = process.argv.slice(2);
const url = `${base.replace(/^http/, "ws")}/graphql`;
const wanted = Number(events);

const PRICES = `subscription Prices($symbol: [String!]) {
  priceChanges(symbol: $symbol) { id asset { id symbol } source value timestamp }
}`;

function client(params) {
  return createClient({ url, webSocketImpl: WebSocket, connectionParams: params, retryAttempts: 0 });
}

function refused() {
  const bad = client({ token: "wrong" });
  return new Promise((resolve) => {
    bad.subscribe(
      { query: "subscription { etlRunEvents { id } }" },
      {
        next: () => resolve({ unexpected: "next" }),
        error: (event) => resolve({ code: event.code, reason: event.reason }),
        complete: () => resolve({ unexpected: "complete" }),
      },
    );
  }).finally(() => bad.dispose());
}

function collect(subscribe, count) {
  return new Promise((resolve, reject) => {
    const got = [];
    const stop = subscribe({
      next: (result) => {
        got.push(result);
        if (got.length === count) {
          stop();
          resolve(got);
        }
      },
      error: reject,
      complete: () => resolve(got),
    });
  });
}

const rejection = await refused();
const plain = client({ token });
const apolloSocket = client({ token });
const apollo = new ApolloClient({ link: new GraphQLWsLink(apolloSocket), cache: new InMemoryCache() });

const results = await Promise.all([
  collect((sink) => plain.subscribe({ query: PRICES }, sink), wanted),
  collect((sink) => plain.subscribe({ query: PRICES, variables: { symbol: ["btc"] } }, sink), 1),
  collect((sink) => {
    const subscription = apollo
      .subscribe({ query: gql(PRICES) })
      .subscribe({ next: sink.next, error: sink.error, complete: sink.complete });
    return () => subscription.unsubscribe();
  }, wanted),
]);
await plain.dispose();
await apolloSocket.dispose();
const prices = (list) => list.map((result) => result.data.priceChanges);
console.log(
  JSON.stringify({
    rejection,
    graphqlWs: prices(results[0]),
    graphqlWsBtc: prices(results[1]),
    apollo: prices(results[2]),
  }),
);
