/**
 * Entity-group transactions written by the kit itself, sent through the Table client's own
 * pipeline (its authentication, retries, tracing and HTTP client settings).
 *
 * Why: the SDK's `submitTransaction` builds each of a transaction's operations by running it
 * through a full request pipeline of a TableClient it creates per transaction, then stitches the
 * captured requests into the multipart body. That costs the calling process about 0.13 ms of CPU
 * per entity, as much as Azurite spends storing it; the Functions host is CPU-bound on exactly
 * that in the benchmark's many-invoice scenario. The body below is the documented OData batch
 * format ("Performing entity group transactions"), the same bytes the SDK sends for the same
 * operations (a test compares them), built once per transaction.
 *
 * Only rows whose values are plain JSON (string, number, boolean) go this way; anything the SDK
 * would annotate with an EDM type (dates, Int64, binary, typed values), a SAS-signed client or a
 * Cosmos DB endpoint keeps the SDK's path (`handBuilt` answers false). Failures are thrown as the
 * SDK throws them: a RestError with the failing operation's status and the service's error code,
 * so storageErrors.ts classifies both paths alike.
 */
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type Pipeline, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';

const CRLF = '\r\n';
/** The service version the SDK's transactions name (data-tables 13.x). */
export const SERVICE_VERSION = '2019-02-02';

let httpClient: HttpClient | undefined;

/** The HTTP client of the kit's own requests (one per process, so connections are kept alive). */
export function kitHttpClient(): HttpClient {
  httpClient ??= createDefaultHttpClient();
  return httpClient;
}

/** What of a Table client a transaction needs: its account URL and its request pipeline. */
export interface TransactionTarget {
  readonly url: string;
  readonly pipeline: Pipeline;
}

function plain(value: unknown): boolean {
  return value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number';
}

/**
 * Whether the kit may send its own requests to this account: a Table storage account (or Azurite)
 * reached without a SAS in its URL. A SAS-signed URL or a Cosmos DB endpoint keeps the SDK's calls.
 */
export function plainAccount(url: string): boolean {
  return !url.includes('?') && !/\.cosmos\.|cosmos\.azure\./i.test(url);
}

/** Whether this transaction can be built here (see the header); otherwise the SDK sends it. */
export function handBuilt(target: Pick<TransactionTarget, 'url'>, actions: readonly TransactionAction[]): boolean {
  if (!plainAccount(target.url)) return false;
  for (const action of actions) {
    const entity = action[1] as Record<string, unknown>;
    for (const key in entity) if (!plain(entity[key])) return false;
  }
  return true;
}

