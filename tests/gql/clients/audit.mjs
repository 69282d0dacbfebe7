// graphql-http's server audit against a served app: node audit.mjs <base URL>.
// Prints one JSON object: every audit's id, name, status ("ok", "warn", "error") and reason.
import { serverAudits } from "graphql-http";

const url = `${process.argv[2]}/graphql`;
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify({ results }));
