/**
 * The app's entry (package.json "main"): settings are parsed and clients built once, then every
 * function is registered. The Azure Functions worker, `func start` and the local host in dev/
 * all load this one module, so they run exactly the same registrations.
 */
import { app } from '@azure/functions';
import { getContainer } from '../shared/compositionRoot';
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

const container = getContainer();
app.hook.appTerminate(() => container.close());

registerHealth(container);
registerConfirmProformaInvoice(container);
registerSyncInvoiceProposal(container);
registerSyncActuals(container);
registerImportFromStaging(container);
registerFinanceProposals(container);
registerPostInvoiceProposal(container);
registerSyncActualsAccounting(container);
registerPostFinanceProposal(container);
registerDataverseApprovals(container);
registerDataverseActuals(container);
registerDataverseInvoices(container);
registerInvoiceTrace(container);
registerErrors(container);
registerDashboard(container);
