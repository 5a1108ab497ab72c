/**
 * Deterministic ids. A record derived from another (the billed actual of an ILD, the reversal
 * of an actual, a message about an invoice) gets an id computed from what it derives from, so a
 * redelivered message recomputes the very same ids and create-if-absent writes make it harmless.
 * Name-based GUIDs as in RFC 4122 version 5 (SHA-1), under this project's own namespace.
 */
import { createHash } from 'node:crypto';

const NAMESPACE = Buffer.from('6f1c2a4e8b3d4f7a9e0b5c6d7e8f9a0b', 'hex');

export function deterministicGuid(...parts: string[]): string {
  const hash = createHash('sha1').update(NAMESPACE).update(parts.join('\u001f')).digest();
  const b = Buffer.from(hash.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A short stable token (upper-case hex) for human-facing numbers such as vouchers. */
export function shortHash(length: number, ...parts: string[]): string {
  return createHash('sha1').update(parts.join('\u001f')).digest('hex').slice(0, length).toUpperCase();
}
