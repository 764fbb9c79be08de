// Streams generated events into tblocal with @tinybirdco/mockingbird's TinybirdGenerator, for
// tests/test_sdk_streams.py. argv: url token datasource eps limit; stdout: {"sent", "total", "users"}
// over every row the generator reported sent (its onMessage), on the last line, so the test can count them all.
import { TinybirdGenerator } from "@tinybirdco/mockingbird";

const [url, token, datasource, eps, limit] = process.argv.slice(2);
const schema = {
  id: { type: "string.uuid" },
  user_id: { type: "mockingbird.pick", params: [{ values: ["u1", "u2", "u3", "u4"] }] },
  kind: { type: "mockingbird.pick", params: [{ values: ["click", "view", "share"] }] },
  ts: { type: "mockingbird.datetimeBetween", params: [{ start: "2024-01-01T00:00:00Z", end: "2024-01-31T23:59:59Z" }] },
  value: { type: "number.int", params: [{ min: 0, max: 1000 }] },
};
const generator = new TinybirdGenerator({ schema, eps: Number(eps), limit: Number(limit), endpoint: url, datasource, token, logs: true });
let sent = 0;
let total = 0;
const users = {};
await generator.generate((rows) => {
  for (const row of rows) {
    sent += 1;
    total += row.value;
    users[row.user_id] = (users[row.user_id] ?? 0) + 1;
  }
});
process.stdout.write(`\n${JSON.stringify({ sent, total, users })}\n`); // last line: logs: true prints INFO lines before it
