/**
 * The console's HTML building: every interpolated value is escaped unless it is markup the
 * template made; links carry the function key and encode their parameters.
 */
import { describe, expect, it } from 'vitest';
import { escapeHtml, html, joinMarkup, Markup } from '../../../shared/operations/console/html';
import { keyField, link, page, urlOf } from '../../../shared/operations/console/layout';

describe('html', () => {
  it('escapes every interpolated value, in content and in attributes', () => {
    const value = `<script>alert("x")</script> & 'quotes' \`tick\``;
    expect(html`<p title="${value}">${value}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &#96;tick&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &#96;tick&#96;</p>',
    );
    expect(escapeHtml('a&b<c>d"e\'f')).toBe('a&amp;b&lt;c&gt;d&quot;e&#39;f');
  });

  it('keeps markup made by the template, joins arrays, drops undefined, null and false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<div>${inner}${[html`<br>`, '<br>']}${undefined}${null}${false}${0}</div>`.text).toBe('<div><b>&lt;i&gt;</b><br>&lt;br&gt;0</div>');
    expect(joinMarkup([html`a`, html`b`], html`, `).text).toBe('a, b');
  });

  it('cannot be fooled by an object that looks like markup', () => {
    const fake = { text: '<script>1</script>', toString: () => '<script>1</script>' } as unknown as string;
    expect(html`${fake}`.text).toBe('&lt;script&gt;1&lt;/script&gt;');
    expect(Markup.trusted('<b>ok</b>').text).toBe('<b>ok</b>');
  });
});

describe('links', () => {
  const ctx = { basePath: '/api', code: 'k&y=1', now: '2026-12-01T00:00:00.000Z' };

  it('carry the function key and encode their parameters', () => {
    expect(urlOf(ctx, 'console/invoices', { q: 'PI 1&2', status: undefined, customer: '' })).toBe('/api/console/invoices?q=PI+1%262&code=k%26y%3D1');
    expect(link(ctx, 'console', {}, '<Overview>').text).toBe('<a href="/api/console?code=k%26y%3D1">&lt;Overview&gt;</a>');
    expect(keyField(ctx).text).toBe('<input type="hidden" name="code" value="k&amp;y=1">');
    expect(urlOf({ basePath: '/api', now: ctx.now }, 'console')).toBe('/api/console');
  });

  it('make a page whose title is escaped and whose assets come from the app', () => {
    const text = page(ctx, 'overview', '<x>', html`<p>body</p>`);
    expect(text).toContain('<title>&lt;x&gt; · Project invoicing console</title>');
    expect(text).toContain('<link rel="stylesheet" href="/api/console/assets/console.css?code=k%26y%3D1">');
    expect(text).toContain('<script src="/api/console/assets/console.js?code=k%26y%3D1" defer></script>');
    expect(text).not.toMatch(/https?:\/\//);
  });
});
