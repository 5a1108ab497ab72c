/**
 * The import's own tables spread their rows over a few partitions ("S0".."S7"), so writes do not
 * pile onto one partition and a run can list them in parallel:
 * - the pending index (foStagingWork) by contract: each contract's rows in two neighbouring shards
 *   (a hash of the contract, plus a hash of the actual for which of the two). One sync message (the
 *   actuals of one invoice or approval, one contract) writes its entries in at most two
 *   transactions per 100 rows, and a large contract's entries are listed and deleted in two
 *   partitions, as fast as its staging partition takes the one merge per row;
 * - the voucher reservations (foVoucherReservations) by a hash of the ActualId.
 * Index entries written before the index was sharded by contract sit in their actual's shard;
 * import addresses every entry by the shard it was listed in, so they are still found and removed.
 */
import { shortHash } from '../../core/ids';

export const STAGING_WORK_SHARDS = 8;
/** How many of the index's shards one contract's entries use. */
export const SHARDS_PER_CONTRACT = 2;

function hashOf(key: string): number {
  return Number.parseInt(shortHash(4, key), 16);
}

/** The shard of an actual's voucher reservation (and of index entries written before 2026-12-02). */
export function shardOf(actualId: string): string {
  return `S${hashOf(actualId) % STAGING_WORK_SHARDS}`;
}

/** The pending-index shard of a staging row: one of its contract's two. */
export function workShardOf(row: { ContractId: string; ActualId: string }): string {
  return `S${(hashOf(row.ContractId) + (hashOf(row.ActualId) % SHARDS_PER_CONTRACT)) % STAGING_WORK_SHARDS}`;
}

/** The pending-index shards a contract's rows go to. */
export function contractShardsOf(contractId: string): string[] {
  const first = hashOf(contractId);
  return Array.from({ length: SHARDS_PER_CONTRACT }, (_, i) => `S${(first + i) % STAGING_WORK_SHARDS}`);
}
