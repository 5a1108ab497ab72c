/**
 * The kit's own entity-group transactions (shared/storage/transactionBatch.ts) against the SDK's
 * `submitTransaction`, which stays the reference: the same request bytes for the same operations,
 * the same rows stored, and the same errors (status and service code) from a real Azurite.
 */
import { createHttpHeaders, type PipelinePolicy, type PipelineRequest } from '@azure/core-rest-pipeline';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { storageErrorCode, storageStatus } from '../../../shared/storage/storageErrors';
import { handBuilt, submitTransaction, transactionBody } from '../../../shared/storage/transactionBatch';

let azurite: LocalAzurite;
const client = (table: string) => TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

/** Every operation shape the kit sends, with keys and values that need escaping. */
const ACTIONS: TransactionAction[] = [
  ['create', { partitionKey: "p'1 é", rowKey: 'a', text: 'x\'y "z" \u00e9\u4e2d\n', count: 7, big: 3_000_000_000, share: 0.125, negative: -12.5, flag: true, off: false }],
  ['update', { partitionKey: "p'1 é", rowKey: "k'1 é%+&=:;,@$!*()~", text: 'replaced' }, 'Replace', { etag: 'W/"datetime\'2026-12-02T07%3A11%3A47.123Z\'"' }],
  ['update', { partitionKey: "p'1 é", rowKey: 'c', text: 'merged' }, 'Merge'],
  ['update', { partitionKey: "p'1 é", rowKey: 'c2', text: 'merged' }, 'Merge', { etag: 'W/"x"' }],
  ['upsert', { partitionKey: "p'1 é", rowKey: 'd', text: 'whole' }, 'Replace'],
  ['upsert', { partitionKey: "p'1 é", rowKey: 'e', text: 'part' }, 'Merge'],
  ['delete', { partitionKey: "p'1 é", rowKey: 'f' }],
];

/** A policy that records the outgoing batch request and answers 202 without sending it. */
function capture(into: PipelineRequest[]): PipelinePolicy {
  return {
    name: 'captureBatch',
    sendRequest: async (request) => {
      into.push(request);
      return { request, status: 202, headers: createHttpHeaders({ 'content-type': 'multipart/mixed; boundary=batchresponse_x' }), bodyAsText: '' };
    },
  };
}

const HEADERS_PER_REQUEST = new Set(['x-ms-client-request-id', 'x-ms-date', 'authorization', 'user-agent', 'content-length', 'content-type']);
function stableHeaders(request: PipelineRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of request.headers) if (!HEADERS_PER_REQUEST.has(name.toLowerCase())) out[name.toLowerCase()] = value;
  return out;
}

