/**
 * The app's entry (package.json "main"): settings are parsed and clients built once, then every
 * function is registered. The Azure Functions worker, `func start` and the local host in dev/
 * all load this one module, so they run exactly the same registrations.
 */
import { getCompositionRoot } from '../shared/compositionRoot';
import { onAppTerminate } from '../shared/triggers/lifecycle';
import { registerHealth } from './health';
import { registerConfirmProformaInvoice } from './confirmProformaInvoice';
import { registerSyncInvoiceProposal } from './syncInvoiceProposal';
import { registerSyncActuals } from './syncActuals';
import { registerImportFromStaging } from './importFromStaging';
import { registerFinanceProposals } from './financeProposals';
import { registerPostInvoiceProposal } from './postInvoiceProposal';
import { registerSyncActualsAccounting } from './syncActualsAccounting';
import { registerPostFinanceProposal } from './postFinanceProposal';
import { registerDataverseApprovals } from './dataverseApprovals';
import { registerDataverseActuals } from './dataverseActuals';
import { registerDataverseInvoices } from './dataverseInvoices';
import { registerInvoiceTrace } from './invoiceTrace';
import { registerErrors } from './errors';
import { registerDashboard } from './dashboard';
import { registerRepublish } from './republish';
import { registerReconcile } from './reconcile';
import { registerDeadLetters } from './deadLetters';
import { registerDataverseWebhook } from './dataverseWebhook';
import { registerConfirmationPreview } from './confirmationPreview';
import { registerConsole } from './console';
import { registerOpenApi } from './openapi';

const root = getCompositionRoot();
onAppTerminate(() => root.close());

registerHealth(root);
registerConfirmProformaInvoice(root);
registerSyncInvoiceProposal(root);
registerSyncActuals(root);
registerImportFromStaging(root);
registerFinanceProposals(root);
registerPostInvoiceProposal(root);
registerSyncActualsAccounting(root);
registerPostFinanceProposal(root);
registerDataverseApprovals(root);
registerDataverseActuals(root);
registerDataverseInvoices(root);
registerInvoiceTrace(root);
registerErrors(root);
registerDashboard(root);
registerRepublish(root);
registerReconcile(root);
registerDeadLetters(root);
registerDataverseWebhook(root);
registerConfirmationPreview(root);
registerConsole(root);
// Last: its document lists every HTTP registration above.
registerOpenApi(root);
