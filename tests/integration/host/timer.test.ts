import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../../../tools/host';
import { recorded } from '../../fixtures/host-app/probe';
import { waitFor } from '../../kit/wait';

const appEntry = path.join(__dirname, '../../fixtures/host-app/timerApp.ts');

interface TimerSeen {
  timer: { isPastDue: boolean; schedule: unknown; scheduleStatus: { last: string; next: string; lastUpdated: string } };
  invocationId?: string;
  triggerMetadata?: unknown;
}

describe('local Functions host: timer triggers', () => {
  let host: FunctionsHost;
  const logs: string[] = [];

  beforeAll(async () => {
    host = await startFunctionsHost({
      appEntry,
      settings: {
        FixtureSchedule: '*/2 * * * * *',
        'AzureWebJobs.disabledTimer.Disabled': '1',
      },
      httpPort: 0,
      log: (line) => logs.push(line),
    });
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('fires a seconds schedule with the Timer object of the host', async () => {
    const seen = await waitFor('two everySecond runs', () => {
      const runs = recorded('everySecond');
      return runs.length >= 2 ? runs : undefined;
    });
    const [first, second] = seen.map((e) => e.data as TimerSeen);
    expect(first?.timer.isPastDue).toBe(false);
    expect(first?.timer.scheduleStatus.last).toBe('0001-01-01T00:00:00');
    expect(Date.parse(first?.timer.scheduleStatus.next ?? '')).toBeGreaterThan(Date.parse(first?.timer.scheduleStatus.lastUpdated ?? ''));
    expect(first?.timer.schedule).toEqual({ adjustForDST: true });
    expect(second?.timer.scheduleStatus.last).toBe(first?.timer.scheduleStatus.lastUpdated);
    expect(first?.invocationId).not.toBe(second?.invocationId);
    // the library keeps timer trigger metadata out of the context
    expect(first?.triggerMetadata).toBeUndefined();
  });

  it('resolves a %Setting% schedule', async () => {
    await waitFor('fromSetting runs', () => recorded('fromSetting').length >= 1);
    const fn = host.functions.find((f) => f.name === 'fromSetting');
    expect((fn?.bindings[Object.keys(fn.bindings)[0] ?? ''] as { schedule: string }).schedule).toBe('%FixtureSchedule%');
  });

  it('runs runOnStartup functions once at start', async () => {
    await waitFor('onStartup', () => recorded('onStartup').length === 1);
    expect((recorded('onStartup')[0]?.data as TimerSeen).timer.isPastDue).toBe(false);
  });

  it('never overlaps two runs of the same timer function', async () => {
    await waitFor('two slow runs to finish', () => recorded('slowTimerEnd').length >= 2, 15_000);
    const events = recorded().filter((e) => e.fn === 'slowTimerStart' || e.fn === 'slowTimerEnd');
    let running = 0;
    for (const e of events) {
      running += e.fn === 'slowTimerStart' ? 1 : -1;
      expect(running).toBeLessThanOrEqual(1);
    }
    expect(logs.some((l) => l.includes("Skipping 'slowTimer' occurrence"))).toBe(true);
  });

  it('keeps firing after a failing run', async () => {
    await waitFor('three failing runs', () => recorded('failingTimer').length >= 3);
    expect(logs.some((l) => l.includes("Executed 'Functions.failingTimer' (Failed"))).toBe(true);
  });

  it('never runs a disabled timer', () => {
    expect(host.functions.find((f) => f.name === 'disabledTimer')?.disabled).toBe(true);
    expect(recorded('disabledTimer')).toHaveLength(0);
  });

  it('runs a timer on demand through the admin API', async () => {
    const before = recorded('onStartup').length;
    const res = await fetch(`${host.baseUrl}/admin/functions/onStartup`, { method: 'POST', body: '{}' , headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(202);
    await waitFor('admin run', () => recorded('onStartup').length === before + 1);
    const disabled = await fetch(`${host.baseUrl}/admin/functions/disabledTimer`, { method: 'POST' });
    expect(disabled.status).toBe(404);
  });

  it('stops every timer on stop', async () => {
    await host.stop();
    const count = recorded('everySecond').length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(recorded('everySecond').length).toBe(count);
    expect(recorded('disabledTimer')).toHaveLength(0);
  });
});
