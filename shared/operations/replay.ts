/**
 * Replay: send a recorded message again to its queue, once what made it fail is mended.
 * `POST api/errors/{errorId}/replay` replays one row; `POST api/errors/replay` replays the rows a
 * filter selects, at most 1,000 a call. The message goes out with a new id derived from the
 * original and the replay count (duplicate detection must not drop it; the consumers are
 * idempotent, so a replay of something applied changes nothing), and with the property
 * `ReplayOf` = the row's id, so the row turns Resolved when the replay goes through. Rows that
 * cannot be replayed are refused with the reason. Why: docs/decisions/repair.md.
 */
import { z } from 'zod';
import { BusinessError, ConcurrencyConflict, NotFoundError } from '../core/errors';
import { deterministicGuid } from '../core/ids';
import type { Stored } from '../core/stored';
import { queueConsumedBy, type Publisher, type QueueName } from '../messages';
import { keptBody, viewOfRow, type ErrorFilter, type ErrorLog, type ErrorRow, type ErrorView } from './errorLogStore';

export const MAX_REPLAYS_PER_CALL = 1_000;

export interface ReplayDeps {
  errorLog: Pick<ErrorLog, 'byId' | 'update' | 'page'>;
  publisher: Publisher;
  now?: () => Date;
}

/** Why a row cannot be replayed, or undefined when it can. */
export function replayRefusal(row: ErrorRow): string | undefined {
  return refusalOf(row, keptBody(row) !== undefined);
}

/** replayRefusal of a row as the error list shows it (without its body): a kept body is told by BodyChars. */
export function listedReplayRefusal(view: ErrorView): string | undefined {
  return refusalOf(view, view.BodyChars !== undefined);
}

function refusalOf(row: ErrorView, bodyKept: boolean): string | undefined {
  if (row.Status === 'Resolved') return `error ${row.Id} is Resolved: its message went through; there is nothing to replay`;
  if (row.Category === 'Validation') return `error ${row.Id} is a Validation error: the message itself is malformed (${row.Message.slice(0, 200)}); sending it again cannot succeed, so have its sender send a corrected one`;
  if (queueOf(row) === undefined) return `error ${row.Id} of ${row.Source} is not about a queue message, so there is nothing to send again`;
  if (row.MessageId === undefined || !bodyKept) return `error ${row.Id}: the message body was not kept (too large, or recorded before bodies were kept), so it cannot be sent again from here; resend it from its source`;
  return undefined;
}

function queueOf(row: ErrorView): QueueName | undefined {
  return (row.Queue as QueueName | undefined) ?? queueConsumedBy(row.Source);
}

export interface Replayed {
  errorId: string;
  queue: string;
  messageId: string;
  replayCount: number;
}

async function replayRow(deps: ReplayDeps, row: Stored<ErrorRow>, by: string): Promise<Replayed> {
  const refusal = replayRefusal(row);
  if (refusal) throw new BusinessError(`Cannot replay: ${refusal}.`, { reference: row.Id });
  const queue = queueOf(row)!;
  const text = keptBody(row)!;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: sent again as the text it was
  }
  const replayCount = (row.ReplayCount ?? 0) + 1;
  const messageId = deterministicGuid('replay', row.Source, row.MessageId ?? row.Id, String(replayCount));
  await deps.publisher.publish(queue as QueueName, [{ messageId, body, subject: 'replay', correlationId: row.Id, properties: { ReplayOf: row.Id } }]);
  const marked: Stored<ErrorRow> = {
    ...row,
    Status: 'Replayed',
    ReplayCount: replayCount,
    ReplayedAt: (deps.now?.() ?? new Date()).toISOString(),
    ReplayedBy: by,
    LastReplayMessageId: messageId,
  };
  if (!(await deps.errorLog.update(marked))) {
    throw new ConcurrencyConflict(`Error ${row.Id} changed while it was replayed (its message was sent again as ${messageId}); reload it before replaying again.`, row.Id);
  }
  return { errorId: row.Id, queue, messageId, replayCount };
}

/** Replay one error row. */
export async function replayError(deps: ReplayDeps, errorId: string, by: string): Promise<Replayed & { error: ErrorView }> {
  const row = await deps.errorLog.byId(errorId);
  if (!row) throw new NotFoundError(`Error ${errorId} was not found in the integration error log.`, errorId);
  const replayed = await replayRow(deps, row, by);
  const after = await deps.errorLog.byId(errorId);
  return { ...replayed, error: viewOfRow(after ?? row) };
}

export const replayManySchema = z.strictObject({
  source: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, { message: 'must be a function name such as confirmProformaInvoice' })
    .optional(),
  category: z.enum(['Business', 'Transient', 'DeadLetter'], { message: 'must be Business, Transient or DeadLetter (Validation errors cannot be replayed)' }).optional(),
  since: z.iso.datetime({ message: 'must be an ISO-8601 time such as 2026-12-01T00:00:00Z' }).optional(),
  /** At most this many (default and ceiling 1,000). */
  top: z.number().int().min(1).max(MAX_REPLAYS_PER_CALL).optional(),
  by: z.string().trim().min(1).max(200).optional(),
});
export type ReplayManyRequest = z.infer<typeof replayManySchema>;

/**
 * Replay the Open rows the filter selects, at most `top` (1,000): each is replayed or refused
 * with its reason; the answer lists both. A fault that is not about the row (the broker or the
 * storage down) stops the run: what was replayed so far is still answered, with `stoppedBy`.
 */
export async function replayErrors(
  deps: ReplayDeps,
  request: ReplayManyRequest,
  by: string,
): Promise<{ replayed: Replayed[]; refused: { errorId: string; reason: string }[]; more: boolean; stoppedBy?: string }> {
  const top = request.top ?? MAX_REPLAYS_PER_CALL;
  const filter: ErrorFilter = { status: 'Open', ...(request.source ? { source: request.source } : {}), ...(request.category ? { category: request.category } : {}), ...(request.since ? { since: request.since } : {}) };
  const replayed: Replayed[] = [];
  const refused: { errorId: string; reason: string }[] = [];
  let token: string | undefined;
  do {
    const page = await deps.errorLog.page(filter, 200, token);
    token = page.continuationToken;
    for (const row of page.rows) {
      if (replayed.length + refused.length >= top) return { replayed, refused, more: true };
      const refusal = replayRefusal(row);
      if (refusal) {
        refused.push({ errorId: row.Id, reason: refusal });
        continue;
      }
      try {
        replayed.push(await replayRow(deps, row, by));
      } catch (error) {
        if (error instanceof BusinessError) {
          refused.push({ errorId: row.Id, reason: error.message });
          continue;
        }
        if (replayed.length === 0) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        return { replayed, refused, more: true, stoppedBy: `replaying error ${row.Id} failed, so the run stopped there: ${reason}. Call again once that is mended.` };
      }
    }
  } while (token);
  return { replayed, refused, more: false };
}
