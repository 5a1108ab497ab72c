/**
 * The local Azurite's partition-scoped query path (tools/azurite.ts) must answer exactly what
 * Azurite's own path answers: the same rows, the same order, the same pages and continuation.
 * Two Azurites get the same writes (creates, replaces, merges, deletes, a transaction that
 * rolls back, rows moving in and out of partitions by delete and re-create); one runs with the
 * patch, the other with it turned off, and every query is compared page by page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { STOCK_QUERIES_ENV, startAzurite, type LocalAzurite } from '../../../tools/azurite';

let patched: LocalAzurite;
let stock: LocalAzurite;
let clients: TableClient[];

const TABLE = 'queryPaths';
const key = (i: number) => `r${String(i).padStart(5, '0')}`;

/** Run the same writes on both Azurites. */
async function both(write: (client: TableClient) => Promise<unknown>): Promise<void> {
  for (const client of clients) await write(client);
}

/** Every page of a query, with what the service answered to continue it. */
async function pages(client: TableClient, filter: string | undefined, pageSize: number, select?: string[]) {
  const out: { rows: Record<string, unknown>[]; next: string | undefined }[] = [];
  const iterator = client.listEntities({ queryOptions: { filter, select } }).byPage({ maxPageSize: pageSize });
  for await (const page of iterator) {
    out.push({
      rows: page.map(({ etag: _etag, timestamp: _timestamp, ...rest }) => rest as Record<string, unknown>),
      next: page.continuationToken,
    });
  }
  return out;
}

