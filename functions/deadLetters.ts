import type { CompositionRoot } from '../shared/compositionRoot';
import { ConsumerOfQueue, referenceOfMessage, type QueueName } from '../shared/messages';
import { deadLetterFunction } from '../shared/triggers/queueMessage';

/** The dead-letter function of each contract queue, named after the queue. */
export const DEAD_LETTER_FUNCTIONS: Readonly<Record<QueueName, string>> = {
  'invoice-confirmations': 'recordDeadLetteredConfirmations',
  'invoice-proposals': 'recordDeadLetteredProposals',
  actuals: 'recordDeadLetteredActuals',
  'proposal-postings': 'recordDeadLetteredPostings',
  'actuals-accounting': 'recordDeadLetteredAccounting',
};

/** `<queue>/$DeadLetterQueue` of every contract queue: each dead-lettered message becomes one DeadLetter row. */
export function registerDeadLetters(root: CompositionRoot): void {
  for (const [queue, name] of Object.entries(DEAD_LETTER_FUNCTIONS) as [QueueName, string][]) {
    deadLetterFunction(name, { queue, consumer: ConsumerOfQueue[queue], errorLog: root.errorLog, reference: (body) => referenceOfMessage(queue, body) });
  }
}
