/**
 * The chaos run's one table (what was injected and sent, what came out, each criterion with its
 * verdict), the details below it that make every failure reproducible, and the same as JSON.
 */
import Table from 'cli-table3';
import type { ChaosResult } from './run';

export interface Criterion {
  name: string;
  ok: boolean;
}

export function violationsOf(r: ChaosResult): number | undefined {
  return 'violations' in r.invariants ? r.invariants.violations.length : undefined;
}

/** What must hold (issue 14): each criterion and whether it did. */
export function criteria(r: ChaosResult): Criterion[] {
  const v = violationsOf(r);
  return [
    { name: 'invariant violations: 0', ok: v === 0 },
    { name: 'dead-lettered without error row: 0', ok: r.deadLetters.every((d) => d.errorRow) },
    { name: 'every well-formed invoice Posted', ok: r.invoices.posted === r.invoices.expected && r.invoices.expected > 0 },
    { name: 'no 5xx to malformed input', ok: r.http.fuzz5xx.length === 0 },
    { name: 'no 5xx to well-formed requests outside faults', ok: r.http.workload5xxOutsideFaults.length === 0 },
    { name: 'every malformed message one error row', ok: r.fuzz.queues.every((c) => c.verdict === 'ok' || c.verdict === 'not sent') },
    { name: 'every malformed request a 4xx problem+json', ok: r.fuzz.routes.every((c) => c.verdict === 'ok' || c.verdict === 'host 404 (no route matched)') },
    { name: 'host up unless killed', ok: r.host.unexpectedExits.length === 0 && r.host.healthFailures.length === 0 },
    { name: 'probes answered as specified', ok: r.findings.every((f) => f.severity !== 'bug') },
    { name: 'settled', ok: r.settle.settled },
  ];
}

