import { describe, expect, it } from 'vitest';
import { parseTimeSpan } from '../../../tools/host/config';
import { comparePrecedence, compileRoute, matchRoute } from '../../../tools/host/routes';

describe('local Functions host: route templates', () => {
  it('extracts parameters and decodes them', () => {
    const route = compileRoute('dataverse/invoices/{invoiceId}/details/{detailId}');
    expect(matchRoute(route, '/dataverse/invoices/a%20b/details/7')).toEqual({ invoiceId: 'a b', detailId: '7' });
    expect(matchRoute(route, '/dataverse/invoices/a/details')).toBeUndefined();
    expect(matchRoute(route, '/dataverse/invoices/a/details/7/extra')).toBeUndefined();
    expect(matchRoute(route, '/dataverse/invoices/a/details/7/')).toEqual({ invoiceId: 'a', detailId: '7' });
  });

  it('supports optional parameters, defaults and catch-all', () => {
    expect(matchRoute(compileRoute('files/{name?}'), '/files')).toEqual({});
    expect(matchRoute(compileRoute('files/{name?}'), '/files/x')).toEqual({ name: 'x' });
    expect(matchRoute(compileRoute('files/{name=index}'), '/files')).toEqual({ name: 'index' });
    expect(matchRoute(compileRoute('static/{*path}'), '/static/a/b%20c')).toEqual({ path: 'a/b c' });
  });

  it('checks constraints', () => {
    const route = compileRoute('items/{id:int:min(1)}');
    expect(matchRoute(route, '/items/5')).toEqual({ id: '5' });
    expect(matchRoute(route, '/items/0')).toBeUndefined();
    expect(matchRoute(route, '/items/x')).toBeUndefined();
    expect(matchRoute(compileRoute('x/{id:guid}'), '/x/3F2504E0-4F89-11D3-9A0C-0305E82C3301')).toBeDefined();
    expect(matchRoute(compileRoute('x/{code:regex(^[a-z]{{2}}$)}'), '/x/ab')).toBeDefined();
  });

  it('supports parameters inside a segment', () => {
    expect(matchRoute(compileRoute('reports/{name}.{ext}'), '/reports/q1.csv')).toEqual({ name: 'q1', ext: 'csv' });
  });

  it('orders literal before constrained before plain parameters before catch-all', () => {
    const literal = compileRoute('a/special');
    const constrained = compileRoute('a/{id:int}');
    const plain = compileRoute('a/{id}');
    const catchAll = compileRoute('a/{*rest}');
    const sorted = [catchAll, plain, literal, constrained].sort(comparePrecedence);
    expect(sorted.map((r) => r.template)).toEqual(['a/special', 'a/{id:int}', 'a/{id}', 'a/{*rest}']);
  });
});

describe('local Functions host: TimeSpan settings', () => {
  it('parses host.json TimeSpans', () => {
    expect(parseTimeSpan('00:05:00')).toBe(300_000);
    expect(parseTimeSpan('00:10:00')).toBe(600_000);
    expect(parseTimeSpan('1.02:00:00')).toBe(93_600_000);
    expect(parseTimeSpan('00:00:01.5')).toBe(1_500);
    expect(parseTimeSpan('*/5 * * * * *')).toBeUndefined();
  });
});
