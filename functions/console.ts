import type { CompositionRoot } from '../shared/compositionRoot';
import { CONSOLE_HEADERS, queryObject, type ConsoleContext } from '../shared/operations/console/console';
import { guidParam, httpFunction, statusOf, type HttpRequest, type HttpResponseInit } from '../shared/triggers/http';

/** The console's routes (GET api/console and below): HTML pages for people. */
export const CONSOLE_FUNCTIONS = {
  overview: 'consoleOverview',
  invoices: 'consoleInvoices',
  invoice: 'consoleInvoice',
  errors: 'consoleErrors',
  staging: 'consoleStaging',
  proposals: 'consoleProposals',
  backlog: 'consoleBacklog',
  asset: 'consoleAsset',
} as const;

/** Where the routes sit (the part of the path before /console, e.g. /api), the function key the page came with, and the time. */
function contextOf(request: HttpRequest): ConsoleContext {
  const path = new URL(request.url).pathname;
  const at = path.indexOf('/console');
  const code = request.query.get('code') ?? undefined;
  return {
    basePath: at >= 0 ? path.slice(0, at) : '/api',
    ...(code !== undefined && /^[\x21-\x7e]{1,500}$/.test(code) ? { code } : {}),
    now: new Date().toISOString(),
  };
}

/**
 * The console's pages and assets (shared/operations/console). A page that fails answers an HTML
 * page with the status the JSON routes would answer (400, 404, 409, 500) and the reason.
 */
export function registerConsole(root: CompositionRoot): void {
  const pages = root.console;
  const page = (name: string, route: string, render: (ctx: ConsoleContext, request: HttpRequest) => Promise<string>) =>
    httpFunction(name, {
      route,
      methods: ['GET'],
      authLevel: 'function',
      handler: async (request, context): Promise<HttpResponseInit> => {
        const ctx = contextOf(request);
        try {
          return { status: 200, headers: { ...CONSOLE_HEADERS }, body: await render(ctx, request) };
        } catch (error) {
          const status = statusOf(error);
          if (status === undefined) context.error(`[${name}] invocation=${context.invocationId} ${request.url} failed: ${error instanceof Error ? error.stack : String(error)}`);
          const detail =
            status !== undefined && error instanceof Error
              ? error.message
              : `The page could not be made (${error instanceof Error ? error.message : 'unexpected error'}). It was logged with invocation id ${context.invocationId}; reloading may help if storage was briefly unavailable.`;
          return { status: status ?? 500, headers: { ...CONSOLE_HEADERS }, body: pages.failure(ctx, status ?? 500, detail) };
        }
      },
    });
  const query = (request: HttpRequest) => queryObject(request.query.entries());

  page(CONSOLE_FUNCTIONS.overview, 'console', (ctx) => pages.overview(ctx));
  page(CONSOLE_FUNCTIONS.invoices, 'console/invoices', (ctx, request) => pages.invoices(ctx, query(request)));
  page(CONSOLE_FUNCTIONS.invoice, 'console/invoices/{invoiceId}', (ctx, request) => pages.invoice(ctx, guidParam(request, 'invoiceId')));
  page(CONSOLE_FUNCTIONS.errors, 'console/errors', (ctx, request) => pages.errors(ctx, query(request)));
  page(CONSOLE_FUNCTIONS.staging, 'console/staging', (ctx, request) => pages.staging(ctx, query(request)));
  page(CONSOLE_FUNCTIONS.proposals, 'console/proposals', (ctx, request) => pages.proposals(ctx, query(request)));
  page(CONSOLE_FUNCTIONS.backlog, 'console/backlog', (ctx) => pages.backlog(ctx));

  httpFunction(CONSOLE_FUNCTIONS.asset, {
    route: 'console/assets/{name}',
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request): Promise<HttpResponseInit> => {
      const asset = pages.asset(request.params.name ?? '');
      if (!asset) return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'No such console asset (console.css, console.js).' };
      return { status: 200, headers: { 'content-type': asset.contentType, 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' }, body: asset.body };
    },
  });
}
