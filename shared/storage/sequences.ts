/**
 * Number sequences (IntegrationTables `integrationSequences`), e.g. customer invoice numbers
 * "CIV-000001", ...: one reservation per business key, taken in one transaction with the counter
 * (calls waiting in one process share that transaction),
 * so no number is used twice or lost to a crash. Layout and why: docs/decisions/storage-kit.md.
 */
import { z } from 'zod';
import { timestampString } from '../core/fields';
import { isConflict, isPreconditionFailed } from './storageErrors';
import { TableStore, type TableAccess, type TableWrite } from './tableStore';

export const SEQUENCE_TABLE = 'integrationSequences';
const COUNTER_KEY = 'counter';
const RESERVATION_PREFIX = 'r-';
/** Attempts before giving up under contention (then the caller's message is retried by Service Bus). */
const MAX_ATTEMPTS = 40;
/**
 * Calls served by one transaction: the counter and one reservation row each, within the 100
 * operations of a batch, and within its 4 MB however long each caller's details (a string
 * property holds at most 64 KB).
 */
const MAX_GROUP = 50;

export const sequenceRowSchema = z.object({
  Sequence: z.string().min(1),
  Kind: z.enum(['Counter', 'Reservation']),
  /** "counter" for the counter row; the business key for a reservation. */
  Key: z.string().min(1),
  /** Counter: the last number handed out. */
  Last: z.number().int().nonnegative().optional(),
  /** Reservation: the number and its formatted value. */
  Number: z.number().int().positive().optional(),
  Value: z.string().optional(),
  ReservedOn: timestampString.optional(),
  Details: z.string().optional(),
});
export type SequenceRow = z.infer<typeof sequenceRowSchema>;

export interface Reservation {
  sequence: string;
  key: string;
  number: number;
  value: string;
  reservedOn: string;
  /** What the caller stored with the reservation (JSON text), if anything. */
  details?: string;
}

export interface ReserveOptions {
  /** The formatted value of number n, e.g. formatCustomerInvoiceId. */
  format: (n: number) => string;
  /** Caller's details to pin with the reservation (stored only by the call that creates it). */
  details?: string;
  /** Timestamp to record; defaults to now. */
  reservedOn?: string;
}

/** The port use cases depend on. */
export interface SequencePort {
  /** The reservation of `key`, if it has one. */
  find(sequence: string, key: string): Promise<Reservation | undefined>;
  /** The key's reservation: the existing one, or a new one with the next number. */
  reserve(sequence: string, key: string, options: ReserveOptions): Promise<Reservation & { created: boolean }>;
}

interface WaitingCall {
  key: string;
  options: ReserveOptions;
  resolve: (reservation: Reservation & { created: boolean }) => void;
  reject: (error: unknown) => void;
}

function rowKeyOf(row: SequenceRow): string {
  return row.Kind === 'Counter' ? COUNTER_KEY : `${RESERVATION_PREFIX}${row.Key}`;
}

function toReservation(row: SequenceRow): Reservation {
  if (row.Kind !== 'Reservation' || row.Number === undefined || row.Value === undefined || row.ReservedOn === undefined) {
    throw new Error(`${SEQUENCE_TABLE} row ${row.Sequence}/${rowKeyOf(row)} is not a complete reservation`);
  }
  const out: Reservation = { sequence: row.Sequence, key: row.Key, number: row.Number, value: row.Value, reservedOn: row.ReservedOn };
  if (row.Details !== undefined) out.details = row.Details;
  return out;
}

export class TableSequenceStore implements SequencePort {
  readonly store: TableStore<SequenceRow>;

  constructor(connectionString: TableAccess) {
    this.store = new TableStore(connectionString, SEQUENCE_TABLE, sequenceRowSchema, (r) => ({ partitionKey: r.Sequence, rowKey: rowKeyOf(r) }));
  }

  async find(sequence: string, key: string): Promise<Reservation | undefined> {
    const row = await this.store.get(sequence, `${RESERVATION_PREFIX}${key}`);
    return row ? toReservation(row) : undefined;
  }

  /** The counter's last number (0 when nothing was handed out yet). */
  async last(sequence: string): Promise<number> {
    return (await this.store.get(sequence, COUNTER_KEY))?.Last ?? 0;
  }

