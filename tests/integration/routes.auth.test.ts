/**
 * Access (issue 18): every route of the real app but `GET health` is `authLevel: 'function'`, and
 * once the host checks keys (as Azure always does) each of them answers 401 without a key and
 * works with one, by header or by `code`. The routes are read from what the app registers, so a
 * route added later (the console's, for instance) is held to the same rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type TestSystem } from '../kit/system';

const KEY = 'route-test-key';
let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({ functionKey: KEY });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

interface HttpRoute {
  name: string;
  route: string;
  methods: string[];
  authLevel: string;
}

function httpRoutes(): HttpRoute[] {
  return sys.host.functions.flatMap((f) => {
    const trigger = Object.values(f.bindings).find((b) => (b as { type?: string }).type === 'httpTrigger') as { route?: string; methods?: string[]; authLevel?: string } | undefined;
    if (!trigger) return [];
    return [{ name: f.name, route: trigger.route ?? f.name, methods: (trigger.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()), authLevel: trigger.authLevel ?? 'anonymous' }];
  });
}

/** A concrete path for a route template: GUIDs for ids, a proposal number for proposals, `x` for the rest. */
function pathOf(template: string): string {
  return template.replace(/\{\*{0,2}([A-Za-z_][A-Za-z0-9_]*)[^}]*\}/g, (_whole, name: string) => {
    if (name === 'proposalId') return 'PI-999999';
    if (/Id$/.test(name)) return '8f1e0c1a-1111-4222-8333-944455556666';
    return 'x';
  });
}

const calls = () => httpRoutes().flatMap((r) => r.methods.map((method) => ({ ...r, method, path: pathOf(r.route) })));

describe('function keys on every route of the app', () => {
  it('registers GET health as the only anonymous route', () => {
    const routes = httpRoutes();
    expect(routes.length).toBeGreaterThan(20);
    const anonymous = routes.filter((r) => r.authLevel !== 'function').map((r) => `${r.methods.join(',')} ${r.route}`);
    expect(anonymous).toEqual(['GET health']);
  });

  it('answers 401 without a key on every route but GET health, which still answers', async () => {
    const open: string[] = [];
    for (const call of calls()) {
      const reply = await sys.http(call.method, call.path, undefined, { key: null });
      if (call.method === 'GET' && call.route === 'health') {
        expect(reply.status).toBe(200);
        expect(reply.body).toEqual({ status: 'Healthy' });
      } else if (reply.status !== 401) {
        open.push(`${call.method} ${call.path} answered ${reply.status}`);
      }
    }
    expect(open).toEqual([]);
  });

  it('answers 401 to a wrong key', async () => {
    const reply = await sys.http('GET', 'dashboard', undefined, { key: 'not-the-key' });
    expect(reply.status).toBe(401);
  });

  it('works with the key on every route (x-functions-key), none answering 401 or failing', async () => {
    const refused: string[] = [];
    for (const call of calls()) {
      const reply = await sys.http(call.method, call.path);
      if (reply.status === 401 || reply.status >= 500) refused.push(`${call.method} ${call.path} answered ${reply.status}: ${reply.text.slice(0, 200)}`);
    }
    expect(refused).toEqual([]);
  });

  it('takes the key from the code query parameter too', async () => {
    const response = await fetch(`${sys.host.baseUrl}/api/dashboard?code=${KEY}`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const details = await fetch(`${sys.host.baseUrl}/api/health/details?code=${KEY}`);
    expect(details.status).toBe(200);
    expect(((await details.json()) as { checks: unknown[] }).checks).toHaveLength(4);
  });
});
