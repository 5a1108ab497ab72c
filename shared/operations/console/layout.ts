/**
 * The frame of every console page (head, navigation, footer) and the links between pages. Every
 * link carries the function key the page was opened with (`code`), so a person who opened the
 * console with `?code=<key>` stays signed in from page to page, as the JSON routes take it.
 */
import { html, type Markup } from './html';

export interface ConsoleContext {
  /** The path the routes sit under, e.g. "/api" (taken from the request). */
  basePath: string;
  /** The function key the page was opened with, carried on every link and form. */
  code?: string;
  /** The time the page is rendered (ISO). */
  now: string;
}

export type Section = 'overview' | 'invoices' | 'backlog' | 'proposals' | 'staging' | 'errors';

/** A URL of a route under the base path with its query, carrying the function key. */
export function urlOf(ctx: ConsoleContext, route: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') query.set(k, v);
  if (ctx.code !== undefined) query.set('code', ctx.code);
  const text = query.toString();
  return `${ctx.basePath}/${route}${text ? `?${text}` : ''}`;
}

/** A link to a console page (escaped by the template). */
export function link(ctx: ConsoleContext, route: string, params: Record<string, string | undefined>, text: string | Markup): Markup {
  return html`<a href="${urlOf(ctx, route, params)}">${text}</a>`;
}

/** The hidden field that keeps the function key on GET forms (a form's action drops its query). */
export function keyField(ctx: ConsoleContext): Markup {
  return ctx.code === undefined ? html`` : html`<input type="hidden" name="code" value="${ctx.code}">`;
}

const NAV: [Section, string, string][] = [
  ['overview', 'console', 'Overview'],
  ['invoices', 'console/invoices', 'Invoices'],
  ['backlog', 'console/backlog', 'Backlog'],
  ['proposals', 'console/proposals', 'Proposals'],
  ['staging', 'console/staging', 'Staging'],
  ['errors', 'console/errors', 'Errors'],
];

export function page(ctx: ConsoleContext, section: Section | undefined, title: string, body: Markup): string {
  const nav = NAV.map(([key, route, label]) => html`<a href="${urlOf(ctx, route)}"${key === section ? html` class="active" aria-current="page"` : html``}>${label}</a>`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Project invoicing console</title>
<link rel="stylesheet" href="${urlOf(ctx, 'console/assets/console.css')}">
<script src="${urlOf(ctx, 'console/assets/console.js')}" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="${urlOf(ctx, 'console')}">Project invoicing</a><nav aria-label="Console">${nav}</nav></header>
<main>
${body}
</main>
<footer>Rendered ${ctx.now} · <a href="${urlOf(ctx, 'openapi.json')}">OpenAPI description</a> · <a href="${urlOf(ctx, 'dashboard')}">dashboard JSON</a></footer>
</body>
</html>
`.text;
}

/** The headers every console page is answered with: HTML, no caching, nothing loaded from elsewhere. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
};
