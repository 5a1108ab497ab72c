/**
 * Counting what a phase wrote, fast: a benchmark-only preload for the Azurite process that
 * answers, on a loopback port, how many entities of each table were last written inside given
 * time windows, by walking Azurite's in-memory store (LokiJS) directly.
 *
 * The same preload counts the requests Azurite serves, by kind (`requestKind`), and samples them
 * with Azurite's own CPU time every USAGE_SAMPLE_MS: the recorder reads them for each phase's exact
 * span once its end is known (`POST /usage`), and live around the baseline (`GET /usage`), so a
 * run shows what each phase asked of the storage and how busy the storage was (docs/bench.md,
 * "What bounds each phase").
 *
 * Why: the table service has no index on Timestamp, and Azurite re-scans a table for every
 * 1,000-row page of a `Timestamp ge ... and Timestamp lt ...` query, so counting a 50,000-ILD
 * invoice's 600,000 writes that way took over a minute of a run that must fit in ten. Walking
 * the store takes well under a second. The figure is the same by construction: an entity's
 * Timestamp is the `lastModifiedTime` Azurite keeps on it (set by every insert, replace or merge),
 * and deleted entities are gone from both. `countWritten` in storage.ts stays the fallback and
 * the reference; tests/unit/bench checks that both agree.
 *
 * Nothing in the pipeline, the host or the tests' Azurite uses this: only `startBenchSystem`.
 */
import http from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import type { Window, WrittenCount } from './storage';

/** How often the counter samples Azurite's CPU time and request counts, and how long it keeps them. */
export const USAGE_SAMPLE_MS = 50;
const USAGE_KEPT_MS = 15 * 60_000;

/** The environment variable carrying the counter's port into the Azurite process. */
export const WRITE_COUNTER_PORT_ENV = 'BENCH_WRITE_COUNTER_PORT';

/**
 * The User-Agent prefix of the benchmark's own table clients (its probes and seeding): their
 * requests are counted apart from the pipeline's.
 */
export const BENCH_USER_AGENT = 'project-invoicing-bench';

/**
 * What one request to Azurite's table service is, from its method, URL and User-Agent: a point
 * read, a query, a transaction, a single write or a table operation (create, list, delete), as
 * "<kind> <table>" ("transaction" has no table in its URL). Requests of the benchmark's own clients
 * (`fromBench`) are "bench <kind> ...". Self-contained: its source is copied into the Azurite preload.
 */
export function requestKind(method: string, url: string, fromBench: boolean): string {
  const q = url.indexOf('?');
  let path = q >= 0 ? url.slice(0, q) : url;
  try {
    path = decodeURIComponent(path);
  } catch {
    // keep it encoded
  }
  const resource = path.split('/').filter((s) => s !== '')[1] ?? '';
  const open = resource.indexOf('(');
  const table = open >= 0 ? resource.slice(0, open) : resource;
  const keyed = open >= 0 && resource.indexOf('PartitionKey', open) > open;
  let kind: string;
  if (resource === '$batch') kind = 'transaction';
  else if (table === 'Tables' || table === '') kind = 'table operation';
  else if (keyed) kind = method === 'GET' ? 'point read' : 'single write';
  else kind = method === 'GET' ? 'query' : 'single write';
  const name = kind === 'transaction' || kind === 'table operation' ? kind : `${kind} ${table}`;
  return fromBench ? `bench ${name}` : name;
}

