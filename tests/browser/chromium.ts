/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by playwright-core
 * (no browser is downloaded). The browser is found at CHROMIUM_PATH, /usr/bin/chromium or
 * /usr/bin/chromium-browser; `.ci/run` installs the package when it is missing.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => p !== undefined && p !== '');
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`No Chromium found (looked at ${candidates.join(', ')}). Install Debian's package: apt-get install -y chromium (as .ci/run does), or set CHROMIUM_PATH.`);
  }
  return found;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in CI has no user namespace sandbox; nothing but the local host is ever loaded.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--metrics-recording-only', '--disable-default-apps'],
  });
}
