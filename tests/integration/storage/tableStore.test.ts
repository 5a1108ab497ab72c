import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { StaleWriteError } from '../../../shared/core/errors';
import { isConflict, isInvalidRequest, isMissing, isPreconditionFailed, storageErrorCode } from '../../../shared/storage/storageErrors';
import { InvalidKeyError, MalformedRowError, TableStore, odata } from '../../../shared/storage/tableStore';

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
    expect((await store.createManyIfAbsent(records)).created).toBe(280);
    const a = await store.listPartition('a');
    expect(a).toHaveLength(250);
    expect(a.map((r) => r.value).sort((x, y) => x - y)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(await store.query(odata`PartitionKey eq ${'b'} and value ge ${20}`)).toHaveLength(10);
  });

  it('createManyIfAbsent after a partial write creates only the missing rows and leaves existing ones untouched', async () => {
    await store.createManyIfAbsent([rec('c', 1, 100), rec('c', 3, 300)]);
    const { created, existing } = await store.createManyIfAbsent(Array.from({ length: 150 }, (_, i) => rec('c', i, -1)));
    expect(created).toBe(148);
    expect([...existing.keys()].sort()).toEqual(['c/r00001', 'c/r00003']);
    expect(existing.get('c/r00001')?.value).toBe(100);
    expect((await store.get('c', 'r00001'))?.value).toBe(100);
    expect((await store.get('c', 'r00003'))?.value).toBe(300);
    expect((await store.get('c', 'r00004'))?.value).toBe(-1);
  });

  it('createIfAbsent and ETag-guarded replace', async () => {
    expect(await store.createIfAbsent(rec('d', 1))).toBe('created');
    expect(await store.createIfAbsent(rec('d', 1, 5))).toBe('exists');
    const row = await store.get('d', 'r00001');
    expect(row?.value).toBe(1);
    expect(await store.replaceIfMatch({ ...rec('d', 1), value: 2 }, row!.etag)).toEqual(expect.any(String));
    expect(await store.replaceIfMatch({ ...rec('d', 1), value: 3 }, row!.etag)).toBeUndefined();
    expect((await store.get('d', 'r00001'))?.value).toBe(2);
    expect(await store.get('d', 'missing')).toBeUndefined();
  });

  it('Replace in a big partition (updated in place by the Azurite preload) drops old fields, guards ETags and rolls back a failed transaction whole', async () => {
    const loose = new TableStore(azurite.connectionString, 'storageTest', rowSchema.extend({ extra: z.string().optional() }), (r) => ({ partitionKey: r.group, rowKey: r.id }));
    await store.createManyIfAbsent(Array.from({ length: 300 }, (_, i) => rec('f', i)));
    await store.mergeFields({ partitionKey: 'f', rowKey: 'r00005' }, { extra: 'x' });
    expect(await loose.get('f', 'r00005')).toHaveProperty('extra', 'x');
    await store.upsertMany([rec('f', 5, 50)]); // Replace: `extra` must be gone
    expect(await loose.get('f', 'r00005')).not.toHaveProperty('extra');

    const rows = await store.listPartition('f');
    const stale = rows.find((r) => r.id === 'r00010')!;
    await store.replaceIfMatch(rec('f', 10, 1000), stale.etag);
    const batch = rows.filter((r) => r.id >= 'r00000' && r.id < 'r00050').map((r) => ({ record: { ...strip(r), value: -1 }, etag: r.etag }));
    await expect(store.replaceAllIfMatch(batch)).rejects.toBeInstanceOf(StaleWriteError);
    const after = await store.listPartition('f');
    expect(after.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => rec('f', i).id));
    expect(after.filter((r) => r.value === -1)).toHaveLength(0);
    expect(after.find((r) => r.id === 'r00010')?.value).toBe(1000);
    expect(after.find((r) => r.id === 'r00011')?.etag).toBe(rows.find((r) => r.id === 'r00011')?.etag);

    await store.replaceAllIfMatch(after.filter((r) => r.id >= 'r00100' && r.id < 'r00200').map((r) => ({ record: { ...strip(r), value: r.value + 1 }, etag: r.etag })));
    const bumped = await store.listPartition('f');
    expect(bumped.map((r) => r.id)).toEqual(after.map((r) => r.id));
    expect(bumped.filter((r) => r.value === Number(r.id.slice(1)) + 1).map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => rec('f', 100 + i).id));
  });

  it('reports a malformed stored row with its table, keys and field, as a Business error', async () => {
    const anything = new TableStore(azurite.connectionString, 'storageTest', z.object({ group: z.string(), id: z.string(), value: z.unknown() }), (r) => ({ partitionKey: r.group, rowKey: r.id }));
    await anything.createIfAbsent({ group: 'e', id: 'bad', value: 'not a number' });
    const error = await store.get('e', 'bad').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedRowError);
    expect(String(error)).toMatch(/storageTest row e\/bad is malformed: value/);
  });

  it('refuses keys the service would refuse, before any call', async () => {
    await expect(store.createIfAbsent({ group: 'g', id: 'a/b', value: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.createIfAbsent({ group: 'g', id: 'k'.repeat(513), value: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await store.createIfAbsent({ group: 'g', id: 'k'.repeat(512), value: 1 })).toBe('created');
  });
});

describe('bulk writes', () => {
  const schema = z.object({ p: z.string(), r: z.string(), v: z.number() });
  type Rec2 = z.infer<typeof schema>;
  const table = () => new TableStore<Rec2>(azurite.connectionString, 'helperTest', schema, (x) => ({ partitionKey: x.p, rowKey: x.r }));
  const row = (p: string, i: number, v = i): Rec2 => ({ p, r: String(i).padStart(4, '0'), v });

  it('replaceEachIfMatch writes every unchanged row and leaves the one changed meanwhile', async () => {
    const t = table();
    await t.createManyIfAbsent(Array.from({ length: 150 }, (_, i) => row('a', i)));
    const read = await t.listPartition('a');
    await t.upsert(row('a', 7, 700)); // someone else changes row 7 after our read
    const written = await t.replaceEachIfMatch(read.map(({ etag, ...r }) => ({ record: { ...r, v: r.v + 1000 }, etag })));
    expect(written.size).toBe(149);
    expect(written.has('a/0007')).toBe(false);
    expect((await t.get('a', '0007'))?.v).toBe(700);
    expect((await t.get('a', '0008'))?.v).toBe(1008);
    expect((await t.get('a', '0120'))?.v).toBe(1120);
  });

  it('createManyIfAbsent creates the missing rows and reports the existing ones with what they hold', async () => {
    const t = table();
    await t.createIfAbsent(row('b', 3, 333));
    await t.createIfAbsent(row('b', 140, 444));
    const { created, existing } = await t.createManyIfAbsent(Array.from({ length: 150 }, (_, i) => row('b', i, -1)));
    expect(created).toBe(148);
    expect([...existing.keys()].sort()).toEqual(['b/0003', 'b/0140']);
    expect(existing.get('b/0003')?.v).toBe(333);
    expect((await t.get('b', '0004'))?.v).toBe(-1);
    expect((await t.listPartition('b')).length).toBe(150);
  });

  it('createGroupsIfAbsent writes each group whole, once', async () => {
    const t = table();
    const groups = Array.from({ length: 20 }, (_, g) => [row(`v${g}`, 1), row(`v${g}`, 2)]);
    await t.createIfAbsent(row('v3', 2, 99)); // as if written before
    expect(await t.createGroupsIfAbsent(groups)).toBe(19);
    expect(await t.createGroupsIfAbsent(groups)).toBe(0);
    expect((await t.listPartition('v3')).map((r) => r.v)).toEqual([99]);
    expect((await t.listPartition('v4')).map((r) => r.v)).toEqual([1, 2]);
    await expect(t.createGroupsIfAbsent([[row('x', 1), row('y', 1)]])).rejects.toThrow(/one partition/);
  });

  it('mergeMany merges only the given fields, and writes a missing row whole', async () => {
    const t = new TableStore(azurite.connectionString, 'mergeTest', z.object({ p: z.string(), r: z.string(), v: z.number(), w: z.string().optional() }), (x) => ({ partitionKey: x.p, rowKey: x.r }));
    await t.createManyIfAbsent(Array.from({ length: 120 }, (_, i) => ({ ...row('m', i), w: 'old' })));
    await t.upsert({ ...row('m', 5), v: 500, w: 'old' }); // changed by someone else: v must survive
    await t.mergeMany([
      ...Array.from({ length: 120 }, (_, i) => ({ record: { ...row('m', i), w: 'old' }, fields: { w: 'new' } })),
      { record: { ...row('m', 500), w: 'x' }, fields: { w: 'created' } },
    ]);
    expect(await t.get('m', '0005')).toMatchObject({ v: 500, w: 'new' });
    expect(await t.get('m', '0119')).toMatchObject({ v: 119, w: 'new' });
    expect(await t.get('m', '0500')).toMatchObject({ v: 500, w: 'created' });
  });

  it('mergeFieldsMany never creates a row: skips missing ones, or fails their transaction whole', async () => {
    const t = table();
    await t.createManyIfAbsent(Array.from({ length: 10 }, (_, i) => row('n', i)));
    const patches = Array.from({ length: 12 }, (_, i) => ({ keys: { partitionKey: 'n', rowKey: String(i).padStart(4, '0') }, fields: { v: -i } }));
    await expect(t.mergeFieldsMany(patches, { missing: 'fail' })).rejects.toSatisfy(isMissing);
    expect((await t.get('n', '0001'))?.v).toBe(1); // the transaction failed whole
    await t.mergeFieldsMany(patches, { missing: 'skip' });
    expect((await t.get('n', '0001'))?.v).toBe(-1);
    expect(await t.get('n', '0011')).toBeUndefined();
  });

  it('deleteMany and clear tolerate rows that are gone already', async () => {
    const t = table();
    await t.createManyIfAbsent(Array.from({ length: 130 }, (_, i) => row('d', i)));
    await t.delete('d', '0005');
    await t.deleteMany(Array.from({ length: 20 }, (_, i) => ({ partitionKey: 'd', rowKey: String(i).padStart(4, '0') })));
    expect(await t.count(odata`PartitionKey eq ${'d'}`)).toBe(110);
    await t.clear();
    expect(await t.count()).toBe(0);
  });

  it('transact is all or nothing, and its failure names the service code', async () => {
    const t = table();
    await t.createIfAbsent(row('t', 2));
    const error = await t.transact([{ op: 'create', record: row('t', 1) }, { op: 'create', record: row('t', 2) }]).catch((e: unknown) => e);
    expect(isConflict(error)).toBe(true);
    expect(storageErrorCode(error)).toBe('EntityAlreadyExists');
    expect(await t.get('t', '0001')).toBeUndefined();
  });
});

describe('storage failures are classified by code and status', () => {
  const schema = z.object({ p: z.string(), r: z.string(), s: z.string().optional() });
  const t = () => new TableStore(azurite.connectionString, 'classifyTest', schema, (x) => ({ partitionKey: x.p, rowKey: x.r }));

  it.each([
    ['a single create of an existing row', async (x: ReturnType<typeof t>) => x.transact([{ op: 'create', record: { p: 'c', r: 'one' } }]), isConflict, 'EntityAlreadyExists'],
    ['a merge into a missing row', async (x: ReturnType<typeof t>) => x.transact([{ op: 'merge', keys: { partitionKey: 'c', rowKey: 'none' }, fields: { s: 'y' } }]), isMissing, 'ResourceNotFound'],
    ['a replace with a stale ETag', async (x: ReturnType<typeof t>) => x.transact([{ op: 'replace', record: { p: 'c', r: 'one' }, etag: 'W/"datetime\'2000-01-01T00%3A00%3A00.0000000Z\'"' }]), isPreconditionFailed, 'UpdateConditionNotSatisfied'],
    ['a value over 64 KiB', async (x: ReturnType<typeof t>) => x.transact([{ op: 'create', record: { p: 'c', r: 'big', s: 'x'.repeat(40_000) } }]), isInvalidRequest, 'PropertyValueTooLarge'],
  ])('%s', async (_what, act, is, code) => {
    const x = t();
    await x.createIfAbsent({ p: 'c', r: 'one' });
    const error = await act(x).catch((e: unknown) => e);
    expect(is(error)).toBe(true);
    expect(storageErrorCode(error)).toBe(code);
  });
});