/** The `--import` argument that installs the counter in an Azurite process (see startAzurite's `preloads`). */
export function writeCounterPreload(): string {
  const lokiPath = require.resolve('lokijs', { paths: [path.dirname(require.resolve('azurite/package.json'))] });
  const source = `
import { createRequire } from 'node:module';
import http from 'node:http';
const Loki = createRequire(${JSON.stringify(lokiPath)})(${JSON.stringify(lokiPath)});
const dbs = new Set();
const getCollection = Loki.prototype.getCollection;
Loki.prototype.getCollection = function (name) { dbs.add(this); return getCollection.call(this, name); };
const port = Number(process.env.${WRITE_COUNTER_PORT_ENV});
const requestKind = ${requestKind.toString()};
const BENCH_USER_AGENT = ${JSON.stringify(BENCH_USER_AGENT)};
if (port > 0) {
  const requests = {};
  // Usage every ${USAGE_SAMPLE_MS} ms (the last ${USAGE_KEPT_MS / 60_000} minutes), so a phase's usage can be read for its exact span afterwards.
  const samples = [];
  let changed = true;
  const cpuMicros = () => { const cpu = process.cpuUsage(); return cpu.user + cpu.system; };
  const now = () => ({ at: Date.now(), cpuMicros: cpuMicros(), requests: { ...requests } });
  setInterval(() => {
    const last = samples[samples.length - 1];
    samples.push({ at: Date.now(), cpuMicros: cpuMicros(), requests: changed || !last ? { ...requests } : last.requests });
    changed = false;
    while (samples.length > 0 && samples[0].at < Date.now() - ${USAGE_KEPT_MS}) samples.shift();
  }, ${USAGE_SAMPLE_MS}).unref();
  // The first sample at or after a time (the live figures when there is none yet).
  const usageAt = (t) => {
    let lo = 0, hi = samples.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (samples[mid].at < t) lo = mid + 1; else hi = mid; }
    const s = lo < samples.length ? samples[lo] : now();
    return { cpuMicros: s.cpuMicros, requests: s.requests };
  };
  const counter = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/usage') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ requests, cpuMicros: cpuMicros() }));
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try {
        if (req.url === '/usage') {
          const { times } = JSON.parse(body);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ usages: times.map(usageAt) }));
          return;
        }
        const { account, windows } = JSON.parse(body);
        const prefix = account + '$';
        const tables = {};
        for (const db of dbs) {
          for (const coll of db.collections) {
            if (!coll.name.startsWith(prefix)) continue;
            const counts = windows.map(() => ({ count: 0, last: 0 }));
            for (const doc of coll.data) {
              const at = Date.parse(doc.lastModifiedTime);
              for (let i = 0; i < windows.length; i++) {
                const w = windows[i];
                if (at >= w.from && at < w.to) { const c = counts[i]; c.count++; if (at > c.last) c.last = at; break; }
              }
            }
            tables[coll.name.slice(prefix.length)] = counts;
          }
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ tables }));
      } catch (error) {
        res.statusCode = 500;
        res.end(String(error && error.stack || error));
      }
    });
  });
  counter.listen(port, '127.0.0.1').unref();
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, req) {
    if (event === 'request' && this !== counter && req && typeof req.url === 'string') {
      const kind = requestKind(String(req.method || 'GET'), req.url, String(req.headers['user-agent'] || '').startsWith(BENCH_USER_AGENT));
      requests[kind] = (requests[kind] || 0) + 1;
      changed = true;
    }
    return emit.apply(this, arguments);
  };
}
`;
  return `--import=data:text/javascript,${encodeURIComponent(source)}`;
}

const answerSchema = z.object({
  tables: z.record(z.string(), z.array(z.object({ count: z.number().int().nonnegative(), last: z.number().nonnegative() }))),
});

const usageSchema = z.object({ requests: z.record(z.string(), z.number().int().nonnegative()), cpuMicros: z.number().nonnegative() });

/** What Azurite has served so far: requests by `requestKind`, and its process's CPU time (µs). */
export type StorageUsage = z.infer<typeof usageSchema>;

/** Ask the counter for Azurite's requests and CPU time so far. */
export async function storageUsage(port: number): Promise<StorageUsage> {
  return usageSchema.parse(JSON.parse(await ask(port, 'GET', '/usage')));
}

/**
 * Azurite's requests and CPU time as they stood at given times (epoch ms): the first sample at or
 * after each (samples every USAGE_SAMPLE_MS), the live figures for a time not sampled yet.
 */
export async function storageUsageAt(port: number, times: readonly number[]): Promise<StorageUsage[]> {
  const answer = z.object({ usages: z.array(usageSchema) }).parse(JSON.parse(await ask(port, 'POST', '/usage', JSON.stringify({ times }))));
  if (answer.usages.length !== times.length) throw new Error(`the Azurite counter answered ${answer.usages.length} usages for ${times.length} times`);
  return answer.usages;
}

function ask(port: number, method: 'GET' | 'POST', route: string, body?: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        data += chunk;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`the Azurite write counter answered ${res.statusCode}: ${data.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Ask the counter; the same shape as `countWritten`, tables whose name starts with `exclude` left out. */
export async function countWrittenInAzurite(port: number, account: string, windows: readonly Window[], exclude: string): Promise<WrittenCount[]> {
  const body = JSON.stringify({ account, windows: windows.map((w) => ({ from: w.from.getTime(), to: w.to.getTime() })) });
  const text = await ask(port, 'POST', '/count', body);
  const answer = answerSchema.parse(JSON.parse(text));
  const out: WrittenCount[] = windows.map(() => ({ total: 0, tables: {} }));
  for (const [table, counts] of Object.entries(answer.tables).sort(([a], [b]) => a.localeCompare(b))) {
    if (table.startsWith(exclude)) continue;
    counts.forEach((c, i) => {
      const w = out[i];
      if (!w || c.count === 0) return;
      w.total += c.count;
      w.tables[table] = (w.tables[table] ?? 0) + c.count;
      if (w.lastWriteAt === undefined || c.last > w.lastWriteAt) w.lastWriteAt = c.last;
    });
  }
  return out;
}
