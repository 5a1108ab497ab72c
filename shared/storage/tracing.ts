/**
 * One span per storage call: a pipeline policy every Table client of the kit carries, so each
 * request the SDK sends (a point read, a page of a query, a transaction, a table's creation) is a
 * CLIENT span `tables <operation> <table>` under whatever span is active (a function's
 * invocation). The invoice and proposal ids named in the rows it writes or reads become the span's
 * `invoiceId`/`proposalId` attributes and are reported to the invocation, so an import run that
 * settled one invoice's rows can be found by that invoice's id. Costs nothing when no tracer
 * provider is registered (the span does not record, the bodies are not read).
 */
import type { TableServiceClientOptions } from '@azure/data-tables';
import { BusinessKeys, inSpan, keysOfJsonText, markFailed, reportKeys, SpanKind } from '../telemetry/tracing';

type PipelinePolicy = NonNullable<TableServiceClientOptions['additionalPolicies']>[number]['policy'];

/** The operation and table of a Table storage request, from its method and URL. */
export function describeStorageRequest(method: string, url: string, table: string | undefined): { operation: string; table: string } {
  let path = '';
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    path = url;
  }
  const last = path.split('/').filter(Boolean).at(-1) ?? '';
  const upper = method.toUpperCase();
  if (last === '$batch') return { operation: 'transaction', table: table ?? 'tables' };
  if (/^Tables(\(|$)/.test(last)) {
    const named = /^Tables\('([^']*)'\)/.exec(last)?.[1];
    return { operation: upper === 'POST' ? 'createTable' : upper === 'DELETE' ? 'deleteTable' : 'listTables', table: named ?? table ?? 'tables' };
  }
  const name = /^([^(]+)/.exec(last)?.[1] ?? table ?? 'tables';
  const pointed = /\(PartitionKey=/.test(last);
  const operation =
    upper === 'GET' ? (pointed ? 'get' : 'query') : upper === 'POST' ? 'insert' : upper === 'PUT' ? 'upsert' : upper === 'DELETE' ? 'delete' : 'merge';
  return { operation, table: name };
}

/** The policy of one Table client (`table` names it; undefined for a service client). */
export function storageTracingPolicy(table: string | undefined): PipelinePolicy {
  return {
    name: 'integrationStorageTracing',
    sendRequest: (request, next) => {
      const what = describeStorageRequest(request.method, request.url, table);
      let server = '';
      try {
        server = new URL(request.url).host;
      } catch {
        // keep it empty
      }
      return inSpan(
        `tables ${what.operation} ${what.table}`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'db.system.name': 'azure.tables', 'db.operation.name': what.operation, 'db.collection.name': what.table, 'server.address': server, 'http.request.method': request.method },
        },
        async (span) => {
          if (!span.isRecording()) return next(request);
          const keys = new BusinessKeys();
          if (typeof request.body === 'string') keysOfJsonText(request.body, keys);
          const response = await next(request);
          span.setAttribute('http.response.status_code', response.status);
          // 404, 409 and 412 are answers the kit expects (absent, exists, changed); 5xx is a fault.
          if (response.status >= 500) markFailed(span, `Table storage answered ${response.status}`);
          if (response.bodyAsText) keysOfJsonText(response.bodyAsText, keys);
          if (!keys.empty) {
            span.setAttributes(keys.attributes());
            reportKeys(keys);
          }
          return response;
        },
      );
    },
  };
}