beforeAll(async () => {
  [patched, stock] = await Promise.all([startAzurite(), startAzurite({ env: { [STOCK_QUERIES_ENV]: '1' } })]);
  clients = [patched, stock].map((a) => TableClient.fromConnectionString(a.connectionString, TABLE, { allowInsecureConnection: true }));
  await both((c) => c.createTable());

  // A big partition, a few small ones, keys that need quoting, and a second table-wide field.
  const rows: TableEntity<Record<string, unknown>>[] = [];
  for (let i = 0; i < 1_300; i++) rows.push({ partitionKey: 'big', rowKey: key(i), n: i, kind: i % 3 === 0 ? 'expense' : 'hour' });
  for (const p of ['a', "o'brien", 'ümlaut', 'a2', 'b']) {
    for (let i = 0; i < 40; i++) rows.push({ partitionKey: p, rowKey: key(i), n: i, kind: i % 2 ? 'hour' : 'fee' });
  }
  await both(async (c) => {
    const byPartition = new Map<string, TableEntity<Record<string, unknown>>[]>();
    for (const r of rows) byPartition.set(r.partitionKey, [...(byPartition.get(r.partitionKey) ?? []), r]);
    for (const list of byPartition.values()) {
      for (let i = 0; i < list.length; i += 100) await c.submitTransaction(list.slice(i, i + 100).map((e): TransactionAction => ['create', e]));
    }
  });

  // Changes after the first queries have built the partition index (see the first test) come
  // in the tests below; these come before it.
  await both(async (c) => {
    await c.deleteEntity('big', key(5));
    await c.upsertEntity({ partitionKey: 'big', rowKey: key(6), n: -6, replaced: true }, 'Replace');
    await c.updateEntity({ partitionKey: 'a', rowKey: key(1), extra: 'merged' }, 'Merge');
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([patched?.stop(), stock?.stop()]);
});

const FILTERS: (string | undefined)[] = [
  "PartitionKey eq 'big'",
  "PartitionKey eq 'big' and n ge 1000",
  "(PartitionKey eq 'big') and (kind eq 'expense')",
  "kind eq 'expense' and PartitionKey eq 'big'",
  "RowKey ge 'r00100' and PartitionKey eq 'big' and RowKey lt 'r00200'",
  "PartitionKey eq 'o''brien'",
  "PartitionKey eq 'ümlaut' and n lt 10",
  "PartitionKey eq 'a' or PartitionKey eq 'b'",
  "PartitionKey eq 'a' and n lt 5 or PartitionKey eq 'b' and n lt 5",
  "not (PartitionKey eq 'a')",
  "PartitionKey eq 'nothing-here'",
  "PartitionKey ne 'big'",
  "PartitionKey ge 'a' and PartitionKey lt 'b'",
  "n eq 7",
  undefined,
];

async function compareAll(pageSize: number): Promise<void> {
  for (const filter of FILTERS) {
    const [mine, theirs] = await Promise.all(clients.map((c) => pages(c, filter, pageSize)));
    expect(mine, `filter ${filter ?? '(none)'}, pages of ${pageSize}`).toEqual(theirs);
  }
}

describe('partition-scoped queries on the local Azurite', () => {
  it('answer the same rows, order and pages as Azurite itself', async () => {
    await compareAll(1_000);
    await compareAll(97);
    // The patched side really narrowed: the big partition's query sees only its rows.
    const big = await pages(clients[0]!, "PartitionKey eq 'big'", 1_000);
    expect(big.flatMap((p) => p.rows).every((r) => r.partitionKey === 'big')).toBe(true);
    expect(big.flatMap((p) => p.rows)).toHaveLength(1_299);
  }, 120_000);

  it('stay the same after creates, deletes, replaces, merges and a rolled-back transaction', async () => {
    await both(async (c) => {
      for (let i = 0; i < 30; i++) await c.deleteEntity('big', key(100 + i));
      await c.createEntity({ partitionKey: 'big', rowKey: 'zz-new', n: 5_000, kind: 'hour' });
      await c.createEntity({ partitionKey: 'fresh', rowKey: key(1), n: 1 });
      await c.upsertEntity({ partitionKey: 'big', rowKey: key(7), n: 7_000 }, 'Replace');
      await c.upsertEntity({ partitionKey: 'a', rowKey: key(2), kind: 'merged' }, 'Merge');
      await c.updateEntity({ partitionKey: 'b', rowKey: key(3), n: 333 }, 'Replace');
      // Deleted and created again: the same keys come back as a new row.
      await c.deleteEntity('o\'brien', key(4));
      await c.createEntity({ partitionKey: "o'brien", rowKey: key(4), n: 44 });
      // A transaction whose last action fails: Azurite rolls the first two back.
      await expect(
        c.submitTransaction([
          ['create', { partitionKey: 'big', rowKey: 'zz-rolled-back', n: 1 }],
          ['upsert', { partitionKey: 'big', rowKey: key(8), n: 8_000 }, 'Replace'],
          ['create', { partitionKey: 'big', rowKey: key(9), n: 9 }],
        ]),
      ).rejects.toThrow();
    });
    await compareAll(1_000);
    await compareAll(53);
    const rows = (await pages(clients[0]!, "PartitionKey eq 'big'", 1_000)).flatMap((p) => p.rows);
    expect(rows.some((r) => r.rowKey === 'zz-rolled-back')).toBe(false);
    expect(rows.find((r) => r.rowKey === key(8))?.n).toBe(8);
    expect(rows.find((r) => r.rowKey === 'zz-new')?.n).toBe(5_000);
    expect((await pages(clients[0]!, "PartitionKey eq 'fresh'", 1_000)).flatMap((p) => p.rows)).toHaveLength(1);
  }, 120_000);

  it('continue a listing the same way when rows enter and leave the partition between its pages', async () => {
    const filter = "PartitionKey eq 'big' and n ge 0";
    const firstPages = await Promise.all(
      clients.map(async (c) => (await c.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 200 }).next()).value as TableEntity[] & { continuationToken?: string }),
    );
    const tokens = firstPages.map((p) => p.continuationToken);
    expect(tokens[0]).toBeDefined();
    expect(tokens[0]).toBe(tokens[1]);
    await both(async (c) => {
      // Before, at and after where the listing stands; one row of its next page goes.
      await c.createEntity({ partitionKey: 'big', rowKey: 'r00000a', n: 1 });
      await c.createEntity({ partitionKey: 'big', rowKey: 'r00250a', n: 2 });
      await c.createEntity({ partitionKey: 'big', rowKey: 'r01250a', n: 3 });
      await c.deleteEntity('big', key(260));
    });
    const rest = await Promise.all(
      clients.map(async (c, i) => {
        const out: unknown[] = [];
        for await (const page of c.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 200, continuationToken: tokens[i]! })) {
          out.push(page.map(({ etag: _e, timestamp: _t, ...row }) => row), page.continuationToken);
        }
        return out;
      }),
    );
    expect(rest[0]).toEqual(rest[1]);
    expect(JSON.stringify(rest[0])).toContain('r01250a');
    expect(JSON.stringify(rest[0])).not.toContain('"r00260"');
  }, 60_000);

  it('look rows up by their keys the same way: point reads, conflicts and missing rows', async () => {
    const outcome = (p: Promise<unknown>) =>
      p.then(
        (value) => {
          const { etag: _e, timestamp: _t, 'odata.metadata': _m, ...row } = value as Record<string, unknown>;
          return { ok: row };
        },
        (error: { statusCode?: number }) => ({ status: error.statusCode }),
      );
    const keys: [string, string][] = [
      ['big', key(0)],
      ['big', key(5)], // deleted before the index was built
      ['big', key(120)], // deleted after
      ['big', 'zz-new'],
      ['big', 'zz-rolled-back'],
      ["o'brien", key(4)], // deleted and created again
      ['fresh', key(1)],
      ['nowhere', key(1)],
      ['a', key(1)],
    ];
    for (const [pk, rk] of keys) {
      const [mine, theirs] = await Promise.all(clients.map((c) => outcome(c.getEntity(pk, rk))));
      expect(mine, `${pk}/${rk}`).toEqual(theirs);
    }
    // Writes that depend on finding (or not finding) the row answer the same.
    const writes: [string, (c: TableClient) => Promise<unknown>][] = [
      ['create an existing row', (c) => c.createEntity({ partitionKey: 'big', rowKey: key(0), n: 0 })],
      ['create a deleted row', (c) => c.createEntity({ partitionKey: 'big', rowKey: key(121), n: 121 })],
      ['update a missing row', (c) => c.updateEntity({ partitionKey: 'big', rowKey: key(122), n: 1 }, 'Merge')],
      ['delete a missing row', (c) => c.deleteEntity('big', key(123))],
      ['update with a wrong ETag', (c) => c.updateEntity({ partitionKey: 'big', rowKey: key(1), n: 1 }, 'Replace', { etag: 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"' })],
    ];
    for (const [what, write] of writes) {
      const answers = [];
      for (const c of clients) answers.push(await outcome(write(c)).then((o) => ('status' in o ? o.status : 'ok')));
      expect(answers[0], what).toBe(answers[1]);
    }
    await compareAll(1_000);
  }, 60_000);

  it('answer $select and an invalid filter the same way', async () => {
    const [mine, theirs] = await Promise.all(clients.map((c) => pages(c, "PartitionKey eq 'big' and n lt 20", 7, ['n'])));
    expect(mine).toEqual(theirs);
    const failures = await Promise.all(
      clients.map((c) => pages(c, "PartitionKey eq 'big' and (", 10).then(
        () => 'answered',
        (error: { statusCode?: number }) => error.statusCode,
      )),
    );
    expect(failures[0]).toBe(failures[1]);
    expect(failures[0]).not.toBe('answered');
  }, 60_000);
});