const int = (n: number) => n.toLocaleString('en-US');
const mark = (ok: boolean) => (ok ? 'ok' : 'FAIL');
const counts = (o: Record<string, number>) =>
  Object.entries(o)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${int(n)}`)
    .join(', ');

export function summaryTable(r: ChaosResult): string {
  const t = new Table({ head: ['', 'value', 'verdict'], colAligns: ['left', 'left', 'left'], style: { head: [], border: [] }, wordWrap: true, colWidths: [34, 80, 9] });
  const injected = r.faults.filter((f) => !f.skipped && !f.error);
  const v = violationsOf(r);
  const byInvariant: Record<string, number> = {};
  if ('violations' in r.invariants) for (const x of r.invariants.violations) byInvariant[x.invariant] = (byInvariant[x.invariant] ?? 0) + 1;
  const noRow = r.deadLetters.filter((d) => !d.errorRow).length;
  const qOk = r.fuzz.queues.filter((c) => c.verdict === 'ok').length;
  const rOk = r.fuzz.routes.filter((c) => c.verdict === 'ok' || c.verdict === 'host 404 (no route matched)').length;
  const c = criteria(r);
  const ok = (name: string) => mark(c.find((x) => x.name === name)?.ok ?? false);
  t.push(
    ['Faults injected', `${injected.length} of ${r.faults.length}: ${r.faults.map((f) => `${f.name}${f.skipped ? ' (skipped)' : f.error ? ' (failed)' : ''}`).join(', ')}`, ''],
    [
      'Messages sent',
      `${int(r.messages.sentByClients)} kept by the broker (${counts(r.messages.byQueue)}); ${int(r.messages.copiesDelivered)} delivered twice (${int(r.messages.copiesDropped)} copies dropped as duplicates), ${int(r.messages.lateDelivered)} late; ${int(r.messages.fuzz)} malformed; ${int(r.messages.brokerRestored)} carried over broker restarts`,
      '',
    ],
    ['HTTP answers', `${int(r.http.answers)} (${counts(r.http.byClass)})`, ''],
    ['Invoices reaching Posted', `${int(r.invoices.posted)} of ${int(r.invoices.expected)} expected (${int(r.invoices.created)} created)`, ok('every well-formed invoice Posted')],
    ['Invariant violations', v === undefined ? `checker failed: ${'error' in r.invariants ? r.invariants.error.split('\n')[0] : ''}` : `${int(v)}${v ? ` (${counts(byInvariant)})` : ''}`, ok('invariant violations: 0')],
    ['Messages dead-lettered', `${int(r.deadLetters.length)}${r.deadLetters.length ? ` (${counts(countBy(r.deadLetters.map((d) => d.queue)))}; ${r.deadLetters.filter((d) => d.inQueue).length} still in the dead-letter queues)` : ''}`, ''],
    ['Dead-lettered without error row', int(noRow), ok('dead-lettered without error row: 0')],
    ['Error rows', `${int(r.errorRows.total)}${r.errorRows.total ? ` (${counts(r.errorRows.byCategory)})` : ''}`, ''],
    [
      '5xx answers',
      `${int(r.http.fuzz5xx.length)} to malformed input, ${int(r.http.workload5xxOutsideFaults.length)} to well-formed requests outside faults, ${int(r.http.workload5xxDuringFaults.length)} during faults${
        r.http.workload5xxDuringFaults.length ? ` (${counts(countBy(r.http.workload5xxDuringFaults.map((a) => `status ${a.status}`)))}; retried)` : ''
      }`,
      mark(r.http.fuzz5xx.length === 0 && r.http.workload5xxOutsideFaults.length === 0),
    ],
    ['Queue fuzz', `${qOk} of ${r.fuzz.queues.length} malformed messages ended as one error row`, ok('every malformed message one error row')],
    ['Route fuzz', `${rOk} of ${r.fuzz.routes.length} malformed requests answered 4xx problem+json (or the host's 404)`, ok('every malformed request a 4xx problem+json')],
    ['Probes', r.findings.length ? `${r.findings.length} finding(s): ${[...new Set(r.findings.map((f) => `${f.kind} (${f.severity})`))].join('; ')}` : 'as specified', ok('probes answered as specified')],
    ['Host', `${r.host.starts} start(s); ${r.host.unexpectedExits.length} unexpected exit(s), ${r.host.healthFailures.length} health failure(s); failed invocations: ${counts(r.host.failedInvocations) || 'none'}`, ok('host up unless killed')],
    ['Time to settle', r.settle.settled ? `${r.settle.seconds} s after the last fault and the last new invoice` : `not settled (${r.settle.seconds} s after the last fault and the last new invoice: ${r.settle.last})`, ok('settled')],
    ['Run', `${((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000).toFixed(0)} s; staging ${counts(r.staging) || '-'}`, ''],
  );
  return t.toString();
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** What failed, with the keys and inputs to reproduce it (first few of each kind). */
export function details(r: ChaosResult, max = 15): string[] {
  const out: string[] = [];
  const section = (title: string, lines: string[]) => {
    if (!lines.length) return;
    out.push('', `${title} (${lines.length}${lines.length > max ? `, first ${max}` : ''}):`);
    for (const l of lines.slice(0, max)) out.push(`- ${l.length > 700 ? `${l.slice(0, 700)}...` : l}`);
  };
  if ('violations' in r.invariants) section('Invariant violations', r.invariants.violations.map((v) => `${v.invariant} ${JSON.stringify(v.keys)}: ${v.detail}`));
  else out.push('', `Invariant checker: ${r.invariants.error}`);
  section('Dead-lettered without an error row', r.deadLetters.filter((d) => !d.errorRow).map((d) => `${d.queue} messageId=${d.messageId} (${d.reason ?? ''}${d.description ? `: ${d.description}` : ''}, ${d.deliveryCount ?? '?'} deliveries${d.inQueue ? '' : ', no longer in the dead-letter queue'})`));
  section('Well-formed invoices not Posted', r.invoices.notPosted.map((i) => `${i.invoicenumber} (${i.invoiceId}, ${i.origin}, ${i.ilds} ILD(s)): last seen ${i.state}${i.notes.length ? `; ${i.notes.join('; ')}` : ''}`));
  section('5xx to malformed input', r.http.fuzz5xx.map((a) => `${a.method} /api/${a.route} -> ${a.status}: ${a.detail}${a.request ? ` | body ${a.request.slice(0, 200)}` : ''}`));
  section('5xx to well-formed requests outside faults', r.http.workload5xxOutsideFaults.map((a) => `${a.at} ${a.host} ${a.method} /api/${a.route} -> ${a.status}: ${a.detail}${a.request ? ` | body ${a.request.slice(0, 200)}` : ''}`));
  section('Malformed messages not ending as one error row', r.fuzz.queues.filter((c) => c.verdict !== 'ok').map((c) => `${c.queue} ${c.name} (messageId ${c.messageId}): ${c.verdict}${c.errorRows !== undefined ? `, ${c.errorRows} error row(s)` : ''}${c.sendError ? ` (${c.sendError})` : ''}; sent ${c.sample}`));
  section('Malformed requests not answered 4xx problem+json', r.fuzz.routes.filter((c) => c.verdict !== 'ok' && c.verdict !== 'host 404 (no route matched)').map((c) => `${c.name}: ${c.method} /api/${c.route} -> ${c.status ?? '-'} ${c.verdict}: ${c.detail ?? ''}`));
  section('Probe findings', r.findings.map((f) => `[${f.severity}] ${f.kind} ${JSON.stringify(f.keys)}: ${f.detail}`));
  section('Host', [...r.host.unexpectedExits, ...r.host.healthFailures]);
  section('Faults', r.faults.map((f) => `${f.name} at ${f.startedAt} (${f.seconds ?? 0} s): ${f.detail}${f.error ? ` ERROR ${f.error}` : ''}`));
  section('Notes', r.notes);
  return out;
}

export function document(r: ChaosResult): unknown {
  return { schema: 'project-invoicing-chaos/v1', ...r, criteria: criteria(r) };
}

export function resultFileName(at: Date): string {
  return `chaos-${at.toISOString().replace(/[:.]/g, '-').replace(/Z$/, '')}.json`;
}