  /**
   * The key's reservation. Calls waiting in this process for the same sequence share one
   * transaction: the counter moves once by as many numbers as there are new keys, and every
   * reservation row is written with it (all or nothing, so still no gap and no number twice).
   * Across processes the counter's ETag decides, as for a single call.
   */
  reserve(sequence: string, key: string, options: ReserveOptions): Promise<Reservation & { created: boolean }> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(sequence);
      const call: WaitingCall = { key, options, resolve, reject };
      if (queue) queue.push(call);
      else this.waiting.set(sequence, [call]);
      if (!this.draining.has(sequence)) void this.drain(sequence);
    });
  }

  private readonly waiting = new Map<string, WaitingCall[]>();
  private readonly draining = new Set<string>();

  /** Serves the sequence's waiting calls, a group at a time, until none is left. */
  private async drain(sequence: string): Promise<void> {
    this.draining.add(sequence);
    try {
      for (;;) {
        const queue = this.waiting.get(sequence);
        if (!queue?.length) {
          this.waiting.delete(sequence);
          return;
        }
        const group = queue.splice(0, MAX_GROUP);
        try {
          await this.reserveGroup(sequence, group);
        } catch (error) {
          // Not contention (a key storage refuses, storage down): each key on its own, so one
          // bad key fails only its own calls. (A call already settled ignores a second answer.)
          const keys = [...new Set(group.map((c) => c.key))];
          if (keys.length === 1) {
            for (const call of group) call.reject(error);
            continue;
          }
          for (const key of keys) {
            const calls = group.filter((c) => c.key === key);
            try {
              await this.reserveGroup(sequence, calls);
            } catch (alone) {
              for (const call of calls) call.reject(alone);
            }
          }
        }
      }
    } finally {
      this.draining.delete(sequence);
    }
  }

  /** Settles every call of the group: its key's existing reservation, or a new one. */
  private async reserveGroup(sequence: string, group: readonly WaitingCall[]): Promise<void> {
    // One reservation per key; the first call of a key creates it (its details are pinned).
    const byKey = new Map<string, WaitingCall[]>();
    for (const call of group) {
      const calls = byKey.get(call.key);
      if (calls) calls.push(call);
      else byKey.set(call.key, [call]);
    }
    const settle = (calls: readonly WaitingCall[], reservation: Reservation, created: boolean): void => {
      calls.forEach((call, i) => call.resolve({ ...reservation, created: created && i === 0 }));
    };
    // Keys are normally new (a fresh invoice, a first posting), so the first attempt does not look
    // for their reservations: a key reserved already makes the transaction fail with 409 (nothing
    // written), and from then on every attempt looks first. A point read per number saved.
    let lookFirst = false;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const keys = [...byKey.keys()];
      const [existing, counter] = await Promise.all([
        lookFirst ? Promise.all(keys.map((k) => this.find(sequence, k))) : [],
        this.store.get(sequence, COUNTER_KEY),
      ]);
      keys.forEach((k, i) => {
        const found = existing[i];
        if (!found) return;
        settle(byKey.get(k)!, found, false);
        byKey.delete(k);
      });
      if (byKey.size === 0) return;

      let last = counter?.Last ?? 0;
      const reservations: SequenceRow[] = [];
      for (const [k, calls] of byKey) {
        const options = calls[0]!.options;
        last += 1;
        reservations.push({
          Sequence: sequence,
          Kind: 'Reservation',
          Key: k,
          Number: last,
          Value: options.format(last),
          ReservedOn: options.reservedOn ?? new Date().toISOString(),
          ...(options.details !== undefined ? { Details: options.details } : {}),
        });
      }
      const counterRow: SequenceRow = { Sequence: sequence, Kind: 'Counter', Key: COUNTER_KEY, Last: last };
      const writes: TableWrite<SequenceRow>[] = [
        counter ? { op: 'replace', record: counterRow, etag: counter.etag } : { op: 'create', record: counterRow },
        ...reservations.map((record): TableWrite<SequenceRow> => ({ op: 'create', record })),
      ];
      try {
        await this.store.transact(writes);
        for (const row of reservations) settle(byKey.get(row.Key)!, toReservation(row), true);
        return;
      } catch (error) {
        // 409: the counter row was created by someone else, or one of these keys got its
        // reservation meanwhile; 412: the counter moved. Either way nothing was written: read again.
        if (!isConflict(error) && !isPreconditionFailed(error)) throw error;
        if (isConflict(error)) lookFirst = true;
        await new Promise((r) => setTimeout(r, Math.min(200, 5 * attempt) + Math.floor(Math.random() * 10 * attempt)));
      }
    }
    throw new Error(`Could not reserve a number of sequence ${sequence} for ${[...byKey.keys()].join(', ')} after ${MAX_ATTEMPTS} attempts (contention); retrying later will`);
  }
}
