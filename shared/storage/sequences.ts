/**
 * Number sequences (IntegrationTables `integrationSequences`), e.g. customer invoice numbers
 * "CIV-000001", ...: one reservation per business key, taken in one transaction with the counter,
 * so no number is used twice or lost to a crash. Layout and why: docs/decisions/storage-kit.md.
 */
import { z } from 'zod';
import { timestampString } from '../core/fields';
import { isConflict, isPreconditionFailed } from './storageErrors';
import { TableStore, type Stored, type TableAccess, type TableWrite } from './tableStore';

export const SEQUENCE_TABLE = 'integrationSequences';
const COUNTER_KEY = 'counter';
const RESERVATION_PREFIX = 'r-';
/** Attempts before giving up under contention (then the caller's message is retried by Service Bus). */
const MAX_ATTEMPTS = 40;

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

  async reserve(sequence: string, key: string, options: ReserveOptions): Promise<Reservation & { created: boolean }> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const existing = await this.find(sequence, key);
      if (existing) return { ...existing, created: false };

      const counter: Stored<SequenceRow> | undefined = await this.store.get(sequence, COUNTER_KEY);
      const next = (counter?.Last ?? 0) + 1;
      const counterRow: SequenceRow = { Sequence: sequence, Kind: 'Counter', Key: COUNTER_KEY, Last: next };
      const reservation: SequenceRow = {
        Sequence: sequence,
        Kind: 'Reservation',
        Key: key,
        Number: next,
        Value: options.format(next),
        ReservedOn: options.reservedOn ?? new Date().toISOString(),
        ...(options.details !== undefined ? { Details: options.details } : {}),
      };
      const writes: TableWrite<SequenceRow>[] = [
        counter ? { op: 'replace', record: counterRow, etag: counter.etag } : { op: 'create', record: counterRow },
        { op: 'create', record: reservation },
      ];
      try {
        await this.store.transact(writes);
        return { ...toReservation(reservation), created: true };
      } catch (error) {
        // 409: the counter row was created by someone else, or this key got its reservation
        // meanwhile; 412: the counter moved. Either way nothing was written: read again.
        if (!isConflict(error) && !isPreconditionFailed(error)) throw error;
        await new Promise((r) => setTimeout(r, Math.min(200, 5 * attempt) + Math.floor(Math.random() * 10 * attempt)));
      }
    }
    throw new Error(`Could not reserve a number of sequence ${sequence} for ${key} after ${MAX_ATTEMPTS} attempts (contention); retrying later will`);
  }
}
