/**
 * `GET api/health`: each dependency probed with a time limit, the version, and an overall status
 * (Healthy only when every probe answered). The probes come from the composition root.
 */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface HealthReport {
  status: 'Healthy' | 'Unhealthy';
  version: string;
  checks: HealthCheck[];
}

export interface Probe {
  name: string;
  /** Answers a short description when the dependency is reachable; throws otherwise. */
  check(): Promise<string>;
}

async function timed(probe: Probe, timeoutMs: number): Promise<HealthCheck> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      probe.check(),
      new Promise<string>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name: probe.name, ok: true, detail, ms: Date.now() - started };
  } catch (error) {
    return { name: probe.name, ok: false, detail: error instanceof Error ? error.message : String(error), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

export async function healthReport(probes: readonly Probe[], version: string, timeoutMs = 5_000): Promise<HealthReport> {
  const checks = await Promise.all(probes.map((p) => timed(p, timeoutMs)));
  return { status: checks.every((c) => c.ok) ? 'Healthy' : 'Unhealthy', version, checks };
}
