/**
 * The layout holds the picture of docs/architecture.md: the SDKs and OData filters stay in the
 * storage kit, the stores and the adapters; the rooms depend on each other in one direction; no
 * file imports itself through others. Read from the sources as text, like a lint rule.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.ts')) out.push(path.relative(ROOT, full).split(path.sep).join('/'));
    }
  };
  walk(path.join(ROOT, dir));
  return out.sort();
}

const APP = [...sourcesUnder('functions'), ...sourcesUnder('shared')];

interface Import {
  specifier: string;
  /** Repo-relative path of a relative import, resolved to its .ts file. */
  target?: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const out: Import[] = [];
  const pattern = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(pattern)) {
    const specifier = m[3] ?? m[4]!;
    const typeOnly = m[2] !== undefined;
    let target: string | undefined;
    if (specifier.startsWith('.')) {
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      target = [`${base}.ts`, `${base}/index.ts`, base].find((c) => APP.includes(c) || c.endsWith('.ts'));
    }
    out.push({ specifier, target, typeOnly });
  }
  return out;
}

/** The room of an app file: shared/<room>/..., a top-level shared file, or functions. */
function roomOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'functions') return 'functions';
  if (parts.length === 2) return parts[1]!.replace(/\.ts$/, '');
  return parts[1]!;
}

/**
 * Which rooms each room may import (itself always). Issue 18 added two adapter rooms at the
 * bottom: `telemetry` (spans and metrics over the OpenTelemetry API, and the SDK set-up when
 * Application Insights or the console exporter is asked for) and `identity` (the token
 * credentials of identity-based connections). The adapters that make the calls worth tracing
 * (storage, servicebus, triggers) and the error log (operations, for its error counter) may use
 * telemetry; only the composition root builds credentials. Neither may use a side of the business.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  config: ['core'],
  telemetry: ['config'],
  identity: ['config'],
  storage: ['core', 'telemetry'],
  messages: ['core'],
  dataverse: ['core', 'storage', 'messages'],
  finance: ['core', 'storage', 'messages', 'dataverse'],
  bridge: ['core', 'storage', 'messages', 'dataverse', 'finance'],
  operations: ['core', 'storage', 'messages', 'dataverse', 'finance', 'bridge', 'telemetry'],
  servicebus: ['core', 'config', 'messages', 'telemetry'],
  triggers: ['core', 'telemetry'],
  compositionRoot: ['core', 'config', 'storage', 'messages', 'dataverse', 'finance', 'bridge', 'operations', 'servicebus', 'triggers', 'identity', 'telemetry'],
  functions: ['compositionRoot', 'core', 'messages', 'dataverse', 'finance', 'bridge', 'operations', 'triggers'],
};

/**
 * Files that may talk to the Azure SDKs: the storage kit, the trigger adapters, the Service Bus
 * adapter, the identity room (@azure/identity) and the telemetry room (the Azure Monitor exporter).
 */
const SDK_ROOMS = new Set(['storage', 'triggers', 'servicebus', 'identity', 'telemetry']);

/** Files that may build OData filters: the storage kit and the stores. */
function mayBuildFilters(file: string): boolean {
  return file.startsWith('shared/storage/') || /Store\.ts$/.test(file);
}

describe('the layout of the app', () => {
  it('knows every room it finds', () => {
    const unknown = [...new Set(APP.map(roomOf))].filter((room) => !(room in MAY_IMPORT));
    expect(unknown).toEqual([]);
  });

  it.each(APP.filter((f) => !SDK_ROOMS.has(roomOf(f))))('%s imports no Azure SDK', (file) => {
    expect(importsOf(file).filter((i) => i.specifier.startsWith('@azure/')).map((i) => i.specifier)).toEqual([]);
  });

  it.each(APP.filter((f) => !mayBuildFilters(f)))('%s builds no OData filter', (file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    expect(text.match(/\bodata\b/g) ?? []).toEqual([]);
  });

  it.each(APP)('%s imports only the rooms below it', (file) => {
    const room = roomOf(file);
    const allowed = new Set([room, ...(MAY_IMPORT[room] ?? [])]);
    const wrong = importsOf(file)
      .filter((i) => i.target !== undefined && APP.includes(i.target))
      .map((i) => i.target!)
      .filter((target) => !allowed.has(roomOf(target)));
    expect(wrong).toEqual([]);
  });

  it('the F&O side reads of the Dataverse side only its records (the maps read Dataverse actuals)', () => {
    const reached = APP.filter((f) => roomOf(f) === 'finance').flatMap((f) =>
      importsOf(f)
        .filter((i) => i.target?.startsWith('shared/dataverse/'))
        .map((i) => `${f} -> ${i.target}`),
    );
    expect(reached.filter((edge) => !edge.endsWith('-> shared/dataverse/records.ts'))).toEqual([]);
  });

  it('has no import circle', () => {
    const edges = new Map(APP.map((f) => [f, importsOf(f).map((i) => i.target).filter((t): t is string => t !== undefined && APP.includes(t))]));
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of APP) visit(file, []);
    expect(circles).toEqual([]);
  });
});
