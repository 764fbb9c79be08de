// The app side of the typed project: stdin is a JSON list of page views; each goes through the typed
// client's ingest, then top_pages is queried. stdout: {"ingested": [...answers], "top": query answer}.
import { tinybird } from "./tinybird";

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const { rows, start_date, limit } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const ingested = [];
for (const row of rows) ingested.push(await tinybird.pageViews.ingest(row));
const top = await tinybird.topPages.query({ start_date, limit });
process.stdout.write(JSON.stringify({ ingested, top }, (k, v) => (typeof v === "bigint" ? Number(v) : v)));
