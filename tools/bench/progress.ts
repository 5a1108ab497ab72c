/**
 * The progress line while the benchmark runs: "[bench 03:12] A 10,000 | confirmation | 12.4 s".
 * On a terminal it is rewritten in place every second; otherwise (CI, a pipe) a line is printed
 * every 15 seconds, so logs stay short. Messages in between are printed on their own lines.
 */

export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

export class Progress {
  readonly #startedAt = Date.now();
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #label = 'starting';
  #phaseStartedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #lastPlain = 0;
  #lineShown = false;
  #detail = '';

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  start(): void {
    this.#timer = setInterval(() => this.#render(false), 1000);
    this.#timer.unref();
  }

  /** A new step: "A 10,000 | confirmation". */
  phase(label: string): void {
    this.#label = label;
    this.#detail = '';
    this.#phaseStartedAt = Date.now();
    this.#render(true);
  }

  /** Extra words on the current line ("3 of 5 queues busy"). */
  detail(text: string): void {
    this.#detail = text;
  }

  /** A line of its own, above the progress line. */
  log(line: string): void {
    this.#clear();
    this.#out.write(`${line}\n`);
    this.#render(true);
  }

  elapsedMs(): number {
    return Date.now() - this.#startedAt;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #text(): string {
    const phaseSeconds = ((Date.now() - this.#phaseStartedAt) / 1000).toFixed(1);
    return `[bench ${clock(this.elapsedMs())}] ${this.#label} | ${phaseSeconds} s${this.#detail ? ` | ${this.#detail}` : ''}`;
  }

  #clear(): void {
    if (this.#tty && this.#lineShown) {
      this.#out.write('\r\u001b[2K');
      this.#lineShown = false;
    }
  }

  #render(force: boolean): void {
    if (this.#tty) {
      const width = this.#out.columns && this.#out.columns > 20 ? this.#out.columns - 1 : 119;
      this.#out.write(`\r\u001b[2K${this.#text().slice(0, width)}`);
      this.#lineShown = true;
      return;
    }
    const now = Date.now();
    if (force || now - this.#lastPlain >= 15_000) {
      this.#lastPlain = now;
      this.#out.write(`${this.#text()}\n`);
    }
  }
}
