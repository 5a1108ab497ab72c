/**
 * The benchmark host's Node arguments come from the setting Azure Functions reads for its Node
 * worker, `languageWorkers__node__arguments` (tools/bench/hostClient.ts, tools/bench/system.ts).
 */
import { describe, expect, it } from 'vitest';
import { nodeArgumentsOf } from '../../../tools/bench/hostClient';
import { HOST_NODE_ARGUMENTS } from '../../../tools/bench/system';

describe('the host Node arguments', () => {
  it('splits the setting on white space and gives none when it is absent or empty', () => {
    expect(nodeArgumentsOf({ languageWorkers__node__arguments: ' --max-old-space-size=384   --stack-size=2000 ' })).toEqual(['--max-old-space-size=384', '--stack-size=2000']);
    expect(nodeArgumentsOf({ languageWorkers__node__arguments: '' })).toEqual([]);
    expect(nodeArgumentsOf({})).toEqual([]);
  });

  it('caps the benchmark host heap at 384 MB unless the environment says otherwise', () => {
    const fromEnv = process.env.languageWorkers__node__arguments;
    expect(HOST_NODE_ARGUMENTS).toBe(fromEnv ?? '--max-old-space-size=384');
  });
});
