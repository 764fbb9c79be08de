// Runs calls of Tinybird's TypeScript SDK (@tinybirdco/sdk) for tests/test_sdk_api.py, under Node.
// stdin: {"url", "token", "calls": [[op, {args}], ...]}; stdout: one JSON answer per call,
// {"ok": result} or {"error", "status"}, each with the HTTP requests it made and the sleeps the SDK
// asked for (ms), so a test sees whether a retry waited as the server said.
import { TinybirdApi, createClient, createTinybirdApi } from "@tinybirdco/sdk";

const requestsMade = [];
const sleeps = [];
const counted = async (url, init) => {
  const response = await fetch(url, init);
  requestsMade.push(response.status);
  return response;
};
const sleep = TinybirdApi.prototype.sleep;
TinybirdApi.prototype.sleep = function (delayMs, signal) {
  sleeps.push(delayMs);
  return sleep.call(this, delayMs, signal);
};

// One documented call of the SDK's README.
async function run(url, defaultToken, op, a) {
  const token = a.token ?? defaultToken;
  const api = createTinybirdApi({ baseUrl: url, token, fetch: counted });
  const client = createClient({ baseUrl: url, token, fetch: counted });
  switch (op) {
    case "query": // with a token of its own (a JWT) through the client, as the README's JWT section does
      return a.token ? client.query(a.pipe, a.params ?? {}) : api.query(a.pipe, a.params ?? {});
    case "ingest": {
      const options = {};
      if ("wait" in a) options.wait = a.wait;
      if ("max_retries" in a) options.maxRetries = a.max_retries;
      return a.rows.length === 1 ? api.ingest(a.datasource, a.rows[0], options) : api.ingestBatch(a.datasource, a.rows, options);
    }
    case "sql":
      return api.sql(a.sql);
    case "append":
      return api.appendDatasource(a.datasource, a.file ? { file: a.file } : { url: a.url });
    case "replace":
      return client.datasources.replace(a.datasource, { url: a.url });
    case "delete": {
      const options = { deleteCondition: a.condition };
      if ("dry_run" in a) options.dryRun = a.dry_run;
      return api.deleteDatasource(a.datasource, options);
    }
    case "truncate":
      return api.truncateDatasource(a.datasource);
    case "create_jwt":
      return client.tokens.createJWT({
        name: a.name, expiresAt: new Date(Date.now() + a.expires_in * 1000), scopes: a.scopes,
        ...(a.limits ? { limits: a.limits } : {}),
      });
    case "workspace":
      return api.requestJson("/v1/workspace");
    default:
      throw new Error(`unknown op ${op}`);
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const plan = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const answers = [];
for (const [op, args] of plan.calls) {
  requestsMade.length = 0;
  sleeps.length = 0;
  let answer;
  try {
    answer = { ok: await run(plan.url, plan.token, op, args) };
  } catch (e) {
    answer = { error: String(e?.message ?? e), status: e?.statusCode ?? e?.status ?? null };
  }
  answers.push({ ...answer, requests: [...requestsMade], sleeps: [...sleeps] });
}
process.stdout.write(JSON.stringify(answers, (k, v) => (typeof v === "bigint" ? v.toString() : v)));
