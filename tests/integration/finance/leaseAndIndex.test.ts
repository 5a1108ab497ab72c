import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
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
    expect(listed.find((i) => i.ActualId === rows[5]!.ActualId)).toMatchObject({ ...rows[5], Shard: expect.stringMatching(/^S\d$/) });

    await work.remove(rows.slice(0, 50));
    await work.setStatus(rows.slice(40, 60).map((r) => ({ ActualId: r.ActualId, ImportStatus: 'Waiting' as const, ImportMessage: 'Invoice proposal not synchronized yet' })));
    await work.remove(rows.slice(40, 100)); // 40..49 are gone already
    const left = await work.list();
    expect(left.map((i) => i.ActualId).sort()).toEqual(rows.slice(100).map((r) => r.ActualId).sort());
    expect(left.every((i) => i.ImportStatus === 'Pending')).toBe(true);
  });
});
