import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { freePort } from '../../../tools/ports';
import { BASELINE_TABLE_PREFIX, countWritten } from '../../../tools/bench/storage';
import { countWrittenInAzurite, WRITE_COUNTER_PORT_ENV, writeCounterPreload } from '../../../tools/bench/writeCounter';
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

  it('fails clearly where no counter listens', async () => {
    await expect(countWrittenInAzurite(await freePort(), 'devstoreaccount1', [{ from: new Date(0), to: new Date() }], BASELINE_TABLE_PREFIX)).rejects.toThrow(/ECONNREFUSED/);
  });
});
