/**
 * The kit's own point reads and queries (shared/storage/entityReads.ts) against the SDK's
 * `getEntity` and `listEntities`, which stay the reference: the same entities read from a real
 * Azurite (keys, ETag and every plain value), paging through continuations, the same errors, and
 * rows holding values the SDK converts (dates, Int64) handed to the SDK.
 */
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { entityOf, queryEntitiesPage, readEntity, TYPED, type ReadEntity } from '../../../shared/storage/entityReads';
import { storageErrorCode, storageStatus } from '../../../shared/storage/storageErrors';
import { fieldsOf, odata, TableStore } from '../../../shared/storage/tableStore';

let azurite: LocalAzurite;
const client = (table: string) => TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const PK = "p'1 é%+&=;";
const PLAIN = { text: 'x\'y "z" \u00e9\u4e2d\n', count: 7, big: 3_000_000_000, share: 0.125, whole: 3.0, negative: -12.5, flag: true, off: false, empty: '' };

/** What the SDK hands out, without the metadata the kit drops (Timestamp, odata.metadata). */
function sdkView(entity: Record<string, unknown>): Record<string, unknown> {
  const { timestamp: _t, 'odata.metadata': _m, ...rest } = entity;
  return rest;
}

describe("the kit's reads", () => {
  it('read a row exactly as the SDK reads it: keys that need escaping, ETag and every plain value', async () => {
    const c = client('readsPoint');
    await c.createTable();
    await c.createEntity({ partitionKey: PK, rowKey: "r'1 é", ...PLAIN });
    const kit = await readEntity(c, 'readsPoint', PK, "r'1 é");
    const sdk = await c.getEntity<Record<string, unknown>>(PK, "r'1 é");
    expect(kit).not.toBe(TYPED);
    expect(kit).toEqual(sdkView(sdk));
    expect((kit as ReadEntity).etag).toMatch(/^W\/"datetime'/);
  });

  it('answer undefined for a missing row and for a missing table, and throw other failures as the SDK does', async () => {
    const c = client('readsMissing');
    await c.createTable();
    expect(await readEntity(c, 'readsMissing', 'p', 'nope')).toBeUndefined();
    expect(await readEntity(client('readsNoTable'), 'readsNoTable', 'p', 'nope')).toBeUndefined();

    const sdkError = await c.listEntities({ queryOptions: { filter: 'PartitionKey eq' } }).next().catch((e: unknown) => e);
    const kitError = await queryEntitiesPage(c, 'readsMissing', { filter: 'PartitionKey eq' }).catch((e: unknown) => e);
    expect(storageStatus(kitError)).toBe(400);
    expect(storageStatus(kitError)).toBe(storageStatus(sdkError));
    expect(storageErrorCode(kitError)).toBe(storageErrorCode(sdkError));
  });

  it('page through continuations: every row once, in the order the SDK lists them, with the selected columns only', async () => {
    const c = client('readsPages');
    await c.createTable();
    const rows = Array.from({ length: 250 }, (_, i) => ({ partitionKey: i % 2 ? 'odd' : 'even', rowKey: `r${String(i).padStart(4, '0')}`, n: i }));
    for (const pk of ['even', 'odd']) {
      const of = rows.filter((r) => r.partitionKey === pk);
      for (let i = 0; i < of.length; i += 100) await c.submitTransaction(of.slice(i, i + 100).map((r) => ['create', r]));
    }
    const kit: ReadEntity[] = [];
    let next: Parameters<typeof queryEntitiesPage>[2]['next'];
    let pages = 0;
    do {
      const page = await queryEntitiesPage(c, 'readsPages', { pageSize: 40, ...(next ? { next } : {}) });
      if (page === TYPED) throw new Error('plain rows answered as typed');
      kit.push(...page.entities);
      next = page.next;
      pages++;
    } while (next);
    const sdk: Record<string, unknown>[] = [];
    for await (const e of c.listEntities<Record<string, unknown>>()) sdk.push(sdkView(e));
    expect(pages).toBe(7);
    expect(kit).toEqual(sdk);

    const selected = await queryEntitiesPage(c, 'readsPages', { filter: odata`PartitionKey eq ${'odd'} and n lt ${10}`, select: ['RowKey'] });
    expect(selected).not.toBe(TYPED);
    expect((selected as { entities: ReadEntity[] }).entities.map((e) => e.rowKey)).toEqual(['r0001', 'r0003', 'r0005', 'r0007', 'r0009']);
    expect((selected as { entities: ReadEntity[] }).entities[0]!.n).toBeUndefined();
  });

  it('hand a row with values the SDK converts (a date, an Int64) to the SDK, so it reads as before', async () => {
    const c = client('readsTyped');
    await c.createTable();
    await c.createEntity({ partitionKey: 'p', rowKey: 'dated', when: new Date('2024-01-01T00:00:00Z'), text: 'a' });
    await c.createEntity({ partitionKey: 'p', rowKey: 'long', count: { value: '12345678901234', type: 'Int64' } });
    await c.createEntity({ partitionKey: 'p', rowKey: 'plain', text: 'b' });
    expect(await readEntity(c, 'readsTyped', 'p', 'dated')).toBe(TYPED);
    expect(await queryEntitiesPage(c, 'readsTyped', { filter: odata`PartitionKey eq ${'p'}` })).toBe(TYPED);
    expect(entityOf({ 'n@odata.type': 'Edm.Double', n: 3 })).toEqual({ n: 3 });
    expect(entityOf({ 'n@odata.type': 'Edm.Double', n: 'NaN' })).toBe(TYPED);

    // Through the store: the SDK's answer, parsed by the same schema.
    const store = new TableStore(azurite.connectionString, 'readsTyped', z.object({ when: z.date().optional(), count: z.unknown().optional(), text: z.string().optional() }).passthrough(), () => ({ partitionKey: 'p', rowKey: 'x' }));
    const dated = await store.get('p', 'dated');
    expect(dated?.when).toEqual(new Date('2024-01-01T00:00:00Z'));
    const all = await store.query(odata`PartitionKey eq ${'p'}`);
    expect(all.map((r) => (r as { text?: string }).text)).toEqual(['a', undefined, 'b']);
    expect(typeof (all[1] as { count?: unknown }).count).toBe('bigint');
  });

  it('serve the store: get, query with top, and scanRowKeys answer what the SDK would', async () => {
    const c = client('readsStore');
    await c.createTable();
    for (let i = 0; i < 5; i++) await c.createEntity({ partitionKey: 'p', rowKey: `r${i}`, text: `t${i}`, n: i });
    const schema = z.object({ text: z.string(), n: z.number() });
    const store = new TableStore(azurite.connectionString, 'readsStore', schema, () => ({ partitionKey: 'p', rowKey: 'x' }));
    const one = await store.get('p', 'r2');
    expect(one).toEqual({ text: 't2', n: 2, etag: (await c.getEntity('p', 'r2')).etag });
    expect(await store.get('p', 'none')).toBeUndefined();
    expect((await store.query(odata`PartitionKey eq ${'p'}`, { top: 3 })).map((r) => r.n)).toEqual([0, 1, 2]);
    expect(await store.query(odata`PartitionKey eq ${'p'}`, { top: 0 })).toEqual([]);
    expect((await store.query(odata`n ge ${3}`)).map((r) => fieldsOf(r))).toEqual([
      { text: 't3', n: 3 },
      { text: 't4', n: 4 },
    ]);
    const keys: string[] = [];
    expect(await store.scanRowKeys(odata`PartitionKey eq ${'p'}`, (k) => (keys.push(k), keys.length < 4))).toBe(false);
    expect(keys).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('list a partition up to a limit asked before each page: a limit known later applies from the next page, and an exact end is complete', async () => {
    const c = client('readsUpTo');
    await c.createTable();
    for (let i = 0; i < 2500; i += 100) await c.submitTransaction(Array.from({ length: 100 }, (_, j) => ['create', { partitionKey: 'p', rowKey: `r${String(i + j).padStart(5, '0')}`, n: i + j }]));
    await c.createEntity({ partitionKey: 'q', rowKey: 'other', n: -1 });
    const store = new TableStore(azurite.connectionString, 'readsUpTo', z.object({ n: z.number() }), () => ({ partitionKey: 'p', rowKey: 'x' }));
    const cut = await store.listPartitionUpTo('p', () => 25);
    expect(cut.complete).toBe(false);
    expect(cut.rows.map((r) => r.n)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    let known: number | undefined;
    const asked: number[] = [];
    const later = await store.listPartitionUpTo('p', () => {
      const limit = known ?? Number.POSITIVE_INFINITY;
      asked.push(limit);
      known = 1_200; // becomes known while the first page is read
      return limit;
    });
    expect(later.complete).toBe(false);
    expect(later.rows).toHaveLength(1_200);
    expect(asked[0]).toBe(Number.POSITIVE_INFINITY);
    const exact = await store.listPartitionUpTo('p', () => 2_500);
    expect(exact.complete).toBe(true);
    expect(exact.rows).toHaveLength(2_500);
    const all = await store.listPartitionUpTo('p', () => Number.POSITIVE_INFINITY);
    expect(all).toMatchObject({ complete: true });
    expect(all.rows.map((r) => r.n)).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
  });
});
