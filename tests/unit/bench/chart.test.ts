import { describe, expect, it } from 'vitest';
import { escapeXml, niceCeil, renderBenchChart } from '../../../tools/bench/chart';
import { parseBenchResults, type BenchResults } from '../../../tools/bench/results';

const MB = 1024 * 1024;

/**
 * A small well-formedness check of an XML document: every tag closes in order, attributes are
 * quoted, text and attribute values hold no raw `<` and only known entities after `&`.
 * Answers the problems found (none: well-formed).
 */
function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
  const checkText = (t: string, where: string) => {
    if (t.includes('<')) problems.push(`raw < in ${where}`);
    if (t.replace(entity, '').includes('&')) problems.push(`raw & in ${where}: ${t.slice(0, 60)}`);
  };
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+\s*=\s*"[^"]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < body.length) {
    const lt = body.indexOf('<', i);
    const textPart = body.slice(i, lt === -1 ? body.length : lt);
    if (textPart.trim()) {
      if (stack.length === 0) problems.push(`text outside the root: ${textPart.slice(0, 40)}`);
      checkText(textPart, `text of <${stack.at(-1) ?? ''}>`);
    }
    if (lt === -1) break;
    token.lastIndex = lt;
    const m = token.exec(body);
    if (!m) {
      problems.push(`malformed tag at ${lt}: ${body.slice(lt, lt + 60)}`);
      break;
    }
    const [whole, closing, name = '', attrs = '', selfClosing] = m;
    for (const a of attrs.matchAll(/([\w:-]+)\s*=\s*"([^"]*)"/g)) checkText(a[2] ?? '', `attribute ${a[1]} of <${name}>`);
    const names = [...attrs.matchAll(/([\w:-]+)\s*=/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) problems.push(`duplicate attribute on <${name}>`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots += 1;
      stack.push(name);
    } else if (stack.length === 0) roots += 1;
    i = lt + whole.length;
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

function phase(scenario: string, name: string, ratio: number | null, extrapolated = true) {
  return {
    scenario,
    phase: name,
    ilds: 100,
    seconds: 2,
    entities: 300,
    tables: { dvActuals: 300 },
    baseline: { written: 300, seconds: ratio === null ? 0 : 2 / ratio, extrapolated },
    ratio,
    peakRssBytes: 200 * MB,
  };
}

const WEIRD = 'a <phase> & "more"';

function results(over: Partial<Record<'phases' | 'totals' | 'scaling', unknown[]>> = {}): BenchResults {
  return parseBenchResults({
    schema: 'project-invoicing-bench/v1',
    startedAt: '2026-12-01T10:11:12.000Z',
    commit: 'abc1234',
    machine: { cpus: 2, cpuModel: 'AMD <EPYC>', node: 'v20.20.2' },
    options: { quick: true, scenarios: ['A', 'B', 'C'], sizes: { aIlds: 100, bInvoices: 5, bIldsPerInvoice: 20, cSizes: [100, 1000, 10000] } },
    phases: over.phases ?? [
      phase('A', 'approvals + actuals sync', 2.16),
      phase('A', WEIRD, 1.12, false),
      phase('A', 'accounting back', null),
      phase('B', 'invoice creation', 4.69),
      phase('B', 'confirmation + sync', 2.45),
    ],
    totals: over.totals ?? [
      { ...phase('A', 'total', 1.66), peakRssBytes: 428 * MB },
      { ...phase('B', 'total', 3.05), peakRssBytes: 241 * MB },
    ],
    scaling: over.scaling ?? [
      { ilds: 100, seconds: 1.7, entities: 1220, msPerIld: 17.4, ratio: 3.7, peakRssBytes: 129 * MB, growth: 1 },
      { ilds: 1000, seconds: 4.2, entities: 12020, msPerIld: 4.2, ratio: 2.06, peakRssBytes: 195 * MB, growth: 0.24 },
      { ilds: 10000, seconds: 24.6, entities: 120020, msPerIld: 2.5, ratio: 1.64, peakRssBytes: 1004 * MB, growth: 0.14 },
    ],
    problems: [],
  });
}

const count = (svg: string, re: RegExp) => (svg.match(re) ?? []).length;

describe('renderBenchChart', () => {
  const svg = renderBenchChart(results(), { source: 'bench-2026-12-01T10-11-12Z.json' });

  it('is a well-formed SVG document', () => {
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(xmlProblems(svg)).toEqual([]);
  });

  it('draws one ratio bar per A and B phase with a ratio, and one per total', () => {
    // 4 phases with a ratio + 2 totals; the phase without a baseline gets a label, no bar
    expect(count(svg, /<rect class="bar ratio"/g)).toBe(6);
    expect(count(svg, /<rect class="bar ratio" data-scenario="A"/g)).toBe(3);
    expect(count(svg, /<rect class="bar ratio" data-scenario="B"/g)).toBe(3);
    expect(svg).toContain('>A · accounting back</text>');
    expect(svg).toContain('- (no baseline)');
    expect(svg).toContain('>~2.16x</text>');
    expect(svg).toContain('>1.12x</text>');
    expect(svg).toContain('font-weight="bold">A · total</text>');
    // A total says what its ratio was made of: 300 entities in a 2 / 1.66 s baseline are 249 a second
    expect(svg).toContain('>~1.66x (2.00 s; baseline 249 entities/s)</text>');
    expect(svg).toContain('goal 1.5x');
  });

  it('puts a total\'s label inside its bar when it would run off the chart', () => {
    const wide = renderBenchChart(results({ totals: [{ ...phase('A', 'total', 9.5), peakRssBytes: 428 * MB }] }));
    expect(wide).toMatch(/<text x="[\d.]+" y="[\d.]+" text-anchor="end" class="value" fill="#fff" font-weight="bold">~9.50x \(2.00 s; baseline 1,425 entities\/s\)<\/text>/);
    expect(svg).not.toContain('class="value" fill="#fff"');
  });

  it('plots C as ms per ILD against the size, and the peak memory of every scenario and size', () => {
    expect(count(svg, /<circle class="point"/g)).toBe(3);
    expect(svg).toContain('>17.4 (1.00x)</text>');
    expect(svg).toContain('>10,000</text>');
    expect(count(svg, /<rect class="bar memory"/g)).toBe(5);
    expect(svg).toContain('>1,004</text>');
    expect(svg).toContain('goal 512 MB');
  });

  it('escapes what it did not write itself', () => {
    expect(svg).toContain('A · a &lt;phase&gt; &amp; &quot;more&quot;');
    expect(svg).not.toContain(WEIRD);
    expect(svg).toContain('AMD &lt;EPYC&gt;');
    expect(svg).toContain('2026-12-01 10:11 UTC, commit abc1234');
  });

  it('says what is missing instead of drawing an empty axis', () => {
    const empty = renderBenchChart(results({ phases: [], totals: [], scaling: [] }));
    expect(xmlProblems(empty)).toEqual([]);
    expect(empty).toContain('No A or B phases in this run.');
    expect(empty).toContain('No C sizes in this run.');
    expect(empty).toContain('No memory figures in this run.');
    expect(count(empty, /class="bar /g)).toBe(0);
  });

  it('draws a single C size in the middle', () => {
    const one = renderBenchChart(results({ scaling: [{ ilds: 500, seconds: 2, entities: 6000, msPerIld: 4, ratio: 2, growth: 1 }] }));
    expect(xmlProblems(one)).toEqual([]);
    expect(count(one, /<circle class="point"/g)).toBe(1);
  });
});

describe('the checker itself', () => {
  it('finds unclosed and crossed tags, raw ampersands and a second root', () => {
    expect(xmlProblems('<svg><g></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg><text>a & b</text></svg>')).toEqual(['raw & in text of <text>: a & b']);
    expect(xmlProblems('<svg/><svg/>')).toEqual(['2 root elements']);
    expect(xmlProblems('<svg a="1" a="2"/>')).toEqual(['duplicate attribute on <svg>']);
  });
});

describe('helpers', () => {
  it('escapes the five XML characters', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });

  it('rounds axis ends up to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect([0, 0.8, 1, 1.2, 2.2, 3, 7, 12, 1004].map(niceCeil)).toEqual([1, 1, 1, 2, 2.5, 5, 10, 20, 2000]);
  });
});
