/**
 * The actual a Dataverse Create or Update of `msdyn_actual` is about, as the contract's dvActuals
 * record (records.ts `actualSchema`), so that it is synced exactly like an actual of the project's
 * own `actuals` message.
 *
 * - Attributes are the contract's columns under their Dataverse logical names; each is flattened by
 *   its column's kind (values.ts). Attributes the contract does not know are ignored.
 * - Update: the Target (what this update set) merged over the post image (the record after it);
 *   Create: the Target, over a post image when one is registered.
 * - Currency references (transactioncurrency GUIDs) are resolved to ISO codes through dvCurrencies;
 *   an unknown one is a BusinessError naming the id. A plain ISO code is taken as it is.
 * - A required column that neither the Target nor the image carries, or a value of the wrong
 *   type, is a ValidationError naming every such attribute at once.
 * - Size-limited (no InputParameters): the actual is read by PrimaryEntityId from dvActuals; when
 *   the project does not hold it, a BusinessError says what is missing.
 */
import { BusinessError, ValidationError } from '../../core/errors';
import { describeZodError } from '../../core/fields';
import { withoutEtag } from '../../core/stored';
import { actualSchema, type Actual, type Currency } from '../records';
import {
  describeContext,
  entityIdOf,
  isSizeLimited,
  mergedAttributes,
  postImage,
  targetEntity,
  type DataverseProperties,
  type RemoteExecutionContext,
} from './remoteExecutionContext';
import { flatten, shown, type ColumnKind, type CurrencyValue, type Flat } from './values';

export const ACTUAL_ENTITY = 'msdyn_actual';
export const ACTUAL_MESSAGES = ['Create', 'Update'] as const;

/** The kind of every dvActuals column, by Dataverse logical name (the compiler holds it to actualSchema). */
export const ACTUAL_COLUMNS = {
  msdyn_actualid: 'id',
  msdyn_transactiontypecode: 'option',
  msdyn_transactionclassification: 'option',
  msdyn_billingtype: 'option',
  msdyn_billingstatus: 'option',
  msdyn_adjustmentstatus: 'option',
  msdyn_quantity: 'quantity',
  msdyn_price: 'price',
  msdyn_amount: 'amount',
  transactioncurrencyid: 'currency',
  msdyn_documentdate: 'date',
  msdyn_accountingdate: 'date',
  msdyn_project: 'reference',
  msdyn_salescontract: 'reference',
  msdyn_salescontractlineid: 'reference',
  msdyn_accountcustomer: 'reference',
  msdyn_invoice: 'reference',
  msdyn_unbilledactual: 'reference',
  msdyn_reversedactual: 'reference',
  msdyn_skipsync: 'boolean',
  msdyn_externalreferenceid: 'text',
  msdyn_postingdate: 'date',
  msdyn_accountingcurrency: 'currency',
  msdyn_accountingamount: 'amount',
  msdyn_exchangerate: 'rate',
  msdyn_salestaxamount: 'amount',
} as const satisfies Record<keyof Actual, ColumnKind>;

type ActualColumn = keyof typeof ACTUAL_COLUMNS;
const COLUMNS = Object.keys(ACTUAL_COLUMNS) as ActualColumn[];

/** The columns a dvActuals record must have (those actualSchema does not leave optional). */
export const REQUIRED_ACTUAL_COLUMNS: readonly ActualColumn[] = COLUMNS.filter((c) => !actualSchema.shape[c].safeParse(undefined).success);

/** What the inbound edge reads of the Dataverse store. */
export interface InboundStore {
  /** dvCurrencies by transactioncurrencyid. */
  currencyById(currencyId: string): Promise<Currency | undefined>;
  /** dvActuals by msdyn_actualid, whatever its contract. */
  actualById(actualId: string): Promise<(Actual & { etag?: string }) | undefined>;
}

/** The columns of the actual as the context carries them, flattened, before currencies are resolved. */
export interface ActualDraft {
  actualId: string;
  fields: Partial<Record<ActualColumn, Flat>>;
  /** Columns whose currency is a transactioncurrency GUID still to look up. */
  currencies: Array<{ column: ActualColumn; currencyId: string }>;
}

function isCurrencyValue(value: Flat): value is CurrencyValue {
  return typeof value === 'object';
}

/** Check that the context is a Create or Update of msdyn_actual (a ValidationError naming what it is otherwise). */
export function assertActualContext(context: RemoteExecutionContext, where: string): void {
  const known = (ACTUAL_MESSAGES as readonly string[]).includes(context.MessageName);
  if (context.PrimaryEntityName !== ACTUAL_ENTITY || !known) {
    throw new ValidationError(
      `${where} takes Create and Update of ${ACTUAL_ENTITY}; this message is ${context.MessageName} of ${context.PrimaryEntityName} ${context.PrimaryEntityId}. Register that step on the queue that takes it (docs/dataverse.md).`,
      context.PrimaryEntityId,
    );
  }
}

/**
 * The pure part: the context's attributes flattened to the actual's columns. Throws a
 * ValidationError naming every attribute that is missing or of the wrong type.
 */
