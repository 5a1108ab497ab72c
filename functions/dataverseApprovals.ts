import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { json, readJson, route } from '../shared/triggers/http';
import { approvalRequestSchema, approveEntries } from '../shared/dataverse/approvals';

export const APPROVE_ENTRIES = 'approveEntries';

/** POST api/dataverse/approvals: approve time, expense and material entries into actuals (domain step 1). */
export function registerDataverseApprovals(container: Container): void {
  app.http(APPROVE_ENTRIES, {
    route: 'dataverse/approvals',
    methods: ['POST'],
    authLevel: 'function',
    handler: route(APPROVE_ENTRIES, async (request, context) => {
      const body = await readJson(request, approvalRequestSchema);
      const result = await approveEntries({ dataverse: container.dataverse, publisher: container.publisher }, body);
      context.log(`[${APPROVE_ENTRIES}] invocation=${context.invocationId} approved ${result.entries.length} entr(ies): ${result.created} new actual(s), ${result.messageIds.length} message(s) to actuals`);
      return json(201, result);
    }),
  });
}
