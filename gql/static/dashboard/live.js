// The dashboard's only way to the data: GraphQL over HTTP, and live updates over the
// graphql-transport-ws protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md)
// with polling as the fallback.

export const ENDPOINT = "/graphql";

export class GraphQLError extends Error {}

/** Run one operation over HTTP; `token` (admin) is sent as a Bearer header when given. */
export async function query(document, variables = {}, token = null) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: document, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new GraphQLError(`${response.status} ${response.statusText}`);
  }
  if (body.errors && body.errors.length) {
    throw new GraphQLError(body.errors.map((e) => e.message).join("; "));
  }
  if (!response.ok) throw new GraphQLError(body.error || `${response.status}`);
  return body.data;
}

const CONNECTION_ACK_MS = 5000;

/**
 * One subscription over a graphql-transport-ws socket of its own.
 * `onAck()` runs when the server accepts the connection, `onNext(data)` gets each result;
 * `onGone(reason)` is called once when the subscription cannot go on (socket refused or
 * closed, an `error` message, or `complete`). Returns a function that ends it.
 */
export function subscribe(document, variables, { onAck, onNext, onGone }) {
  const url = new URL(ENDPOINT, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let ended = false;
  let socket;
  const gone = (reason) => {
    if (ended) return;
    ended = true;
    clearTimeout(ackTimer);
    try {
      socket.close(1000);
    } catch (error) {
      // already closed
    }
    onGone(reason);
  };
  try {
    socket = new WebSocket(url, "graphql-transport-ws");
  } catch (error) {
    onGone(String(error));
    return () => {};
  }
  const ackTimer = setTimeout(() => gone("no connection_ack"), CONNECTION_ACK_MS);
  socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
  socket.onerror = () => gone("socket error");
  socket.onclose = (event) => gone(`socket closed (${event.code})`);
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      gone("not JSON");
      return;
    }
    switch (message.type) {
      case "connection_ack":
        clearTimeout(ackTimer);
        onAck();
        socket.send(
          JSON.stringify({ id: "1", type: "subscribe", payload: { query: document, variables } }),
        );
        break;
      case "ping":
        socket.send(JSON.stringify({ type: "pong" }));
        break;
      case "next":
        if (message.payload && message.payload.errors) gone("errors in next");
        else onNext(message.payload.data);
        break;
      case "error":
        gone((message.payload || []).map((e) => e.message).join("; ") || "error");
        break;
      case "complete":
        gone("complete");
        break;
      default:
        break;
    }
  };
  return () => {
    if (ended) return;
    ended = true;
    clearTimeout(ackTimer);
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ id: "1", type: "complete" }));
    }
    socket.close(1000);
  };
}

/**
 * Keep a view fresh: `refresh()` runs now, then again after each event of the subscription
 * (at most once per `quietMs`), or every `pollSeconds` once the subscription is gone.
 * `onMode("live" | "polling", reason)` says which. Returns a function that stops it all.
 */
export function keepFresh({ refresh, subscription, variables, pollSeconds, onMode }) {
  let stopped = false;
  let timer = null;
  let pending = null;
  let unsubscribe = () => {};
  const quietMs = 500;

  const poll = async () => {
    if (stopped) return;
    try {
      await refresh();
    } finally {
      if (!stopped) timer = setTimeout(poll, pollSeconds * 1000);
    }
  };
  const soon = () => {
    if (pending === null) {
      pending = setTimeout(() => {
        pending = null;
        if (!stopped) refresh();
      }, quietMs);
    }
  };

  refresh();
  if (subscription && "WebSocket" in window) {
    unsubscribe = subscribe(subscription, variables || {}, {
      onAck: () => onMode("live", ""),
      onNext: soon,
      onGone: (reason) => {
        onMode("polling", reason);
        if (!stopped) timer = setTimeout(poll, pollSeconds * 1000);
      },
    });
  } else {
    onMode("polling", "no WebSocket");
    timer = setTimeout(poll, pollSeconds * 1000);
  }
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(pending);
    unsubscribe();
  };
}
