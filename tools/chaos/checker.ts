/**
 * The one place the harness takes the invariant checker from: the project's own
 * (shared/operations/invariants.ts, also behind `npm run check-invariants`), so the harness and
 * the operators judge a store by the same rules.
 */
export { checkInvariants, type DeadLetteredMessage, type InvariantReport, type InvariantViolation } from '../../shared/operations/invariants';
