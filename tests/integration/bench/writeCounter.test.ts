import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { freePort } from '../../../tools/ports';
import { BASELINE_TABLE_PREFIX, countWritten } from '../../../tools/bench/storage';
import { tableClient } from '../../../tools/bench/probes';
import { storageBetween } from '../../../tools/bench/figures';
import { countWrittenInAzurite, storageUsage, storageUsageAt, USAGE_SAMPLE_MS, WRITE_COUNTER_PORT_ENV, writeCounterPreload } from '../../../tools/bench/writeCounter';
import { TableStore } from '../../../shared/storage/tableStore';

const rowSchema = z.object({ P: z.string(), R: z.string(), V: z.string() });
type Row = z.infer<typeof rowSchema>;
const rows = (p: string, n: number, v = 'a'): Row[] => Array.from({ length: n }, (_, i) => ({ P: p, R: `r${String(i).padStart(4, '0')}`, V: v }));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let azurite: LocalAzurite;
let counterPort: number;

beforeAll(async () => {
  counterPort = await freePort();
  azurite = await startAzurite({ preloads: [writeCounterPreload()], env: { [WRITE_COUNTER_PORT_ENV]: String(counterPort) } });
});
afterAll(async () => {
  await azurite?.stop();
});

describe('the benchmark write counter in Azurite', () => {
  it('counts per window and table exactly as the Timestamp queries do: rewrites once, deletes not, baseline tables left out', async () => {
    const store = (name: string) => new TableStore(azurite.connectionString, name, rowSchema, (r) => ({ partitionKey: r.P, rowKey: r.R }));
    const left = store('counterLeft');
    const right = store('counterRight');
    const baseline = store(`${BASELINE_TABLE_PREFIX}Counter`);
    await Promise.all([left.ready(), right.ready(), baseline.ready()]);

    const start = Date.now();
    await left.createManyIfAbsent(rows('a', 250));
    await right.createManyIfAbsent(rows('b', 30));
    await baseline.createManyIfAbsent(rows('c', 40));
    await pause(20);
    const middle = Date.now();
    await pause(20);
    await left.upsertMany(rows('a', 60, 'b')); // 60 of the first window's rows move to the second
    await left.upsertMany(rows('a', 10, 'c')); // written twice in the second window: once
    await right.createManyIfAbsent(rows('d', 120));
    await right.delete('d', 'r0000');
    await pause(20);
    const end = Date.now() + 1;
    const windows = [
      { from: new Date(start), to: new Date(middle) },
      { from: new Date(middle), to: new Date(end) },
    ];

    const fast = await countWrittenInAzurite(counterPort, 'devstoreaccount1', windows, BASELINE_TABLE_PREFIX);
    const slow = await countWritten(azurite.connectionString, windows);
    expect(fast.map((w) => ({ total: w.total, tables: w.tables }))).toEqual([
      { total: 190 + 30, tables: { counterLeft: 190, counterRight: 30 } },
      { total: 60 + 119, tables: { counterLeft: 60, counterRight: 119 } },
    ]);
    expect(fast).toEqual(slow);
    expect(fast[1]!.lastWriteAt).toBeGreaterThanOrEqual(fast[0]!.lastWriteAt!);
  });

  it('counts the requests Azurite serves by kind, the benchmark\'s own apart, with its CPU time', async () => {
    const store = new TableStore(azurite.connectionString, 'counterKinds', rowSchema, (r) => ({ partitionKey: r.P, rowKey: r.R }));
    await store.ready();
    const before = await storageUsage(counterPort);
    await store.createManyIfAbsent(rows('k', 150)); // two transactions
    expect(await store.get('k', 'r0001')).toBeDefined();
    expect(await store.get('k', 'r0002')).toBeDefined();
    expect(await store.get('k', 'nope')).toBeUndefined();
    expect(await store.listPartition('k')).toHaveLength(150); // one page of 1,000
    await store.delete('k', 'r0003');
    let probed = 0;
    for await (const _ of tableClient(azurite.connectionString, 'counterKinds').listEntities()) probed += 1;
    expect(probed).toBe(149);
    const after = await storageUsage(counterPort);

    const usage = storageBetween(before, after);
    expect(usage.requests).toEqual({ transaction: 2, 'point read counterKinds': 3, 'query counterKinds': 1, 'single write counterKinds': 1, 'bench query counterKinds': 1 });
    expect(usage.storageCpuSeconds).toBeGreaterThan(0);
    // Its own answers are not counted.
    const again = await storageUsage(counterPort);
    expect(again.requests).toEqual(after.requests);
  });

  it('answers the usage as it stood at given times, from its samples', async () => {
    const store = new TableStore(azurite.connectionString, 'counterTimes', rowSchema, (r) => ({ partitionKey: r.P, rowKey: r.R }));
    await store.ready();
    // Ten sample periods between a time and the next requests: room for a late timer on a busy machine.
    const settle = () => pause(10 * USAGE_SAMPLE_MS);
    const t0 = Date.now();
    await settle();
    await store.createManyIfAbsent(rows('t', 10));
    expect(await store.get('t', 'r0001')).toBeDefined();
    await settle();
    const t1 = Date.now();
    await settle();
    await store.get('t', 'r0002');
    await store.get('t', 'r0003');
    await settle();
    const t2 = Date.now();
    await settle();

    const [at0, at1, at2, later] = await storageUsageAt(counterPort, [t0, t1, t2, Date.now() + 60_000]);
    expect(storageBetween(at0!, at1!).requests).toEqual({ transaction: 1, 'point read counterTimes': 1 });
    expect(storageBetween(at1!, at2!).requests).toEqual({ 'point read counterTimes': 2 });
    expect(storageBetween(at0!, at1!).storageCpuSeconds).toBeGreaterThan(0);
    // A time not sampled yet answers the live figures.
    expect(storageBetween(at2!, later!).requests).toEqual({});
    expect(later!.cpuMicros).toBeGreaterThanOrEqual(at2!.cpuMicros);
  });

  it('fails clearly where no counter listens', async () => {
    await expect(countWrittenInAzurite(await freePort(), 'devstoreaccount1', [{ from: new Date(0), to: new Date() }], BASELINE_TABLE_PREFIX)).rejects.toThrow(/ECONNREFUSED/);
  });
});
