/**
 * Starts Azurite as a child process on 127.0.0.1 (always with --disableTelemetry), for
 * `npm start`, the benchmark and the tests. Tests use the table service only, in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort, waitForPort } from './ports';

const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface LocalAzurite {
  readonly tablePort: number;
  readonly blobPort?: number;
  /** Account connection string with explicit loopback endpoints. */
  readonly connectionString: string;
  stop(): Promise<void>;
}

export function azuriteConnectionString(tablePort: number, blobPort?: number, queuePort?: number): string {
  const parts = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${ACCOUNT}`,
    `AccountKey=${KEY}`,
    `TableEndpoint=http://127.0.0.1:${tablePort}/${ACCOUNT}`,
  ];
  if (blobPort) parts.push(`BlobEndpoint=http://127.0.0.1:${blobPort}/${ACCOUNT}`);
  if (queuePort) parts.push(`QueueEndpoint=http://127.0.0.1:${queuePort}/${ACCOUNT}`);
  return `${parts.join(';')};`;
}

/**
 * An emulator-only speed fix, preloaded into the Azurite process. Azurite (LokiJS) looks an
 * entity up by PartitionKey first and then scans that partition, so each point read or write
 * costs time proportional to the partition's size (about 9 ms at 30,000 rows): a 10,000-line
 * invoice, whose actuals share one contract partition, took minutes. Asking for RowKey first
 * uses the RowKey index and narrows to one row; the query is the same conjunction, so results
 * are unchanged. Azure Table storage itself indexes PartitionKey+RowKey.
 *
 * Two more patches, for write throughput into big partitions (profiled with `node --cpu-prof`
 * on Azurite: LokiJS index upkeep was 35-55% of its CPU for upserts/updates into a 50,000-row
 * partition. Both together, 100-row transactions with 8 in flight, entities per Azurite
 * CPU-second, median of 3: creates into a partition at 40-50k rows +29%, upsert-Merge into
 * 50k rows +52%, upsert-Replace +50%, update-Merge +94%; small partitions, point reads and
 * partition queries unchanged):
 *
 * - No PartitionKey binary index on entity collections. Azurite creates each table's collection
 *   with indices ["PartitionKey", "RowKey"], but with the findOne patch above nothing reads the
 *   PartitionKey index any more: entity collections are only searched with findOne({PartitionKey,
 *   RowKey}) (now RowKey-first) and with .where() filter functions, which never use a binary
 *   index. Keeping it up to date is costly because every row of a partition has the same value:
 *   each insert splices at the start of that run and each remove scans the whole run and then
 *   renumbers the whole index. Dropping it changes no result. (A DB file written by an older run
 *   keeps its index when loaded; that is harmless.)
 * - Collection.update keeps a binary index entry in place when the indexed value is unchanged.
 *   LokiJS (adaptiveBinaryIndices) otherwise scans the whole index linearly to find the entry,
 *   removes it and re-inserts it with a binary search, for every index, on every update; Azurite's
 *   Merge/upsert-Merge always keeps PartitionKey/RowKey. Only skipped when the stored document and
 *   the new one are different objects (so the old value is known) and the value is an equal
 *   string/number/boolean: the index then stays sorted over the same positions; only the order
 *   among equal values can differ, which nothing observes (each lookup matches at most one row,
 *   and queries sort explicitly).
 * - Replace (and upsert-Replace) updates the stored document in place. Azurite replaces an entity
 *   by removing the stored document and inserting the new one, and each LokiJS remove rewrites
 *   every later position of the RowKey index (O(n) per row): replacing all 50,000 actuals of a
 *   contract cost time quadratic in the partition. Azurite's own code still runs (its lookup,
 *   ETag check, rollback bookkeeping: the old document object is kept for a failed transaction
 *   to restore, as before); only its remove(old) + insert(new) pair becomes update(new) with the
 *   old document's $loki. The stored entity is the same object Azurite would have inserted, so
 *   every read is unchanged (queries sort by PartitionKey and RowKey, never by $loki).
 *   The patch lives on the collection only for the synchronous body of that one call.
 *
 * And one for queries: a query whose filter is a conjunction with `PartitionKey eq '<string>'` in
 * it reads only that partition's rows, from where its continuation starts. Azurite evaluates a
 * `$filter` on every row of the table (through its tree-walking interpreter) and sorts every
 * match, for every page, so each partition-scoped query cost time in proportion to the whole
 * table and a paged listing of a partition grew with its square: 500 contracts' invoices each
 * querying their own partition (benchmark B) spent most of Azurite's CPU reading the other 499,
 * and listing 50,000 transactions of one project took 11 s in pages of 1,000. Azure Table
 * storage answers such a query from its PartitionKey+RowKey index. The patch keeps, per entity
 * collection and partition, a map of RowKey to the `$loki` of its row (built from the collection
 * the first time it is used, then kept by `add` and `update`, the only ways a row enters a
 * collection) and, until the next row enters that partition, its rows in RowKey order. A query walks that order from
 * its continuation's RowKey (binary search), applies Azurite's own compiled filter and
 * continuation test, and stops at the page size + 1 rows Azurite itself keeps; it hands the
 * positions of those rows to Azurite's own query as its starting result set, where the filter,
 * continuation, sort and limit run again unchanged. The order is Azurite's (its sort compares
 * RowKeys with `<`/`>`), an id whose row is gone or left the partition is skipped, and every
 * row of the partition is in the order: results are the same rows in the same order and pages.
 * Filters with `or`, `not` or a non-string partition value at the top take Azurite's own path.
 *
 * The same per-partition map (of the row last added with those keys) also
 * answers Azurite's point lookups, `findOne({PartitionKey, RowKey})`, on entity collections, so
 * they keep no binary index at all: LokiJS renumbers every later position of each binary index
 * on every remove, and scans the index for the entry, so deleting rows cost time in proportion to
 * the table (the import's deletes of 50,000 pending-index entries took 13.6 s, 18x the time of
 * 10,000; the confirmation's release of 50,000 claims likewise). A lookup takes the row the map
 * names only if it is still stored under those keys, and answers null otherwise, as LokiJS does.
 * The map sees every row that enters (`add`), so the newest row with the keys is the one named.
 * `tests/integration/storage/azuriteQueries.test.ts` compares both paths on the same writes,
 * queries and point reads ({@link STOCK_QUERIES_ENV} turns both patches off, back to the RowKey
 * index and Azurite's own query).
 */
