/**
 * Leases (IntegrationTables `integrationLeases`): at most one holder of a named lease at a time,
 * across processes and hosts, renewed in the background and lost as soon as a renewal fails its
 * ETag or the lease expires. A lease saves work; the writes under it are what make it correct.
 * How: docs/decisions/storage-kit.md.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { timestampString } from '../core/fields';
import { TableStore, type TableAccess } from './tableStore';

export const LEASE_TABLE = 'integrationLeases';

export const leaseRowSchema = z.object({
  Name: z.string().min(1),
  Owner: z.string().min(1),
  AcquiredAt: timestampString,
  ExpiresAt: timestampString,
});
export type LeaseRow = z.infer<typeof leaseRowSchema>;

export interface LeaseHandle {
  readonly name: string;
  readonly owner: string;
  /** True while the lease is ours and unexpired; check it before each phase of work. */
  held(): boolean;
  release(): Promise<void>;
}

export interface LeaseOptions {
  /** How long a lease lasts without renewal (default 60 s). */
  ttlMs?: number;
  /** How often it is renewed while held (default a third of ttlMs). */
  renewEveryMs?: number;
  /** Who asks, for the row and the logs (default a random id). */
  owner?: string;
}

/** The port use cases take a lease through. */
export interface LeasePort {
  /** The lease, or undefined when someone else holds it. */
  acquire(name: string, options?: LeaseOptions): Promise<LeaseHandle | undefined>;
}

export class TableLeases implements LeasePort {
  readonly store: TableStore<LeaseRow>;

  constructor(
    connectionString: TableAccess,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.store = new TableStore(connectionString, LEASE_TABLE, leaseRowSchema, (r) => ({ partitionKey: r.Name, rowKey: r.Name }));
  }

  async acquire(name: string, options: LeaseOptions = {}): Promise<LeaseHandle | undefined> {
    const ttlMs = options.ttlMs ?? 60_000;
    const renewEveryMs = options.renewEveryMs ?? Math.max(1_000, Math.floor(ttlMs / 3));
    const owner = options.owner ?? randomUUID();
    await this.store.ready();
    const started = this.now();
    const row: LeaseRow = {
      Name: name,
      Owner: owner,
      AcquiredAt: new Date(started).toISOString(),
      ExpiresAt: new Date(started + ttlMs).toISOString(),
    };

    let etag: string | undefined;
    const existing = await this.store.get(name, name);
    if (existing === undefined) {
      etag = await this.store.insert(row);
      if (etag === undefined) return undefined; // someone else created it first
    } else {
      if (Date.parse(existing.ExpiresAt) > started && existing.Owner !== owner) return undefined;
      etag = await this.store.replaceIfMatch(row, existing.etag);
      if (etag === undefined) return undefined; // someone else took it over first
    }
    if (!etag) throw new Error(`Lease ${name}: storage returned no ETag`);
    return new HeldLease(this, name, owner, ttlMs, renewEveryMs, etag, started + ttlMs);
  }

  /** Extend the lease; the new ETag, or undefined when it is no longer ours. Throws on transient faults. */
  async renew(name: string, owner: string, acquiredAt: string, etag: string, expiresAt: number): Promise<string | undefined> {
    const row: LeaseRow = { Name: name, Owner: owner, AcquiredAt: acquiredAt, ExpiresAt: new Date(expiresAt).toISOString() };
    return this.store.replaceIfMatch(row, etag);
  }

  async delete(name: string, etag: string): Promise<void> {
    await this.store.deleteIfMatch(name, name, etag);
  }

  clock(): number {
    return this.now();
  }
}

class HeldLease implements LeaseHandle {
  private lost = false;
  private released = false;
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> | undefined;
  private readonly acquiredAt: string;

  constructor(
    private readonly leases: TableLeases,
    readonly name: string,
    readonly owner: string,
    private readonly ttlMs: number,
    renewEveryMs: number,
    private etag: string,
    private expiresAt: number,
  ) {
    this.acquiredAt = new Date(expiresAt - ttlMs).toISOString();
    this.timer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => {
        this.renewing = undefined;
      });
    }, renewEveryMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.lost || this.released) return;
    const until = this.leases.clock() + this.ttlMs;
    try {
      const etag = await this.leases.renew(this.name, this.owner, this.acquiredAt, this.etag, until);
      if (etag === undefined) {
        this.lost = true;
        clearInterval(this.timer);
        return;
      }
      this.etag = etag;
      this.expiresAt = until;
    } catch {
      // Storage briefly unreachable: try again on the next tick; held() turns false at expiry.
    }
  }

  held(): boolean {
    return !this.lost && !this.released && this.leases.clock() < this.expiresAt;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.renewing;
    if (!this.lost) await this.leases.delete(this.name, this.etag);
  }
}
