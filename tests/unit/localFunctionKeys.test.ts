/**
 * The local host's function keys (README, "Function keys"): none by default (like Core Tools);
 * local.settings.json's LocalFunctionKeys, or LOCAL_FUNCTION_KEY, turn checking on; an empty
 * LOCAL_FUNCTION_KEY turns it off again.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_FUNCTION_KEY, readLocalSettings } from '../../tools/localSettings';
import { REPO_ROOT } from '../../tools/paths';

const dirs: string[] = [];
const saved = process.env.LOCAL_FUNCTION_KEY;
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (saved === undefined) delete process.env.LOCAL_FUNCTION_KEY;
  else process.env.LOCAL_FUNCTION_KEY = saved;
});

function sampleOnly(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'local-settings-'));
  dirs.push(dir);
  copyFileSync(path.join(REPO_ROOT, 'local.settings.sample.json'), path.join(dir, 'local.settings.sample.json'));
  return dir;
}

describe('local function keys', () => {
  it('are none by default, so npm start checks no keys (as Core Tools); the documented key turns them on', () => {
    delete process.env.LOCAL_FUNCTION_KEY;
    expect(readLocalSettings(sampleOnly()).functionKeys).toEqual({});
    expect(DEFAULT_LOCAL_FUNCTION_KEY).toBe('local-dev-function-key');
    expect(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toContain(`LOCAL_FUNCTION_KEY=${DEFAULT_LOCAL_FUNCTION_KEY} npm start`);
  });

  it('come from local.settings.json\'s LocalFunctionKeys', () => {
    delete process.env.LOCAL_FUNCTION_KEY;
    const dir = sampleOnly();
    const sample = JSON.parse(readFileSync(path.join(dir, 'local.settings.sample.json'), 'utf8'));
    writeFileSync(path.join(dir, 'local.settings.json'), JSON.stringify({ ...sample, LocalFunctionKeys: { default: 'k1', ops: 'k2' } }));
    expect(readLocalSettings(dir).functionKeys).toEqual({ default: 'k1', ops: 'k2' });
  });

  it('are replaced by LOCAL_FUNCTION_KEY, and an empty one turns checking off', () => {
    process.env.LOCAL_FUNCTION_KEY = 'my-key';
    expect(readLocalSettings(sampleOnly()).functionKeys).toEqual({ default: 'my-key' });
    process.env.LOCAL_FUNCTION_KEY = '';
    expect(readLocalSettings(sampleOnly()).functionKeys).toEqual({});
  });
});
