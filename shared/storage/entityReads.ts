/**
 * Point reads and queries sent by the kit itself through the Table client's own pipeline (its
 * authentication, retries, tracing and HTTP client settings), as transactionBatch.ts does for
 * transactions.
 *
 * Why: `TableClient.getEntity` and `listEntities` run every answer through the SDK's generic
 * serializer and then its entity deserializer, about 0.3 ms of the caller's CPU per request on
 * top of the HTTP exchange (measured against Azurite: 0.58 ms against 0.21 ms of the caller's CPU
 * per read, for the same 3,000 point reads with 32 in flight; docs/decisions/storage-kit.md). The Functions host is CPU-bound next to Azurite in the benchmark's many-invoice
 * scenario, where most of its requests are reads. The requests below are the documented REST
 * calls ("Query Entities"), with the JSON answer read as the SDK reads it: keys and ETag under the
 * SDK's names, the Timestamp and OData metadata dropped (the kit's `parse` drops them too).
 *
 * Only answers whose values are plain JSON take this path. A value the service annotates with an
 * EDM type the SDK would convert (a date, Int64, GUID or binary) makes the call answer `TYPED`, and
 * the caller asks the SDK instead, so such rows read exactly as before. The same accounts as the
 * kit's transactions go this way (`plainAccount`); others keep the SDK's calls.
 */
import { createHttpHeaders, createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { failure, keyInUrl, kitHttpClient, SERVICE_VERSION, type TransactionTarget } from './transactionBatch';

/** The answer held a value with an EDM type the SDK converts: read it through the SDK instead. */
export const TYPED = Symbol('typed values');

/** An entity as the SDK hands it out: keys as partitionKey/rowKey, the ETag as etag, the fields. */
export type ReadEntity = Record<string, unknown> & { partitionKey: string; rowKey: string; etag: string };

const FORMAT = 'application/json;odata=minimalmetadata';
const FORMAT_PARAM = `$format=${encodeURIComponent(FORMAT)}`;

function headers() {
  return createHttpHeaders({ Accept: FORMAT, DataServiceVersion: '3.0', MaxDataServiceVersion: '3.0;NetFx', 'x-ms-version': SERVICE_VERSION });
}

function tableUrl(target: TransactionTarget, table: string): string {
  return `${target.url.replace(/\/+$/, '')}/${table}`;
}

/** One entity of an answer under the SDK's names; TYPED when it holds a value the SDK would convert. */
export function entityOf(json: Record<string, unknown>): ReadEntity | typeof TYPED {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(json)) {
    const value = json[name];
    if (name.endsWith('@odata.type')) {
      // Doubles arrive as JSON numbers (the SDK hands them out as numbers too); "NaN" and the
      // infinities as strings, which the SDK converts: leave those to it.
      if (value === 'Edm.Double' && typeof json[name.slice(0, -'@odata.type'.length)] === 'number') continue;
      if (name === 'Timestamp@odata.type') continue;
      return TYPED;
    }
    switch (name) {
      case 'PartitionKey':
        out.partitionKey = value;
        break;
      case 'RowKey':
        out.rowKey = value;
        break;
      case 'odata.etag':
        out.etag = value;
        break;
      case 'Timestamp':
      case 'odata.metadata':
        break;
      default:
        out[name] = value;
    }
  }
  return out as ReadEntity;
}

async function send(target: TransactionTarget, url: string): Promise<PipelineResponse> {
  const request = createPipelineRequest({ url, method: 'GET', headers: headers(), allowInsecureConnection: target.url.toLowerCase().startsWith('http:') });
  return target.pipeline.sendRequest(kitHttpClient(), request);
}

/** One row by its keys: undefined when it (or its table) does not exist. */
export async function readEntity(target: TransactionTarget, table: string, partitionKey: string, rowKey: string): Promise<ReadEntity | undefined | typeof TYPED> {
  const response = await send(target, `${tableUrl(target, table)}(PartitionKey='${keyInUrl(partitionKey)}',RowKey='${keyInUrl(rowKey)}')?${FORMAT_PARAM}`);
  const text = response.bodyAsText ?? '';
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw failure(text, response.status, response, 'Point read failed');
  return entityOf(JSON.parse(text) as Record<string, unknown>);
}

/** Where the next page of a query starts (the service's continuation headers). */
export interface NextPage {
  partitionKey: string;
  rowKey?: string;
}

/** One page of a query: at most `pageSize` rows (the service gives at most 1,000) and where the next starts. */
export async function queryEntitiesPage(
  target: TransactionTarget,
  table: string,
  query: { filter?: string; select?: readonly string[]; pageSize?: number; next?: NextPage },
): Promise<{ entities: ReadEntity[]; next?: NextPage } | typeof TYPED> {
  const params = [FORMAT_PARAM];
  if (query.filter) params.push(`$filter=${encodeURIComponent(query.filter)}`);
  if (query.select?.length) params.push(`$select=${encodeURIComponent(query.select.join(','))}`);
  if (query.pageSize !== undefined) params.push(`$top=${query.pageSize}`);
  if (query.next) {
    params.push(`NextPartitionKey=${encodeURIComponent(query.next.partitionKey)}`);
    if (query.next.rowKey !== undefined) params.push(`NextRowKey=${encodeURIComponent(query.next.rowKey)}`);
  }
  const response = await send(target, `${tableUrl(target, table)}()?${params.join('&')}`);
  const text = response.bodyAsText ?? '';
  if (response.status !== 200) throw failure(text, response.status, response, 'Query failed');
  const body = JSON.parse(text) as { value?: Record<string, unknown>[] };
  const entities: ReadEntity[] = [];
  for (const json of body.value ?? []) {
    const entity = entityOf(json);
    if (entity === TYPED) return TYPED;
    entities.push(entity);
  }
  const nextPartitionKey = response.headers.get('x-ms-continuation-nextpartitionkey');
  const nextRowKey = response.headers.get('x-ms-continuation-nextrowkey');
  return nextPartitionKey ? { entities, next: { partitionKey: nextPartitionKey, ...(nextRowKey ? { rowKey: nextRowKey } : {}) } } : { entities };
}