describe('hand-built transactions', () => {
  it('send the bytes the SDK sends for every operation shape (body, boundaries, outer headers)', async () => {
    const sent: PipelineRequest[] = [];
    const c = client('batchBytes');
    c.pipeline.addPolicy(capture(sent), { afterPhase: 'Sign' });
    await c.submitTransaction(ACTIONS);
    expect(handBuilt(c, ACTIONS)).toBe(true);
    await submitTransaction(c, 'batchBytes', ACTIONS);
    expect(sent).toHaveLength(2);
    const [sdk, ours] = sent as [PipelineRequest, PipelineRequest];

    const sdkBody = String(sdk.body);
    const batchId = /^--batch_([0-9a-f-]+)\r\n/.exec(sdkBody)?.[1];
    const changesetId = /boundary=changeset_([0-9a-f-]+)/.exec(sdkBody)?.[1];
    expect(batchId && changesetId).toBeTruthy();
    expect(transactionBody(c.url, 'batchBytes', ACTIONS, batchId!, changesetId!)).toBe(sdkBody);

    expect(ours.method).toBe(sdk.method);
    expect(ours.url).toBe(sdk.url);
    expect(stableHeaders(ours)).toEqual(stableHeaders(sdk));
    expect(ours.headers.get('content-type')).toMatch(/^multipart\/mixed; boundary=batch_[0-9a-f-]+$/);
    expect(String(ours.body)).toContain(`--${/boundary=(batch_[0-9a-f-]+)/.exec(ours.headers.get('content-type')!)![1]}--\r\n`);
  });

  it('store the same rows as the SDK, value types included', async () => {
    const values = { text: 'x\'y "z" \u00e9\u4e2d', count: 7, big: 3_000_000_000, share: 0.125, negative: -12.5, flag: true, off: false, zero: 0 };
    const c = client('batchRows');
    await c.createTable();
    const rows = (pk: string): TransactionAction[] => [
      ['create', { partitionKey: pk, rowKey: "a'1 é", ...values }],
      ['upsert', { partitionKey: pk, rowKey: 'b', ...values }, 'Replace'],
    ];
    await c.submitTransaction(rows('sdk'));
    await submitTransaction(c, 'batchRows', rows('own'));
    for (const rowKey of ["a'1 é", 'b']) {
      const { etag: _e1, timestamp: _t1, partitionKey: _p1, 'odata.metadata': _m1, ...sdkRow } = await c.getEntity('sdk', rowKey);
      const { etag: _e2, timestamp: _t2, partitionKey: _p2, 'odata.metadata': _m2, ...ownRow } = await c.getEntity('own', rowKey);
      expect(ownRow).toEqual(sdkRow);
      expect(ownRow).toMatchObject(values);
    }
    // A hand-built replace with the row's ETag and a merge in one transaction, then both rows deleted in another.
    const a = await c.getEntity('own', "a'1 é");
    await submitTransaction(
      c,
      'batchRows',
      [
        ['update', { partitionKey: 'own', rowKey: "a'1 é", text: 'replaced' }, 'Replace', { etag: a.etag }],
        ['update', { partitionKey: 'own', rowKey: 'b', count: 8 }, 'Merge'],
      ],
    );
    const replaced = await c.getEntity<Record<string, unknown>>('own', "a'1 é");
    expect(replaced.text).toBe('replaced');
    expect(replaced.count).toBeUndefined();
    expect((await c.getEntity<Record<string, unknown>>('own', 'b')).count).toBe(8);
    await submitTransaction(c, 'batchRows', [['delete', { partitionKey: 'own', rowKey: "a'1 é" }], ['delete', { partitionKey: 'own', rowKey: 'b' }]]);
    expect((await c.listEntities({ queryOptions: { filter: "PartitionKey eq 'own'" } }).byPage().next()).value).toHaveLength(0);
  });

  it('fail as the SDK fails: the same status and service code, and nothing of the transaction written', async () => {
    const c = client('batchErrors');
    await c.createTable();
    await c.createEntity({ partitionKey: 'p', rowKey: 'exists', n: 1 });
    const stale = (await c.getEntity('p', 'exists')).etag;
    await c.updateEntity({ partitionKey: 'p', rowKey: 'exists', n: 2 }, 'Replace');
    const cases: [string, TransactionAction[]][] = [
      ['a create of a row that exists', [['create', { partitionKey: 'p', rowKey: 'new1', n: 1 }], ['create', { partitionKey: 'p', rowKey: 'exists', n: 1 }]]],
      ['a replace with a stale ETag', [['create', { partitionKey: 'p', rowKey: 'new2', n: 1 }], ['update', { partitionKey: 'p', rowKey: 'exists', n: 3 }, 'Replace', { etag: stale }]]],
      ['a merge of a missing row', [['create', { partitionKey: 'p', rowKey: 'new3', n: 1 }], ['update', { partitionKey: 'p', rowKey: 'missing', n: 3 }, 'Merge']]],
      ['a delete of a missing row', [['create', { partitionKey: 'p', rowKey: 'new4', n: 1 }], ['delete', { partitionKey: 'p', rowKey: 'missing' }]]],
    ];
    const outcome = async (send: () => Promise<unknown>) => {
      try {
        await send();
        return 'written';
      } catch (error) {
        return `${error instanceof Error ? error.name : typeof error} ${storageStatus(error)} ${storageErrorCode(error)}`;
      }
    };
    for (const [what, actions] of cases) {
      const sdk = await outcome(() => c.submitTransaction(actions));
      const ours = await outcome(() => submitTransaction(c, 'batchErrors', actions));
      expect(ours, what).toBe(sdk);
      expect(ours, what).toMatch(/^RestError (404|409|412) [A-Za-z]+$/);
    }
    const left = [];
    for await (const row of c.listEntities<{ n: number }>()) left.push(`${row.rowKey}=${row.n}`);
    expect(left).toEqual(['exists=2']);
  });

  it('leave to the SDK what it would type-annotate, and SAS-signed clients', () => {
    const c = client('batchTypes');
    expect(handBuilt(c, [['create', { partitionKey: 'p', rowKey: 'r', when: new Date(0) }]])).toBe(false);
    expect(handBuilt(c, [['create', { partitionKey: 'p', rowKey: 'r', big: BigInt(1) }]])).toBe(false);
    expect(handBuilt(c, [['create', { partitionKey: 'p', rowKey: 'r', typed: { value: '1', type: 'Int64' } }]])).toBe(false);
    expect(handBuilt(c, [['create', { partitionKey: 'p', rowKey: 'r', bytes: new Uint8Array([1]) }]])).toBe(false);
    expect(handBuilt({ url: 'https://acct.table.core.windows.net/?sv=2020&sig=x' }, [['create', { partitionKey: 'p', rowKey: 'r' }]])).toBe(false);
    expect(handBuilt(c, [['create', { partitionKey: 'p', rowKey: 'r', n: 1, s: 's', b: true, missing: undefined }]])).toBe(true);
  });
});
