/**
 * `GET api/health` and `GET api/health/details`: each dependency probed with a time limit, the
 * version, how each connection authenticates, and an overall status (Healthy only when every
 * probe answered). The anonymous route answers the status alone (`summaryOf`); the details need a
 * function key. The probes come from the composition root. Nothing here holds a secret: a
 * connection is described by its kind of auth and its account, endpoint or namespace.
 */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
  /** How the connection authenticates ("connection string", "managed identity (user-assigned)", ...). */
  auth?: string;
}

/** One connection of the settings: how it authenticates and where it points (never a key). */
export interface ConnectionInfo {
  name: string;
  auth: string;
  target: string;
}

export interface HealthReport {
  status: 'Healthy' | 'Unhealthy';
  version: string;
  checks: HealthCheck[];
  /** Every connection of the settings, probed or not (the host's storage is the host's own). */
  connections?: ConnectionInfo[];
}

export interface Probe {
  name: string;
  /** How the probed connection authenticates (reported with the check). */
  auth?: string;
  /** Answers a short description when the dependency is reachable; throws otherwise. */
  check(): Promise<string>;
}

/** What anonymous callers see: up or down, nothing about the parts. */
export function summaryOf(report: HealthReport): { status: HealthReport['status'] } {
  return { status: report.status };
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
    return { name: probe.name, ok: true, detail, ms: Date.now() - started, ...(probe.auth !== undefined ? { auth: probe.auth } : {}) };
  } catch (error) {
    return { name: probe.name, ok: false, detail: error instanceof Error ? error.message : String(error), ms: Date.now() - started, ...(probe.auth !== undefined ? { auth: probe.auth } : {}) };
  } finally {
    clearTimeout(timer);
  }
}

export async function healthReport(probes: readonly Probe[], version: string, timeoutMs = 5_000, connections?: readonly ConnectionInfo[]): Promise<HealthReport> {
  const checks = await Promise.all(probes.map((p) => timed(p, timeoutMs)));
  return { status: checks.every((c) => c.ok) ? 'Healthy' : 'Unhealthy', version, checks, ...(connections ? { connections: [...connections] } : {}) };
}
