import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFunctionsHost } from '../../../tools/host';
import { freePort } from '../../../tools/ports';

const appEntry = path.join(__dirname, '../../fixtures/host-app/failingApp.ts');

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('local Functions host: an app that fails to load', () => {
  it("rejects startFunctionsHost with the app's own error and leaves nothing running", async () => {
    const port = await freePort();
    const lines: string[] = [];
    const error = await startFunctionsHost({
      appEntry,
      settings: { FixtureAccountingCurrency: 'dollars' },
      httpPort: port,
      log: (line) => lines.push(line),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('Configuration error: FixtureAccountingCurrency must be a 3-letter ISO code, got "dollars"');
    expect(await canListen(port)).toBe(true);
    expect(lines.some((l) => l.includes('Host started'))).toBe(false);
  });

  it('rejects a missing app entry', async () => {
    await expect(
      startFunctionsHost({ appEntry: path.join(__dirname, 'no-such-app.ts'), settings: {}, httpPort: 0, log: () => undefined }),
    ).rejects.toThrow();
  });
});
