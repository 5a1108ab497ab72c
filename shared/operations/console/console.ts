/**
 * The console: HTML pages for the people who run the integration (a project manager, an
 * accountant, whoever is on call), served by the app itself under `GET api/console`. Each page
 * gathers its data (consoleData.ts) and renders it (pages.ts); the assets are strings in the build
 * (assets.ts). Why it lives in operations: docs/architecture.md.
 */
import { CONSOLE_ASSETS } from './assets';
import {
  backlogPageData,
  errorsPageData,
  invoiceListData,
  invoicePageData,
  overviewData,
  proposalsPageData,
  stagingPageData,
  type ConsoleDeps,
} from './consoleData';
import type { ConsoleContext } from './layout';
import { backlogPage, errorsPage, failurePage, invoicePage, invoicesPage, overviewPage, proposalsPage, stagingPage } from './pages';

export type { ConsoleContext } from './layout';
export { CONSOLE_HEADERS } from './layout';
export { queryObject } from './consoleData';

export function consolePages(deps: ConsoleDeps) {
  return {
    overview: async (ctx: ConsoleContext) => overviewPage(ctx, await overviewData(deps)),
    invoices: async (ctx: ConsoleContext, query: Record<string, string>) => invoicesPage(ctx, await invoiceListData(deps, query)),
    invoice: async (ctx: ConsoleContext, invoiceId: string) => invoicePage(ctx, await invoicePageData(deps, invoiceId)),
    errors: async (ctx: ConsoleContext, query: Record<string, string>) => errorsPage(ctx, await errorsPageData(deps, query)),
    staging: async (ctx: ConsoleContext, query: Record<string, string>) => stagingPage(ctx, await stagingPageData(deps, query)),
    proposals: async (ctx: ConsoleContext, query: Record<string, string>) => proposalsPage(ctx, await proposalsPageData(deps, query)),
    backlog: async (ctx: ConsoleContext) => backlogPage(ctx, await backlogPageData(deps)),
    failure: (ctx: ConsoleContext, status: number, detail: string) => failurePage(ctx, status, detail),
    asset: (name: string) => CONSOLE_ASSETS[name],
  };
}

export type ConsolePages = ReturnType<typeof consolePages>;
