import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../dev/azurite';
import { TableStore, odata } from '../../../shared/storage/tableStore';

const rowSchema = z.object({ group: z.string(), id: z.string(), value: z.number() });
type Rec = z.infer<typeof rowSchema>;

let azurite: LocalAzurite;
let store: TableStore<Rec>;

beforeAll(async () => {
  azurite = await startAzurite();
  store = new TableStore(azurite.connectionString, 'storageTest', rowSchema, (r) => ({ partitionKey: r.group, rowKey: r.id }));
});
afterAll(async () => {
  await azurite?.stop();
});

const rec = (group: string, i: number, value = i): Rec => ({ group, id: `r${String(i).padStart(5, '0')}`, value });
const strip = ({ group, id, value }: Rec): Rec => ({ group, id, value });

describe('TableStore on Azurite', () => {
  it('creates many rows across partitions in 100-row transactions and pages them back', async () => {
    const records = [...Array.from({ length: 250 }, (_, i) => rec('a', i)), ...Array.from({ length: 30 }, (_, i) => rec('b', i))];
    expect(await store.createManyIfAbsent(records)).toBe(280);
    const a = await store.listPartition('a');
    expect(a).toHaveLength(250);
    expect(a.map((r) => r.value).sort((x, y) => x - y)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(await store.query(odata`PartitionKey eq ${'b'} and value ge ${20}`)).toHaveLength(10);
  });

  it('createManyIfAbsent after a partial write creates only the missing rows and leaves existing ones untouched', async () => {
    await store.createManyIfAbsent([rec('c', 1, 100), rec('c', 3, 300)]);
    const created = await store.createManyIfAbsent(Array.from({ length: 150 }, (_, i) => rec('c', i, -1)));
    expect(created).toBe(148);
    expect((await store.get('c', 'r00001'))?.value).toBe(100);
    expect((await store.get('c', 'r00003'))?.value).toBe(300);
    expect((await store.get('c', 'r00004'))?.value).toBe(-1);
  });

  it('createIfAbsent and ETag-guarded replace', async () => {
    expect(await store.createIfAbsent(rec('d', 1))).toBe('created');
    expect(await store.createIfAbsent(rec('d', 1, 5))).toBe('exists');
    const row = await store.get('d', 'r00001');
    expect(row?.value).toBe(1);
    expect(await store.replaceIfMatch({ ...rec('d', 1), value: 2 }, row!.etag)).toBe(true);
    expect(await store.replaceIfMatch({ ...rec('d', 1), value: 3 }, row!.etag)).toBe(false);
    expect((await store.get('d', 'r00001'))?.value).toBe(2);
    expect(await store.get('d', 'missing')).toBeUndefined();
  });

  it('Replace in a big partition (updated in place by the Azurite preload) drops old fields, guards ETags and rolls back a failed transaction whole', async () => {
    const client = store.client;
    await store.createManyIfAbsent(Array.from({ length: 300 }, (_, i) => rec('f', i)));
    await client.updateEntity({ partitionKey: 'f', rowKey: 'r00005', group: 'f', id: 'r00005', value: 5, extra: 'x' }, 'Merge');
    await store.upsertMany([rec('f', 5, 50)]); // Replace: `extra` must be gone
    expect(await client.getEntity('f', 'r00005')).not.toHaveProperty('extra');

    const rows = await store.listPartition('f');
    const stale = rows.find((r) => r.id === 'r00010')!;
    await store.replaceIfMatch(rec('f', 10, 1000), stale.etag);
    const batch = rows.filter((r) => r.id >= 'r00000' && r.id < 'r00050').map((r) => ({ record: { ...strip(r), value: -1 }, etag: r.etag }));
    await expect(store.replaceManyIfMatch(batch)).rejects.toMatchObject({ statusCode: 412 });
    const after = await store.listPartition('f');
    expect(after.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => rec('f', i).id));
    expect(after.filter((r) => r.value === -1)).toHaveLength(0);
    expect(after.find((r) => r.id === 'r00010')?.value).toBe(1000);
    expect(after.find((r) => r.id === 'r00011')?.etag).toBe(rows.find((r) => r.id === 'r00011')?.etag);

    await store.replaceManyIfMatch(after.filter((r) => r.id >= 'r00100' && r.id < 'r00200').map((r) => ({ record: { ...strip(r), value: r.value + 1 }, etag: r.etag })));
    const bumped = await store.listPartition('f');
    expect(bumped.map((r) => r.id)).toEqual(after.map((r) => r.id));
    expect(bumped.filter((r) => r.value === Number(r.id.slice(1)) + 1).map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => rec('f', 100 + i).id));
  });

  it('reports a malformed stored row with its keys', async () => {
    await store.client.createEntity({ partitionKey: 'e', rowKey: 'bad', group: 'e', id: 'bad', value: 'not a number' });
    await expect(store.get('e', 'bad')).rejects.toThrow(/storageTest row e\/bad is malformed: value/);
  });
});
