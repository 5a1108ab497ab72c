/**
 * The benchmark's command lines (`npm run bench -- ...`, tools/bench/options.ts and
 * tools/bench/resultsCli.ts): each argument as a flag, with its value taken from `--flag=value`
 * or from the next argument when the flag asks for one.
 */
export interface FlagArgument {
  /** The argument as given, and its flag (the part before `=` of `--flag=value`). */
  arg: string;
  flag: string;
  /** The flag's value: after `=`, or the next argument (consumed); a missing value is a usage error. */
  value(): string;
}

export function* flagArguments(argv: readonly string[], usageError: (message: string) => Error): Generator<FlagArgument> {
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const eqAt = arg.indexOf('=');
    const flag = arg.startsWith('--') && eqAt > 0 ? arg.slice(0, eqAt) : arg;
    const inline = arg.startsWith('--') && eqAt > 0 ? arg.slice(eqAt + 1) : undefined;
    yield {
      arg,
      flag,
      value: () => {
        if (inline !== undefined) return inline;
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw usageError(`${flag} expects a value`);
        i += 1;
        return next;
      },
    };
  }
}