/** Set to '1' in Azurite's environment to leave its query path stock (the equivalence test's reference). */
export const STOCK_QUERIES_ENV = 'LOCAL_AZURITE_STOCK_QUERIES';

function indexedLookupPreload(): string {
  const azuriteRoot = path.dirname(require.resolve('azurite/package.json'));
  const lokiPath = require.resolve('lokijs', { paths: [azuriteRoot] });
  const storePath = path.join(azuriteRoot, 'dist/src/table/persistence/LokiTableMetadataStore.js');
  const source = [
    `import { createRequire } from 'node:module';`,
    `const Loki = createRequire(${JSON.stringify(lokiPath)})(${JSON.stringify(lokiPath)});`,
    `const proto = Loki.Collection.prototype; const findOne = proto.findOne;`,
    `const keyed = process.env.${STOCK_QUERIES_ENV} !== '1'; const entityCollections = new WeakSet(); let lookup;`,
    `proto.findOne = function (q) {`,
    `  if (q && typeof q === 'object' && Object.keys(q).length === 2 && 'PartitionKey' in q && 'RowKey' in q) {`,
    `    if (keyed && entityCollections.has(this) && !this.cloneObjects && typeof q.PartitionKey === 'string' && typeof q.RowKey === 'string') return lookup(this, q.PartitionKey, q.RowKey);`,
    `    return findOne.call(this, { RowKey: q.RowKey, PartitionKey: q.PartitionKey });`,
    `  }`,
    `  return findOne.call(this, q);`,
    `};`,
    // No PartitionKey binary index on entity collections, and no RowKey index either when the keyed lookup replaces it (see above).
    `const addCollection = Loki.prototype.addCollection;`,
    `Loki.prototype.addCollection = function (name, options) {`,
    `  const entities = options && Array.isArray(options.indices) && options.indices.length === 2 && options.indices[0] === 'PartitionKey' && options.indices[1] === 'RowKey';`,
    `  if (entities) options = { ...options, indices: keyed ? [] : ['RowKey'] };`,
    `  const coll = addCollection.call(this, name, options);`,
    `  if (entities) entityCollections.add(coll);`,
    `  return coll;`,
    `};`,
    // update() leaves an index entry alone when its value did not change (see above).
    `const update = proto.update; const indexUpdate = proto.adaptiveBinaryIndexUpdate; let previous;`,
    `proto.update = function (doc) {`,
    `  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Number.isInteger(doc.$loki)) return update.call(this, doc);`,
    `  const outer = previous; previous = this.get(doc.$loki);`,
    `  try { return update.call(this, doc); } finally { previous = outer; }`,
    `};`,
    `proto.adaptiveBinaryIndexUpdate = function (position, name) {`,
    `  const current = this.data[position];`,
    `  if (previous && current && previous !== current && previous.$loki === current.$loki && name.indexOf('.') === -1) {`,
    `    const before = previous[name]; const type = typeof before;`,
    `    if (before === current[name] && (type === 'string' || type === 'number' || type === 'boolean')) return;`,
    `  }`,
    `  return indexUpdate.call(this, position, name);`,
    `};`,
    // Replace updates the stored document in place instead of remove + insert (see above).
    `const Store = createRequire(${JSON.stringify(storePath)})(${JSON.stringify(storePath)}).default;`,
    `const replaceEntity = Store.prototype.updateTableEntity;`,
    `Store.prototype.updateTableEntity = function (context, table, account, entity, ifMatch, batchId) {`,
    `  let coll;`,
    `  try { coll = this.getEntityCollection(account, table, context); } catch (error) { return Promise.reject(error); }`,
    `  let removed;`,
    `  coll.remove = function (doc) {`,
    `    if (removed === undefined && doc && Number.isInteger(doc.$loki)) { removed = doc; return doc; }`,
    `    return proto.remove.call(this, doc);`,
    `  };`,
    `  coll.insert = function (doc) {`,
    `    if (removed && doc && typeof doc === 'object' && !Array.isArray(doc) && doc.$loki === undefined) {`,
    `      doc.$loki = removed.$loki; if (removed.meta) doc.meta = { ...removed.meta }; removed = null;`,
    `      proto.update.call(this, doc); return doc;`,
    `    }`,
    `    return proto.insert.call(this, doc);`,
    `  };`,
    `  try { return replaceEntity.call(this, context, table, account, entity, ifMatch, batchId); }`,
    `  finally { delete coll.remove; delete coll.insert; }`,
    `};`,
    // Partition-scoped queries read only their partition (see above).
    `if (keyed) {`,
    `  const parsePath = ${JSON.stringify(path.join(azuriteRoot, 'dist/src/table/persistence/QueryInterpreter/QueryParser.js'))};`,
    `  const nodesPath = ${JSON.stringify(path.join(azuriteRoot, 'dist/src/table/persistence/QueryInterpreter/QueryNodes'))};`,
    `  const load = (file) => createRequire(file)(file).default;`,
    `  const parse = load(parsePath);`,
    `  const AndNode = load(nodesPath + '/AndNode.js'); const EqualsNode = load(nodesPath + '/EqualsNode.js');`,
    `  const IdentifierNode = load(nodesPath + '/IdentifierNode.js'); const ConstantNode = load(nodesPath + '/ConstantNode.js');`,
    `  const Generator = load(${JSON.stringify(path.join(azuriteRoot, 'dist/src/table/persistence/LokiTableStoreQueryGenerator.js'))});`,
    // Per entity collection: partition -> { rows: RowKey -> $loki of the row last added with it, sorted: [RowKey, $loki][] or undefined when stale }.
    `  const partitions = new WeakMap();`,
    `  const note = (index, doc) => {`,
    `    if (!doc || typeof doc.PartitionKey !== 'string' || typeof doc.RowKey !== 'string' || !Number.isInteger(doc.$loki)) return;`,
    `    let part = index.get(doc.PartitionKey); if (!part) { part = { rows: new Map(), sorted: undefined }; index.set(doc.PartitionKey, part); }`,
    `    if (part.rows.get(doc.RowKey) !== doc.$loki) { part.rows.set(doc.RowKey, doc.$loki); part.sorted = undefined; }`,
    `  };`,
    `  const indexOf = (coll) => {`,
    `    let index = partitions.get(coll);`,
    `    if (!index) { index = new Map(); for (const doc of coll.data) note(index, doc); partitions.set(coll, index); }`,
    `    return index;`,
    `  };`,
    // The stored row with these keys, or null (what findOne answers); an entry whose row is gone is dropped.
    `  lookup = (coll, key, rowKey) => {`,
    `    const part = indexOf(coll).get(key);`,
    `    const id = part && part.rows.get(rowKey);`,
    `    if (id === undefined) return null;`,
    `    const doc = coll.get(id);`,
    `    if (doc && doc.PartitionKey === key && doc.RowKey === rowKey) return doc;`,
    `    part.rows.delete(rowKey); part.sorted = undefined;`,
    `    return null;`,
    `  };`,
    `  const add = proto.add;`,
    `  proto.add = function (obj) { const result = add.call(this, obj); const index = partitions.get(this); if (index) note(index, obj); return result; };`,
    `  const updateUnnoted = proto.update;`,
    `  proto.update = function (doc) { const result = updateUnnoted.call(this, doc); const index = partitions.get(this); if (index && doc && !Array.isArray(doc)) note(index, doc); return result; };`,
    `  const wanted = (filter) => {`,
    `    if (typeof filter !== 'string' || filter.indexOf('PartitionKey') === -1) return undefined;`,
    `    let tree; try { tree = parse(filter); } catch { return undefined; }`,
    `    const stack = [tree];`,
    `    while (stack.length) {`,
    `      const node = stack.pop();`,
    `      if (node instanceof AndNode) { stack.push(node.left, node.right); continue; }`,
    `      if (!(node instanceof EqualsNode)) continue;`,
    `      const [a, b] = node.left instanceof IdentifierNode ? [node.left, node.right] : [node.right, node.left];`,
    `      if (a instanceof IdentifierNode && a.identifier === 'PartitionKey' && b instanceof ConstantNode && typeof b.value === 'string') return b.value;`,
    `    }`,
    `    return undefined;`,
    `  };`,
    // The partition's rows in Azurite's own RowKey order (its sort compares with < and >).
    `  const sortedOf = (coll, key) => {`,
    `    const part = indexOf(coll).get(key);`,
    `    if (!part) return [];`,
    `    if (part.sorted === undefined) {`,
    `      const rows = [];`,
    `      for (const [rowKey, id] of part.rows) {`,
    `        const doc = coll.get(id);`,
    `        if (!doc || doc.PartitionKey !== key || doc.RowKey !== rowKey) { part.rows.delete(rowKey); continue; }`,
    `        rows.push([rowKey, id]);`,
    `      }`,
    `      rows.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));`,
    `      part.sorted = rows;`,
    `    }`,
    `    return part.sorted;`,
    `  };`,
    // Azurite's continuation predicate (queryTableEntities), the same test in the same form.
    `  const continues = (data, nextPK, nextRK) => {`,
    `    if (nextPK !== undefined && data.PartitionKey > nextPK) return true;`,
    `    if (nextRK !== undefined) return data.RowKey >= nextRK && (data.PartitionKey === nextPK || data.PartitionKey === undefined);`,
    `    if (nextPK !== undefined && data.PartitionKey < nextPK) return false;`,
    `    return true;`,
    `  };`,
    `  const query = Store.prototype.queryTableEntities;`,
    `  Store.prototype.queryTableEntities = function (context, account, table, queryOptions, nextPartitionKey, nextRowKey) {`,
    `    const stock = () => query.call(this, context, account, table, queryOptions, nextPartitionKey, nextRowKey);`,
    `    const key = wanted(queryOptions && queryOptions.filter);`,
    `    if (key === undefined) return stock();`,
    `    let coll; let where; let max;`,
    `    try { coll = this.getEntityCollection(account, table, context); where = Generator.generateQueryForPersistenceLayer(queryOptions, context); max = this.getMaxResultsOption(queryOptions); }`,
    `    catch { return stock(); }`,
    `    const nextPK = this.decodeContinuationHeader(nextPartitionKey); const nextRK = this.decodeContinuationHeader(nextRowKey);`,
    `    const rows = sortedOf(coll, key);`,
    // Rows before the continuation's RowKey fail the continuation test when it names this partition: skip them by binary search.
    `    let from = 0;`,
    `    if (nextRK !== undefined && nextPK === key) { let lo = 0, hi = rows.length; while (lo < hi) { const mid = (lo + hi) >>> 1; if (rows[mid][0] < nextRK) lo = mid + 1; else hi = mid; } from = lo; }`,
    // The first max + 1 rows (in Azurite's order) that pass the filter and the continuation: exactly what its own query keeps.
    `    const positions = [];`,
    `    for (let i = from; i < rows.length && positions.length <= max; i++) {`,
    `      const found = coll.get(rows[i][1], true);`,
    `      const doc = found && found[0];`,
    `      if (!doc || doc.PartitionKey !== key) continue;`,
    // A row whose RowKey changed in place (Azurite never does that): the order is stale, so this query takes Azurite's own path.
    `      if (doc.RowKey !== rows[i][0]) { partitions.get(coll).get(key).sorted = undefined; return stock(); }`,
    `      if (continues(doc, nextPK, nextRK) && where(doc) === true) positions.push(found[1]);`,
    `    }`,
    `    coll.chain = function () { const rs = proto.chain.call(this); rs.filteredrows = positions; rs.filterInitialized = true; return rs; };`,
    `    try { return stock(); }`,
    `    finally { delete coll.chain; }`,
    `  };`,
    `}`,
  ].join('\n');
  return `--import=data:text/javascript,${encodeURIComponent(source)}`;
}

