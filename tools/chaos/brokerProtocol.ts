/**
 * Messages between the chaos harness and its broker process (tools/chaos/broker.ts), over Node's
 * IPC channel. Both sides parse what they receive with these schemas.
 */
import { z } from 'zod';

export const duplicationSettings = z.object({
  /** Each message the broker accepts is delivered once more this long after it was accepted. */
  afterMs: z.number().int().positive(),
  /** Up to this much more, at random, so copies do not arrive in lockstep. */
  jitterMs: z.number().int().nonnegative(),
  /** Every n-th message is also held back for a "late" copy, released on request (0: none). */
  lateEvery: z.number().int().nonnegative(),
  /** Messages whose id starts with this are never copied (the harness's own fuzz messages). */
  skipPrefix: z.string(),
});
export type DuplicationSettings = z.infer<typeof duplicationSettings>;

export const toBroker = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('start'),
    port: z.number().int().min(1).max(65535),
    /** Duplicate-detection window of every queue, shortened so a copy can pass it in a short run. */
    duplicateWindowMs: z.number().int().positive(),
    duplicates: duplicationSettings.nullable(),
    /** A snapshot written by `snapshotAndExit` of the previous broker process, to load first. */
    restoreFile: z.string().optional(),
  }),
  /** Write every message, dead letter, duplicate-detection entry and pending copy to `file`, then die (SIGKILL). */
  z.object({ type: z.literal('snapshotAndExit'), file: z.string().min(1) }),
  /** Deliver the late copies now, and hold no more. */
  z.object({ type: z.literal('releaseLate'), id: z.number().int() }),
  z.object({ type: z.literal('status'), id: z.number().int() }),
]);
export type ToBroker = z.infer<typeof toBroker>;

export const queueCounts = z.object({ messages: z.number().int(), locked: z.number().int(), scheduled: z.number().int(), deadLetters: z.number().int() });

export const fromBroker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), port: z.number().int(), connectionString: z.string(), restored: z.number().int() }),
  z.object({ type: z.literal('startFailed'), error: z.string() }),
  /** A message a client sent was kept (not dropped as a duplicate). */
  z.object({ type: z.literal('accepted'), queue: z.string(), messageId: z.string().optional(), size: z.number().int() }),
  /** A copy the broker delivered itself: kept, or dropped by duplicate detection. */
  z.object({ type: z.literal('copy'), kind: z.enum(['early', 'late']), queue: z.string(), messageId: z.string().optional(), kept: z.boolean() }),
  z.object({
    type: z.literal('deadLettered'),
    queue: z.string(),
    messageId: z.string().optional(),
    reason: z.string().optional(),
    description: z.string().optional(),
    deliveryCount: z.number().int(),
    enqueuedAt: z.string(),
  }),
  z.object({ type: z.literal('released'), id: z.number().int(), count: z.number().int() }),
  z.object({
    type: z.literal('status'),
    id: z.number().int(),
    pendingCopies: z.number().int(),
    lateHeld: z.number().int(),
    queues: z.record(z.string(), queueCounts),
  }),
]);
export type FromBroker = z.infer<typeof fromBroker>;
