import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../dev/azurite';
import { createGroupsIfAbsent, createManyReportingExisting, mergeMany, replaceManyIfMatch, StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../../shared/storage/leases';
import { TableStore } from '../../../shared/storage/tableStore';
import { waitFor } from '../../support/system';
import { id, scenario, staging, unbilledActual } from './support';

let azurite: LocalAzurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

describe('leases in integrationLeases', () => {
  it('grants a lease to one holder at a time and again after release', async () => {
    const leases = new TableLeases(azurite.connectionString);
    const [a, b] = await Promise.all([leases.acquire('one', { owner: 'a' }), leases.acquire('one', { owner: 'b' })]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    const holder = (a ?? b)!;
    expect(holder.held()).toBe(true);
    expect(await leases.acquire('one', { owner: 'c' })).toBeUndefined();
    await holder.release();
    expect(holder.held()).toBe(false);
    const c = await leases.acquire('one', { owner: 'c' });
    expect(c?.held()).toBe(true);
    await c!.release();
  });

  it('lets a successor take over an expired lease; the old holder then knows it lost it and its release is harmless', async () => {
    const leases = new TableLeases(azurite.connectionString);
    const old = await leases.acquire('expiring', { owner: 'old', ttlMs: 800, renewEveryMs: 3_600_000 });
    expect(old).toBeDefined();
    const successor = await waitFor('the lease to expire', () => leases.acquire('expiring', { owner: 'new', ttlMs: 30_000 }), 20_000, 200);
    expect(old!.held()).toBe(false);
    await old!.release();
    expect(successor.held()).toBe(true);
    expect((await leases.store.get('expiring', 'expiring'))?.Owner).toBe('new');
    await successor.release();
  });

  it('keeps a renewed lease past its first expiry', async () => {
    const leases = new TableLeases(azurite.connectionString);
    const lease = await leases.acquire('renewed', { owner: 'r', ttlMs: 1_500, renewEveryMs: 200 });
    const firstExpiry = Date.parse((await leases.store.get('renewed', 'renewed'))!.ExpiresAt);
    await waitFor('a renewal', async () => Date.parse((await leases.store.get('renewed', 'renewed'))!.ExpiresAt) > firstExpiry, 20_000, 100);
    await waitFor('the first expiry to pass', async () => Date.now() > firstExpiry + 200, 20_000, 100);
    expect(lease!.held()).toBe(true);
    expect(await leases.acquire('renewed', { owner: 'other' })).toBeUndefined();
    await lease!.release();
  });
});

describe('bulk helpers of the pending index', () => {
  const schema = z.object({ p: z.string(), r: z.string(), v: z.number() });
  type Rec = z.infer<typeof schema>;
  const store = () => new TableStore<Rec>(azurite.connectionString, 'helperTest', schema, (x) => ({ partitionKey: x.p, rowKey: x.r }));
  const rec = (p: string, i: number, v = i): Rec => ({ p, r: String(i).padStart(4, '0'), v });

  it('replaceManyIfMatch writes every unchanged row and leaves the one changed meanwhile', async () => {
    const t = store();
    await t.createManyIfAbsent(Array.from({ length: 150 }, (_, i) => rec('a', i)));
    const read = await t.listPartition('a');
    await t.upsert(rec('a', 7, 700)); // someone else changes row 7 after our read
    const written = await replaceManyIfMatch(t, read.map(({ etag, ...r }) => ({ record: { ...r, v: r.v + 1000 }, etag })));
    expect(written.size).toBe(149);
    expect(written.has('a/0007')).toBe(false);
    expect((await t.get('a', '0007'))?.v).toBe(700);
    expect((await t.get('a', '0008'))?.v).toBe(1008);
    expect((await t.get('a', '0120'))?.v).toBe(1120);
  });

  it('createManyReportingExisting creates the missing rows and reports the existing ones with what they hold', async () => {
    const t = store();
    await t.createIfAbsent(rec('b', 3, 333));
    await t.createIfAbsent(rec('b', 140, 444));
    const { created, existing } = await createManyReportingExisting(t, Array.from({ length: 150 }, (_, i) => rec('b', i, -1)));
    expect(created).toBe(148);
    expect([...existing.keys()].sort()).toEqual(['b/0003', 'b/0140']);
    expect(existing.get('b/0003')?.v).toBe(333);
    expect((await t.get('b', '0004'))?.v).toBe(-1);
    expect((await t.listPartition('b')).length).toBe(150);
  });

  it('createGroupsIfAbsent writes each group whole, once', async () => {
    const t = store();
    const groups = Array.from({ length: 20 }, (_, g) => [rec(`v${g}`, 1), rec(`v${g}`, 2)]);
    await t.createIfAbsent(rec('v3', 2, 99)); // as if written before
    expect(await createGroupsIfAbsent(t, groups)).toBe(19);
    expect(await createGroupsIfAbsent(t, groups)).toBe(0);
    expect((await t.listPartition('v3')).map((r) => r.v)).toEqual([99]);
    expect((await t.listPartition('v4')).map((r) => r.v)).toEqual([1, 2]);
    await expect(createGroupsIfAbsent(t, [[rec('x', 1), rec('y', 1)]])).rejects.toThrow(/one partition/);
  });

  it('mergeMany merges only the given fields, and writes a missing row whole', async () => {
    const t = new TableStore(azurite.connectionString, 'mergeTest', z.object({ p: z.string(), r: z.string(), v: z.number(), w: z.string().optional() }), (x) => ({ partitionKey: x.p, rowKey: x.r }));
    await t.createManyIfAbsent(Array.from({ length: 120 }, (_, i) => ({ ...rec('m', i), w: 'old' })));
    await t.upsert({ ...rec('m', 5), v: 500, w: 'old' }); // changed by someone else: v must survive
    await mergeMany(t, [
      ...Array.from({ length: 120 }, (_, i) => ({ record: { ...rec('m', i), w: 'old' }, fields: { w: 'new' } })),
      { record: { ...rec('m', 500), w: 'x' }, fields: { w: 'created' } },
    ]);
    expect(await t.get('m', '0005')).toMatchObject({ v: 500, w: 'new' });
    expect(await t.get('m', '0119')).toMatchObject({ v: 119, w: 'new' });
    expect(await t.get('m', '0500')).toMatchObject({ v: 500, w: 'created' });
  });

  it('StagingWork keeps copies, updates status and tolerates rows deleted meanwhile', async () => {
    const work = new StagingWork(azurite.connectionString);
    const s = scenario('index');
    const rows = Array.from({ length: 120 }, (_, i) => staging(unbilledActual(s, id('index', i))));
    await work.add(rows, new Date('2024-01-01T00:00:00Z'));
    await work.add(rows.slice(0, 10), new Date('2024-02-01T00:00:00Z')); // create-if-absent: unchanged
    const listed = await work.list();
    expect(listed).toHaveLength(120);
    expect(listed.every((i) => i.QueuedAt === '2024-01-01T00:00:00.000Z')).toBe(true);
    expect(listed.find((i) => i.ActualId === rows[5]!.ActualId)).toMatchObject({ ...rows[5], Shard: expect.stringMatching(/^S\d$/) });

    await work.remove(rows.slice(0, 50));
    await work.setStatus(rows.slice(40, 60).map((r) => ({ ActualId: r.ActualId, ImportStatus: 'Waiting' as const, ImportMessage: 'Invoice proposal not synchronized yet' })));
    await work.remove(rows.slice(40, 100)); // 40..49 are gone already
    const left = await work.list();
    expect(left.map((i) => i.ActualId).sort()).toEqual(rows.slice(100).map((r) => r.ActualId).sort());
    expect(left.every((i) => i.ImportStatus === 'Pending')).toBe(true);
  });
});
