/**
 * The benchmark's picture (pure: no I/O, unit-tested): one SVG next to the results JSON
 * (bench-results/bench-<timestamp>.svg), written by hand, no dependency.
 *
 * - Top: each phase of A and B as a bar of its ratio to the storage baseline (1.0x = as fast as
 *   Azurite writes as many entities; the dashed line at 1.5x is issue 20's goal), totals in bold.
 * - Bottom left: scenario C, milliseconds per ILD against the invoice size (log scale).
 * - Bottom right: the Functions host's peak memory per scenario and C size, with the 512 MB goal.
 */
import { baselineRate } from './figures';
import type { BenchResults, PhaseResult } from './results';

const WIDTH = 960;
const MARGIN = 20;
const LABEL_WIDTH = 300;
const ROW = 20;
const BAR = 14;
const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';
const COLORS: Record<string, string> = { A: '#4e79a7', B: '#f28e2b', C: '#59a14f' };
const MB = 1024 * 1024;
/** Goals of issue 20: every scenario within 1.5x of the storage limit, host under 512 MB at 50,000 lines. */
const RATIO_GOAL = 1.5;
const MEMORY_GOAL_MB = 512;

export interface ChartOptions {
  /** The results file's name, shown under the title. */
  source?: string;
}

/** Text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Coordinates with at most one decimal, so the file stays small and diffs stay readable. */
function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function colorOf(scenario: string): string {
  return COLORS[scenario.charAt(0)] ?? '#76b7b2';
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(content)}</text>`;
}

function formatRatio(r: number, extrapolated: boolean): string {
  return `${extrapolated ? '~' : ''}${r.toFixed(r < 10 ? 2 : 1)}x`;
}

function int(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

/** Round up to a "nice" axis end: 1, 2, 2.5, 5 x 10^k. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

interface RatioRow {
  scenario: string;
  label: string;
  ratio: number | null;
  extrapolated: boolean;
  total: boolean;
  /** For a total: its seconds and the baseline's entities per second, so the ratio can be read back. */
  detail?: string;
}

/** "68.5 s; baseline 9,271 entities/s": what a total's ratio was made of. */
function totalDetail(p: PhaseResult): string {
  const seconds = `${p.seconds >= 10 ? p.seconds.toFixed(1) : p.seconds.toFixed(2)} s`;
  const rate = baselineRate(p);
  return rate === null ? seconds : `${seconds}; baseline ${int(rate)} entities/s`;
}

function ratioRows(results: BenchResults): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const scenario of ['A', 'B']) {
    const phases = results.phases.filter((p) => p.scenario === scenario);
    if (!phases.length) continue;
    const row = (p: PhaseResult, total: boolean): RatioRow => ({
      scenario,
      label: `${scenario} · ${p.phase}`,
      ratio: p.ratio ?? null,
      extrapolated: p.baseline?.extrapolated === true,
      total,
      ...(total ? { detail: totalDetail(p) } : {}),
    });
    for (const p of phases) rows.push(row(p, false));
    const total = results.totals.find((t) => t.scenario === scenario);
    if (total) rows.push(row(total, true));
  }
  return rows;
}

/** Top panel: the ratio bars. Answers the SVG and its height. */
function ratioPanel(results: BenchResults, top: number): { svg: string; height: number } {
  const rows = ratioRows(results);
  const parts: string[] = [`<g class="panel ratios">`, text(MARGIN, top + 16, 'Time relative to the storage limit, per phase (A and B; 1.0x = Azurite writing as many entities)', 'class="panel-title"')];
  if (!rows.length) {
    parts.push(text(MARGIN, top + 44, 'No A or B phases in this run.', 'class="empty"'), '</g>');
    return { svg: parts.join('\n'), height: 60 };
  }
  const x0 = MARGIN + LABEL_WIDTH;
  const x1 = WIDTH - MARGIN - 60;
  const maxRatio = Math.max(RATIO_GOAL, ...rows.map((r) => r.ratio ?? 0));
  const xMax = Math.max(2, Math.ceil(maxRatio));
  const scale = (r: number) => x0 + ((x1 - x0) * r) / xMax;
  const y0 = top + 44;
  const yEnd = y0 + rows.length * ROW;
  for (let k = 0; k <= xMax; k += xMax > 10 ? 2 : 1) {
    parts.push(`<line class="grid" x1="${n(scale(k))}" y1="${n(y0)}" x2="${n(scale(k))}" y2="${n(yEnd)}" stroke="#ddd"/>`);
    parts.push(text(scale(k), yEnd + 14, `${k}x`, 'text-anchor="middle" class="tick"'));
  }
  rows.forEach((r, i) => {
    const y = y0 + i * ROW;
    const weight = r.total ? ' font-weight="bold"' : '';
    parts.push(text(x0 - 8, y + 11, r.label, `text-anchor="end" class="label"${weight}`));
    if (r.ratio === null) {
      parts.push(text(x0 + 4, y + 11, '- (no baseline)', 'class="value"'));
      return;
    }
    const w = Math.max(1, scale(r.ratio) - x0);
    parts.push(
      `<rect class="bar ratio" data-scenario="${escapeXml(r.scenario)}" x="${n(x0)}" y="${n(y + (ROW - BAR) / 2)}" width="${n(w)}" height="${BAR}" fill="${colorOf(r.scenario)}"${
        r.total ? ' stroke="#222" stroke-width="1.5"' : ''
      }><title>${escapeXml(`${r.label}: ${formatRatio(r.ratio, r.extrapolated)}`)}</title></rect>`,
    );
    const value = `${formatRatio(r.ratio, r.extrapolated)}${r.detail ? ` (${r.detail})` : ''}`;
    // About 6 px a character at 11 px: a label that would run off the chart goes inside its bar.
    if (x0 + w + 4 + value.length * 6 > WIDTH && w > value.length * 6 + 8) {
      parts.push(text(x0 + w - 4, y + 11, value, `text-anchor="end" class="value" fill="#fff"${weight}`));
    } else {
      parts.push(text(x0 + w + 4, y + 11, value, `class="value"${weight}`));
    }
  });
  parts.push(`<line class="limit" x1="${n(scale(1))}" y1="${n(y0 - 4)}" x2="${n(scale(1))}" y2="${n(yEnd)}" stroke="#222" stroke-width="1.5"/>`);
  parts.push(`<line class="goal" x1="${n(scale(RATIO_GOAL))}" y1="${n(y0 - 4)}" x2="${n(scale(RATIO_GOAL))}" y2="${n(yEnd)}" stroke="#c0392b" stroke-dasharray="5 3"/>`);
  parts.push(text(scale(1) - 4, y0 - 8, 'storage limit 1.0x', 'text-anchor="end" class="note"'));
  parts.push(text(scale(RATIO_GOAL) + 4, y0 - 8, `goal ${RATIO_GOAL}x`, 'class="note" fill="#c0392b"'));
  parts.push('</g>');
  return { svg: parts.join('\n'), height: yEnd - top + 24 };
}

const PANEL_HEIGHT = 240;

/** Bottom left: ms per ILD against the invoice size (log x). */
function scalingPanel(results: BenchResults, left: number, top: number, width: number): string {
  const rows = results.scaling.filter((s) => s.msPerIld !== null && s.ilds > 0);
  const parts: string[] = [`<g class="panel scaling">`, text(left, top + 16, 'C: milliseconds per ILD by invoice size', 'class="panel-title"')];
  if (!rows.length) {
    parts.push(text(left, top + 44, 'No C sizes in this run.', 'class="empty"'), '</g>');
    return parts.join('\n');
  }
  const px0 = left + 50;
  const px1 = left + width - 30;
  const py0 = top + PANEL_HEIGHT - 40;
  const py1 = top + 36;
  const yMax = niceCeil(Math.max(...rows.map((r) => r.msPerIld ?? 0)) * 1.15);
  const lo = Math.log10(Math.min(...rows.map((r) => r.ilds)));
  const hi = Math.log10(Math.max(...rows.map((r) => r.ilds)));
  const span = hi - lo || 1;
  const x = (ilds: number) => (hi === lo ? (px0 + px1) / 2 : px0 + ((px1 - px0) * (Math.log10(ilds) - lo)) / span);
  const y = (ms: number) => py0 - ((py0 - py1) * ms) / yMax;
  for (let k = 0; k <= 4; k += 1) {
    const v = (yMax * k) / 4;
    parts.push(`<line class="grid" x1="${n(px0)}" y1="${n(y(v))}" x2="${n(px1)}" y2="${n(y(v))}" stroke="#ddd"/>`);
    parts.push(text(px0 - 6, y(v) + 4, v.toFixed(v < 10 ? 1 : 0), 'text-anchor="end" class="tick"'));
  }
  parts.push(`<line class="axis" x1="${n(px0)}" y1="${n(py0)}" x2="${n(px1)}" y2="${n(py0)}" stroke="#222"/>`);
  // Upright along the y axis, left of the ticks (above them it ran into the panel title).
  const titleX = left + 12;
  const titleY = (py0 + py1) / 2;
  parts.push(text(titleX, titleY, 'ms per ILD', `class="axis-title" text-anchor="middle" transform="rotate(-90 ${n(titleX)} ${n(titleY)})"`));
  parts.push(`<polyline class="series" fill="none" stroke="${COLORS.C}" stroke-width="2" points="${rows.map((r) => `${n(x(r.ilds))},${n(y(r.msPerIld ?? 0))}`).join(' ')}"/>`);
  for (const r of rows) {
    const ms = r.msPerIld ?? 0;
    parts.push(`<circle class="point" cx="${n(x(r.ilds))}" cy="${n(y(ms))}" r="4" fill="${COLORS.C}"><title>${escapeXml(`${int(r.ilds)} ILDs: ${ms.toFixed(2)} ms per ILD`)}</title></circle>`);
    // A point on the y axis gets its label to the right of it, clear of the ticks.
    const onAxis = x(r.ilds) - px0 < 40;
    parts.push(text(onAxis ? x(r.ilds) + 6 : x(r.ilds), y(ms) - 8, `${ms.toFixed(ms < 10 ? 2 : 1)}${r.growth !== null ? ` (${r.growth.toFixed(2)}x)` : ''}`, `text-anchor="${onAxis ? 'start' : 'middle'}" class="value"`));
    parts.push(text(x(r.ilds), py0 + 16, int(r.ilds), 'text-anchor="middle" class="tick"'));
  }
  parts.push(text((px0 + px1) / 2, py0 + 32, 'ILDs per invoice (log scale); in brackets: growth per ILD against the smallest', 'text-anchor="middle" class="axis-title"'));
  parts.push('</g>');
  return parts.join('\n');
}

/** Bottom right: peak RSS of the host per scenario (A, B) and per C size. */
function memoryPanel(results: BenchResults, left: number, top: number, width: number): string {
  const bars: { label: string; scenario: string; mb: number }[] = [];
  for (const t of results.totals) if ((t.scenario === 'A' || t.scenario === 'B') && t.peakRssBytes !== undefined) bars.push({ label: t.scenario, scenario: t.scenario, mb: t.peakRssBytes / MB });
  for (const s of results.scaling) if (s.peakRssBytes !== undefined) bars.push({ label: `C ${int(s.ilds)}`, scenario: 'C', mb: s.peakRssBytes / MB });
  const parts: string[] = [`<g class="panel memory">`, text(left, top + 16, 'Functions host peak memory (MB)', 'class="panel-title"')];
  if (!bars.length) {
    parts.push(text(left, top + 44, 'No memory figures in this run.', 'class="empty"'), '</g>');
    return parts.join('\n');
  }
  const px0 = left + 50;
  const px1 = left + width - 10;
  const py0 = top + PANEL_HEIGHT - 40;
  const py1 = top + 36;
  const yMax = niceCeil(Math.max(MEMORY_GOAL_MB, ...bars.map((b) => b.mb)) * 1.1);
  const y = (mb: number) => py0 - ((py0 - py1) * mb) / yMax;
  for (let k = 0; k <= 4; k += 1) {
    const v = (yMax * k) / 4;
    parts.push(`<line class="grid" x1="${n(px0)}" y1="${n(y(v))}" x2="${n(px1)}" y2="${n(y(v))}" stroke="#ddd"/>`);
    parts.push(text(px0 - 6, y(v) + 4, int(v), 'text-anchor="end" class="tick"'));
  }
  const slot = (px1 - px0) / bars.length;
  const w = Math.min(60, slot * 0.6);
  bars.forEach((b, i) => {
    const cx = px0 + slot * (i + 0.5);
    parts.push(
      `<rect class="bar memory" data-scenario="${escapeXml(b.scenario)}" x="${n(cx - w / 2)}" y="${n(y(b.mb))}" width="${n(w)}" height="${n(py0 - y(b.mb))}" fill="${colorOf(b.scenario)}"><title>${escapeXml(
        `${b.label}: ${int(b.mb)} MB`,
      )}</title></rect>`,
    );
    parts.push(text(cx, y(b.mb) - 4, int(b.mb), 'text-anchor="middle" class="value"'));
    parts.push(text(cx, py0 + 16, b.label, 'text-anchor="middle" class="tick"'));
  });
  parts.push(`<line class="axis" x1="${n(px0)}" y1="${n(py0)}" x2="${n(px1)}" y2="${n(py0)}" stroke="#222"/>`);
  parts.push(`<line class="goal" x1="${n(px0)}" y1="${n(y(MEMORY_GOAL_MB))}" x2="${n(px1)}" y2="${n(y(MEMORY_GOAL_MB))}" stroke="#c0392b" stroke-dasharray="5 3"/>`);
  // The goal's label under the panel title, right (over the line it ran into the last bar's value).
  parts.push(text(px1, top + 31, `dashed: goal ${MEMORY_GOAL_MB} MB at 50,000 ILDs`, 'text-anchor="end" class="note" fill="#c0392b"'));
  parts.push('</g>');
  return parts.join('\n');
}

/** The whole chart of one results document. */
export function renderBenchChart(results: BenchResults, options: ChartOptions = {}): string {
  const m = results.machine;
  const started = results.startedAt.replace(/^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}).*$/, '$1 $2 UTC');
  const title = `npm run bench${results.options.quick ? ' -- --quick' : ''}: ${started}${results.commit ? `, commit ${results.commit}` : ''}`;
  const machine = [m?.cpus !== undefined ? `${m.cpus} CPUs` : undefined, m?.cpuModel, m?.node ? `Node ${m.node.replace(/^v/, '')}` : undefined, options.source].filter((s): s is string => !!s).join(' · ');
  const ratios = ratioPanel(results, 50);
  const bottom = 50 + ratios.height + 10;
  const half = (WIDTH - 3 * MARGIN) / 2;
  const height = bottom + PANEL_HEIGHT + 10;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" viewBox="0 0 ${WIDTH} ${n(height)}" font-family="${FONT}" font-size="12" role="img" aria-labelledby="chart-title">`,
    `<title id="chart-title">${escapeXml(`Benchmark ${title}`)}</title>`,
    `<style>.panel-title{font-size:14px;font-weight:600}.tick{fill:#555;font-size:11px}.axis-title,.note,.empty{font-size:11px}.value{font-size:11px}</style>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${n(height)}" fill="#fff"/>`,
    text(MARGIN, 24, title, 'class="title" font-size="16" font-weight="bold"'),
    text(MARGIN, 40, machine, 'class="subtitle" fill="#555"'),
    ratios.svg,
    scalingPanel(results, MARGIN, bottom, half),
    memoryPanel(results, 2 * MARGIN + half, bottom, half),
    `</svg>`,
    '',
  ].join('\n');
}
