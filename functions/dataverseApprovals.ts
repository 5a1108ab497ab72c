import type { CompositionRoot } from '../shared/compositionRoot';
import { approvalRequestSchema } from '../shared/dataverse/approvals';
import { httpFunction, json, readJson } from '../shared/triggers/http';

export const APPROVE_ENTRIES = 'approveEntries';

/** POST api/dataverse/approvals: approve time, expense and material entries into actuals (domain step 1). */
export function registerDataverseApprovals(root: CompositionRoot): void {
  httpFunction(APPROVE_ENTRIES, {
    route: 'dataverse/approvals',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const result = await root.dataverse.approve(await readJson(request, approvalRequestSchema));
      context.log(`[${APPROVE_ENTRIES}] invocation=${context.invocationId} approved ${result.entries.length} entr(ies): ${result.created} new actual(s), ${result.messageIds.length} message(s) to actuals`);
      return json(201, result);
    },
  });
}
