/**
 * Azurite for the chaos harness: the table service of tools/azurite.ts on a fixed port with its
 * data in a folder (`--location`), so it can be stopped and started again on the same port
 * without losing what it acknowledged, and hung with SIGSTOP / SIGCONT.
 *
 * Stopping sends SIGINT: Azurite's table service closes its server and saves its LokiJS database
 * on SIGINT only. SIGTERM (what tools/azurite.ts sends) or SIGKILL end it at once, and LokiJS
 * saves only every 5 seconds, so writes Azurite had acknowledged would be lost, a failure Azure
 * Table storage does not have. The pid is found through /proc (tools/azurite.ts does not hand it
 * out).
 */
import { startAzurite, type LocalAzurite } from '../azurite';
import { freePort } from '../ports';
import { childPidWithArgs, signal, waitGone } from './processes';

export class ChaosStorage {
  #azurite: LocalAzurite | undefined;
  #pid: number | undefined;
  #paused = false;

  private constructor(
    readonly tablePort: number,
    readonly location: string,
  ) {}

  static async start(location: string): Promise<ChaosStorage> {
    const storage = new ChaosStorage(await freePort(), location);
    await storage.startAgain();
    return storage;
  }

  get connectionString(): string {
    if (!this.#azurite) throw new Error('Azurite is not running');
    return this.#azurite.connectionString;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  get running(): boolean {
    return this.#azurite !== undefined;
  }

  async startAgain(): Promise<void> {
    if (this.#azurite) return;
    this.#azurite = await startAzurite({ services: 'table', tablePort: this.tablePort, location: this.location });
    this.#pid = childPidWithArgs(['--tablePort', String(this.tablePort)]);
    if (this.#pid === undefined) {
      await this.#azurite.stop();
      this.#azurite = undefined;
      throw new Error(`started Azurite on port ${this.tablePort} but found no child process with --tablePort ${this.tablePort} in /proc`);
    }
  }

  /** Graceful stop (SIGINT: Azurite saves its database), SIGKILL after 20 s. Returns a note when data may be lost. */
  async stop(): Promise<string | undefined> {
    const azurite = this.#azurite;
    const pid = this.#pid;
    if (!azurite || pid === undefined) return undefined;
    this.resume();
    signal(pid, 'SIGINT');
    let note: string | undefined;
    if (!(await waitGone(pid, 20_000))) {
      note = 'Azurite did not stop within 20 s of SIGINT and was killed; writes of its last 5 seconds may be lost';
      signal(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    }
    await azurite.stop();
    this.#azurite = undefined;
    this.#pid = undefined;
    return note;
  }

  /** The process stops answering (connections stay open, requests hang), as a storage that hangs. */
  pause(): void {
    if (signal(this.#pid, 'SIGSTOP')) this.#paused = true;
  }

  resume(): void {
    if (this.#paused) signal(this.#pid, 'SIGCONT');
    this.#paused = false;
  }

  /** Last resort (process exit): no waiting, data may be lost. */
  killNow(): void {
    signal(this.#pid, 'SIGCONT');
    signal(this.#pid, 'SIGKILL');
  }
}