/** A key as it appears in an entity's address: quotes doubled, then URI-encoded. */
export function keyInUrl(key: string): string {
  return encodeURIComponent(key.replace(/'/g, "''"));
}

/** Property names the service spells differently from the SDK's entity objects (as the SDK maps them). */
const SERVICE_NAMES: ReadonlyMap<string, string> = new Map([
  ['partitionKey', 'PartitionKey'],
  ['rowKey', 'RowKey'],
  ['etag', 'odata.etag'],
  ['timestamp', 'Timestamp'],
]);

/** The entity's JSON body: its fields in order, the keys (and metadata) under their service names. */
function entityJson(entity: Record<string, unknown>): string {
  const body: Record<string, unknown> = {};
  for (const name of Object.keys(entity)) body[SERVICE_NAMES.get(name) ?? name] = entity[name];
  return JSON.stringify(body);
}

/** One operation of the change set: its request line, headers and body. */
function operationPart(tableUrl: string, action: TransactionAction): string {
  const entity = action[1] as Record<string, unknown> & { partitionKey: string; rowKey: string };
  const address = `${tableUrl}(PartitionKey='${keyInUrl(entity.partitionKey)}',RowKey='${keyInUrl(entity.rowKey)}')`;
  const lines: string[] = [];
  let body: string | undefined;
  switch (action[0]) {
    case 'create':
      lines.push(`POST ${tableUrl} HTTP/1.1`, 'Content-Type: application/json;odata=nometadata', 'Accept: application/json;odata=minimalmetadata', 'DataServiceVersion: 3.0', 'Prefer: return-no-content');
      body = entityJson(entity);
      break;
    case 'update': {
      const mode = action[2] ?? 'Merge';
      const etag = action[3]?.etag ?? '*';
      lines.push(`${mode === 'Replace' ? 'PUT' : 'PATCH'} ${address} HTTP/1.1`, 'Content-Type: application/json', 'DataServiceVersion: 3.0', 'Accept: application/json', `If-Match: ${etag}`);
      body = entityJson(entity);
      break;
    }
    case 'upsert': {
      const mode = action[2] ?? 'Merge';
      lines.push(`${mode === 'Replace' ? 'PUT' : 'PATCH'} ${address} HTTP/1.1`, 'Content-Type: application/json', 'DataServiceVersion: 3.0', 'Accept: application/json');
      body = entityJson(entity);
      break;
    }
    case 'delete':
      lines.push(`DELETE ${address} HTTP/1.1`, 'Accept: application/json;odata=minimalmetadata', 'DataServiceVersion: 3.0', 'If-Match: *');
      break;
  }
  // Headers end with an empty line; a body follows one more line break (as the SDK writes it).
  const tail = body ? ['', '', body] : ['', ''];
  return ['content-type: application/http', 'content-transfer-encoding: binary', '', ...lines, ...tail].join(CRLF);
}

/** The multipart body of one transaction (one batch holding one change set). */
export function transactionBody(accountUrl: string, table: string, actions: readonly TransactionAction[], batchId: string, changesetId: string): string {
  const tableUrl = `${accountUrl.replace(/\/+$/, '')}/${table}`;
  const parts = [`--batch_${batchId}${CRLF}content-type: multipart/mixed; boundary=changeset_${changesetId}${CRLF}${CRLF}`];
  for (const action of actions) parts.push(`--changeset_${changesetId}${CRLF}${operationPart(tableUrl, action)}`);
  return `${parts.join(CRLF)}${CRLF}--changeset_${changesetId}--${CRLF}--batch_${batchId}--${CRLF}`;
}

/** The service's error body `{"odata.error":{code, message:{value}}}` as a RestError (as the SDK throws it). */
export function failure(text: string, status: number, response: PipelineResponse, fallbackMessage = 'Transaction Failed'): RestError {
  let message = fallbackMessage;
  let code: string | undefined;
  try {
    const error = (JSON.parse(text) as { 'odata.error'?: { code?: unknown; message?: { value?: unknown } } })['odata.error'];
    if (typeof error?.message?.value === 'string') message = error.message.value;
    if (typeof error?.code === 'string') code = error.code;
  } catch {
    // not the service's error body: keep the generic message
  }
  return new RestError(message, { code, statusCode: status, request: response.request, response });
}

/**
 * Read a transaction's answer: a failed batch (non-2xx) or any sub-response carrying a body (the
 * service answers a failing operation with its error, and nothing else) is thrown.
 */
export function checkTransactionResponse(response: PipelineResponse): void {
  const text = response.bodyAsText ?? '';
  if (response.status < 200 || response.status >= 300) throw failure(text, response.status, response);
  const subResponses = text.split('--changesetresponse_').slice(1, -1);
  for (const sub of subResponses) {
    const status = /HTTP\/1\.1 (\d+)/.exec(sub);
    if (!status) throw new Error(`A transaction's sub-response has no status line: ${sub.slice(0, 200)}`);
    const body = /\{(.*)\}/.exec(sub);
    if (body) throw failure(body[0], Number(status[1]), response);
  }
}

/**
 * Send one transaction of rows of one partition through the client's pipeline. A plain-http
 * account URL (Azurite) is one the client itself was allowed to use, so the request may be too.
 */
export async function submitTransaction(target: TransactionTarget, table: string, actions: readonly TransactionAction[]): Promise<void> {
  const batchId = randomUUID();
  const changesetId = randomUUID();
  const request = createPipelineRequest({
    url: `${target.url.replace(/\/+$/, '')}/$batch`,
    method: 'POST',
    body: transactionBody(target.url, table, actions, batchId, changesetId),
    allowInsecureConnection: target.url.toLowerCase().startsWith('http:'),
    headers: createHttpHeaders({
      accept: 'application/json',
      'x-ms-version': SERVICE_VERSION,
      DataServiceVersion: '3.0;',
      MaxDataServiceVersion: '3.0;NetFx',
      'Content-Type': `multipart/mixed; boundary=batch_${batchId}`,
      'Accept-Charset': 'UTF-8',
      Connection: 'Keep-Alive',
    }),
  });
  checkTransactionResponse(await target.pipeline.sendRequest(kitHttpClient(), request));
}