function azuriteScript(which: 'all' | 'table'): string {
  const root = path.dirname(require.resolve('azurite/package.json'));
  return which === 'table' ? path.join(root, 'dist/src/table/main.js') : path.join(root, 'dist/src/azurite.js');
}

export async function startAzurite(options: {
  /** 'table' starts only the table service (tests); 'all' starts blob, queue and table. */
  services?: 'all' | 'table';
  tablePort?: number;
  blobPort?: number;
  queuePort?: number;
  /** Folder for persistent data; in memory when absent. */
  location?: string;
  /** More `--import=` preloads for the Azurite process (the benchmark's write counter). */
  preloads?: readonly string[];
  /** More environment variables for the Azurite process. */
  env?: Readonly<Record<string, string>>;
  log?: (line: string) => void;
} = {}): Promise<LocalAzurite> {
  const services = options.services ?? 'table';
  const tablePort = options.tablePort || (await freePort());
  const args = [indexedLookupPreload(), ...(options.preloads ?? []), azuriteScript(services), '--disableTelemetry', '--silent', '--skipApiVersionCheck', '--tableHost', '127.0.0.1', '--tablePort', String(tablePort)];
  let blobPort: number | undefined;
  let queuePort: number | undefined;
  if (services === 'all') {
    blobPort = options.blobPort || (await freePort());
    queuePort = options.queuePort || (await freePort());
    args.push('--blobHost', '127.0.0.1', '--blobPort', String(blobPort), '--queueHost', '127.0.0.1', '--queuePort', String(queuePort));
  }
  if (options.location) args.push('--location', options.location);
  else args.push('--inMemoryPersistence');

  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ? { ...process.env, ...options.env } : process.env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => options.log?.(`[azurite] ${d.toString().trimEnd()}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  try {
    await Promise.race([
      waitForPort(tablePort),
      exited.then((code) => {
        throw new Error(`Azurite exited (code ${code}) before it was ready: ${stderr.trim() || 'no output'}`);
      }),
    ]);
    if (blobPort) await waitForPort(blobPort);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    tablePort,
    blobPort,
    connectionString: azuriteConnectionString(tablePort, blobPort, queuePort),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
