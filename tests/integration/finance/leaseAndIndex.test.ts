import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { contractShardsOf, shardOf, StagingWork, workShardOf } from '../../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../../shared/storage/leases';
import { waitFor } from '../../kit/system';
import { id, scenario, staging, unbilledActual } from '../../kit/fixtures/finance';

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

describe('the pending index', () => {
  it('StagingWork keeps copies, updates status and tolerates rows deleted meanwhile', async () => {
    const work = new StagingWork(azurite.connectionString);
    const s = scenario('index');
    const rows = Array.from({ length: 120 }, (_, i) => staging(unbilledActual(s, id('index', i))));
    await work.add(rows, new Date('2024-01-01T00:00:00Z'));
    await work.add(rows.slice(0, 10), new Date('2024-02-01T00:00:00Z')); // create-if-absent: unchanged
    const listed = await work.list();
    expect(listed).toHaveLength(120);
    expect(listed.every((i) => i.QueuedAt === '2024-01-01T00:00:00.000Z')).toBe(true);
    // Every row of a contract is in one of the contract's two shards: one sync message, at most two transactions.
    expect(listed.find((i) => i.ActualId === rows[5]!.ActualId)).toMatchObject({ ...rows[5], Shard: workShardOf(rows[5]!) });
    expect([...new Set(listed.map((i) => i.Shard))].sort()).toEqual([...contractShardsOf(s.contractId)].sort());
    expect(new Set(contractShardsOf(s.contractId)).size).toBe(2);

    const keys = listed.map((i) => ({ Shard: i.Shard, ActualId: i.ActualId }));
    const keyOf = (n: number) => keys.find((k) => k.ActualId === rows[n]!.ActualId)!;
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => keyOf(from + i));
    await work.remove(range(0, 50));
    await work.setStatus(range(40, 60).map((k) => ({ ...k, ImportStatus: 'Waiting' as const, ImportMessage: 'Invoice proposal not synchronized yet' })));
    await work.requeue(range(45, 55), new Date('2024-03-01T00:00:00Z'));
    expect((await work.list()).filter((i) => i.ImportStatus === 'Waiting').map((i) => [i.ActualId, i.QueuedAt])).toEqual(
      range(50, 60)
        .map((k, i) => [k.ActualId, i < 5 ? '2024-03-01T00:00:00.000Z' : '2024-01-01T00:00:00.000Z'])
        .sort((a, b) => (a[1]! < b[1]! ? -1 : a[1]! > b[1]! ? 1 : a[0]! < b[0]! ? -1 : 1)),
    );
    await work.remove(range(40, 100)); // 40..49 are gone already
    const left = await work.list();
    expect(left.map((i) => i.ActualId).sort()).toEqual(rows.slice(100).map((r) => r.ActualId).sort());
    expect(left.every((i) => i.ImportStatus === 'Pending')).toBe(true);
  });

  it('addresses an entry by the shard it is stored in, also one written before the index was sharded by contract', async () => {
    const work = new StagingWork(azurite.connectionString);
    await work.store.clear();
    const s = scenario('index-legacy');
    const row = staging(unbilledActual(s, id('index-legacy', 1)));
    expect(shardOf(row.ActualId)).not.toBe(workShardOf(row)); // the case this test is about
    await work.store.createIfAbsent({ ...row, Shard: shardOf(row.ActualId), QueuedAt: '2024-01-01T00:00:00.000Z' });
    await work.add([row], new Date('2024-02-01T00:00:00Z')); // the same actual synchronized again
    const listed = await work.list();
    expect(listed.map((i) => i.Shard).sort()).toEqual([shardOf(row.ActualId), workShardOf(row)].sort());
    await work.setStatus([{ Shard: shardOf(row.ActualId), ActualId: row.ActualId, ImportStatus: 'Error', ImportMessage: 'no rate' }]);
    expect((await work.list()).find((i) => i.Shard === shardOf(row.ActualId))).toMatchObject({ ImportStatus: 'Error', ImportMessage: 'no rate' });
    await work.remove(listed.map((i) => ({ Shard: i.Shard, ActualId: i.ActualId })));
    expect(await work.list()).toEqual([]);
  });
});