export function draftActual(context: RemoteExecutionContext): ActualDraft {
  const target = targetEntity(context);
  const attributes = mergedAttributes(context);
  const actualId = entityIdOf(target) ?? context.PrimaryEntityId;
  const fields: ActualDraft['fields'] = {};
  const currencies: ActualDraft['currencies'] = [];
  const problems: string[] = [];
  for (const column of COLUMNS) {
    if (!attributes.has(column)) continue;
    const flat = flatten(ACTUAL_COLUMNS[column], attributes.get(column));
    if (!flat.ok) {
      problems.push(`${column}: ${flat.problem}`);
      continue;
    }
    if (isCurrencyValue(flat.value)) {
      if ('code' in flat.value) fields[column] = flat.value.code;
      else currencies.push({ column, currencyId: flat.value.currencyId });
      continue;
    }
    fields[column] = flat.value;
  }
  // The id: the attribute when sent (it must name the same record), else the Target's Id, else PrimaryEntityId.
  if (fields.msdyn_actualid === undefined) fields.msdyn_actualid = actualId;
  else if (fields.msdyn_actualid !== context.PrimaryEntityId) {
    problems.push(`msdyn_actualid: ${shown(fields.msdyn_actualid)} is not the message's PrimaryEntityId ${context.PrimaryEntityId}`);
  }
  const missing = REQUIRED_ACTUAL_COLUMNS.filter((c) => fields[c] === undefined && !currencies.some((x) => x.column === c));
  if (missing.length) {
    const where = context.MessageName === 'Update' ? (postImage(context) ? 'the Target and the post image' : 'the Target (the step has no post image)') : 'the Target';
    problems.push(
      `required attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing from ${where}` +
        (context.MessageName === 'Update' ? '; register a post image "PostImage" with every column of docs/dataverse.md' : ''),
    );
  }
  if (problems.length) {
    throw new ValidationError(`Dataverse ${context.MessageName} of ${ACTUAL_ENTITY} ${actualId} cannot be read as an actual: ${problems.join('; ')}.`, actualId);
  }
  return { actualId, fields, currencies };
}

/** Resolve the draft's currency references and check the record against the contract's schema. */
export async function completeActual(store: Pick<InboundStore, 'currencyById'>, draft: ActualDraft): Promise<Actual> {
  const record: Record<string, unknown> = { ...draft.fields };
  const lookups = new Map<string, Promise<Currency | undefined>>();
  for (const { column, currencyId } of draft.currencies) {
    let lookup = lookups.get(currencyId);
    if (!lookup) lookups.set(currencyId, (lookup = store.currencyById(currencyId)));
    const currency = await lookup;
    if (!currency) {
      throw new BusinessError(
        `Actual ${draft.actualId}: its ${column} names the Dataverse currency ${currencyId}, which dvCurrencies does not hold, so its ISO code is unknown and nothing was written. Add the currency to dvCurrencies (transactioncurrencyid ${currencyId}, isocurrencycode, currencyname), then replay the message.`,
        { reference: draft.actualId },
      );
    }
    record[column] = currency.isocurrencycode;
  }
  const parsed = actualSchema.safeParse(record);
  if (!parsed.success) {
    throw new ValidationError(`Dataverse ${ACTUAL_ENTITY} ${draft.actualId} is not a valid actual: ${describeZodError(parsed.error)}.`, draft.actualId);
  }
  return parsed.data;
}

export interface ActualOfContextMeta {
  properties: DataverseProperties;
  /** Where the context arrived, for messages ("the actuals queue", "the webhook"). */
  where: string;
  log?: (line: string) => void;
}

/**
 * The actual a Create or Update of msdyn_actual is about, as a dvActuals record. Size-limited
 * contexts are answered from dvActuals by id.
 */
export async function actualOfContext(store: InboundStore, context: RemoteExecutionContext, meta: ActualOfContextMeta): Promise<Actual> {
  assertActualContext(context, meta.where);
  const log = meta.log ?? (() => undefined);
  if (isSizeLimited(context, meta.properties)) {
    const stored = await store.actualById(context.PrimaryEntityId);
    if (!stored) {
      throw new BusinessError(
        `Dataverse ${context.MessageName} of ${ACTUAL_ENTITY} ${context.PrimaryEntityId} exceeded the service endpoint's size limit and arrived without its Target and images, and dvActuals does not hold that actual, so its attributes (${REQUIRED_ACTUAL_COLUMNS.join(', ')}) are missing and nothing was written to staging. Reduce the step's image to the columns of docs/dataverse.md so the message fits, or send the actual in the project's own actuals message.`,
        { reference: context.PrimaryEntityId },
      );
    }
    log(`${describeContext(context, meta.properties)}: over the size limit, the actual was read from dvActuals`);
    return withoutEtag(stored);
  }
  const actual = await completeActual(store, draftActual(context));
  log(`${describeContext(context, meta.properties)}: actual ${actual.msdyn_actualid} of contract ${actual.msdyn_salescontract}, amount ${actual.msdyn_amount} ${actual.transactioncurrencyid}`);
  return actual;
}
