/**
 * Dataverse's own message: the `RemoteExecutionContext` (Microsoft.Xrm.Sdk) that a service
 * endpoint (contract Queue, message format JSON) posts to Service Bus and a webhook POSTs over
 * HTTP, in DataContract JSON. Parsed with zod here; what it means for this project is in
 * actualOfContext.ts and confirmationOfContext.ts. docs/dataverse.md describes the format and the
 * registration.
 *
 * - Collections (InputParameters, images, SharedVariables, Attributes) are lists of
 *   `{ "key", "value" }`; the `Target` of Create and Update is an Entity
 *   (`{ "__type": "Entity:...", "LogicalName", "Id", "Attributes": [...] }`).
 * - Over the service endpoint's size limit Dataverse drops InputParameters, the images and
 *   ParentContext and marks the message (`MessageMaxSizeExceeded`; a webhook gets the header
 *   `x-ms-dynamics-msg-size-exceeded`). Such a context is "size-limited" here: the listener reads
 *   the record by PrimaryEntityId instead.
 * - Dataverse also sets application properties on the Service Bus message
 *   (`http://schemas.microsoft.com/xrm/2011/Claims/Organization`, `.../User`, `.../InitiatingUser`,
 *   `.../EntityLogicalName`, `.../RequestName`); a webhook gets `x-ms-dynamics-*` headers instead.
 *   Both become `DataverseProperties`, logged and cross-checked against the body.
 */
import { z } from 'zod';
import { ValidationError } from '../../core/errors';
import { describeZodError, guid } from '../../core/fields';
import { parseDataverseDate, typeNameOf } from './values';

/** The claims namespace of the application properties Dataverse sets on a Service Bus message. */
export const CLAIMS = 'http://schemas.microsoft.com/xrm/2011/Claims/';

const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';

const keyValue = z.object({ key: z.string(), value: z.unknown() });
export type KeyValue = z.infer<typeof keyValue>;

const dataverseDate = z.string().refine((s) => parseDataverseDate(s) !== undefined, { message: 'must be a date such as "/Date(1732492800000)/"' });

/** An Entity of DataContract JSON (the Target of Create and Update, every entity image). */
export const entitySchema = z.object({
  __type: z
    .string()
    .refine((t) => (t.split(':')[0] ?? t) === 'Entity', { message: 'must be an Entity ("Entity:http://schemas.microsoft.com/xrm/2011/Contracts")' })
    .optional(),
  LogicalName: z.string().min(1),
  Id: guid.nullish(),
  Attributes: z.array(keyValue),
});
export type DataverseEntity = z.infer<typeof entitySchema>;

const image = z.object({ key: z.string(), value: entitySchema });

export const remoteExecutionContextSchema = z.object({
  MessageName: z.string().min(1),
  PrimaryEntityName: z.string().min(1),
  PrimaryEntityId: guid,
  SecondaryEntityName: z.string().nullish(),
  Stage: z.number().int().nullish(),
  Mode: z.number().int().nullish(),
  Depth: z.number().int().nullish(),
  UserId: guid.nullish(),
  InitiatingUserId: guid.nullish(),
  BusinessUnitId: guid.nullish(),
  OrganizationId: guid.nullish(),
  OrganizationName: z.string().nullish(),
  CorrelationId: guid.nullish(),
  RequestId: guid.nullish(),
  OperationId: guid.nullish(),
  OperationCreatedOn: dataverseDate.nullish(),
  InputParameters: z.array(keyValue).nullish(),
  OutputParameters: z.array(keyValue).nullish(),
  PreEntityImages: z.array(image).nullish(),
  PostEntityImages: z.array(image).nullish(),
  SharedVariables: z.array(keyValue).nullish(),
  ParentContext: z.unknown().nullish(),
  OwningExtension: z.unknown().nullish(),
  /** The size-limit marker, when the sender puts it on the body itself. */
  MessageMaxSizeExceeded: z.boolean().nullish(),
});
export type RemoteExecutionContext = z.infer<typeof remoteExecutionContextSchema>;

/** The keys that tell a RemoteExecutionContext from the project's own bodies (which have none of them). */
const CONTEXT_KEYS = ['MessageName', 'PrimaryEntityName'] as const;

/** True when a body is (meant to be) a RemoteExecutionContext: a JSON object with MessageName or PrimaryEntityName. */
export function looksLikeRemoteExecutionContext(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && CONTEXT_KEYS.some((k) => k in value);
}

/** Parse a value as a RemoteExecutionContext; a ValidationError naming every bad or missing attribute. */
export function parseRemoteExecutionContext(value: unknown): RemoteExecutionContext {
  const parsed = remoteExecutionContextSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`The Dataverse RemoteExecutionContext is malformed: ${describeZodError(parsed.error)}.`, referenceOf(value));
  return parsed.data;
}

/** Parse the JSON text of a RemoteExecutionContext (a webhook's body); escaped slashes ("\/Date(...)\/") are plain JSON. */
export function parseRemoteExecutionContextText(text: string): RemoteExecutionContext {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (!trimmed) throw new ValidationError('The body is empty; Dataverse sends a RemoteExecutionContext as JSON (message format JSON).');
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    throw new ValidationError(`The body is not valid JSON (${error instanceof Error ? error.message : String(error)}); register the endpoint with message format JSON.`);
  }
  if (!looksLikeRemoteExecutionContext(value)) {
    throw new ValidationError('The body is not a Dataverse RemoteExecutionContext: it has neither MessageName nor PrimaryEntityName.');
  }
  return parseRemoteExecutionContext(value);
}

/** PrimaryEntityId of a body that may be malformed, for an error row's Reference. */
function referenceOf(value: unknown): string | undefined {
  const parsed = z.object({ PrimaryEntityId: guid }).safeParse(value);
  return parsed.success ? parsed.data.PrimaryEntityId : undefined;
}

/** The value of a key in a DataContract collection. */
export function collectionValue(collection: readonly KeyValue[] | null | undefined, key: string): unknown {
  return collection?.find((kv) => kv.key === key)?.value;
}

/** The `Target` input parameter as an Entity; undefined when there is none; a ValidationError when it is not an Entity. */
export function targetEntity(context: RemoteExecutionContext): DataverseEntity | undefined {
  const target = collectionValue(context.InputParameters, 'Target');
  if (target === undefined || target === null) return undefined;
  if (typeNameOf(target) === 'EntityReference') return undefined;
  const parsed = entitySchema.safeParse(target);
  if (!parsed.success) {
    throw new ValidationError(
      `The Target of ${context.MessageName} of ${context.PrimaryEntityName} ${context.PrimaryEntityId} is not an Entity: ${describeZodError(parsed.error)}.`,
      context.PrimaryEntityId,
    );
  }
  return parsed.data;
}

/** The id an Entity carries, when it is set (Dataverse writes the empty GUID for "none"). */
export function entityIdOf(entity: DataverseEntity | undefined): string | undefined {
  const id = entity?.Id ?? undefined;
  return id === EMPTY_GUID ? undefined : id;
}

/**
 * The post image of the primary entity: the one registered as "PostImage" (the alias
 * docs/dataverse.md asks for), else the first image of the primary entity.
 */
export function postImage(context: RemoteExecutionContext): DataverseEntity | undefined {
  const images = (context.PostEntityImages ?? []).filter((i) => i.value.LogicalName === context.PrimaryEntityName);
  return (images.find((i) => i.key === 'PostImage') ?? images[0])?.value;
}

/** The attributes of an entity as a map; an attribute set to null counts as absent (cleared). */
export function attributesOf(entity: DataverseEntity | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const { key, value } of entity?.Attributes ?? []) out.set(key, value);
  return out;
}

/**
 * The record's attributes as the event left it: the post image, then the Target over it (Target
 * wins: it holds what this very message set). An attribute set to null is removed.
 */
export function mergedAttributes(context: RemoteExecutionContext): Map<string, unknown> {
  const merged = attributesOf(postImage(context));
  for (const [key, value] of attributesOf(targetEntity(context))) merged.set(key, value);
  for (const [key, value] of merged) if (value === null) merged.delete(key);
  return merged;
}

// ---- what the envelope says: application properties or webhook headers ------------------------

/** What Dataverse says about a message outside its body. */
export interface DataverseProperties {
  organization?: string;
  user?: string;
  initiatingUser?: string;
  entityLogicalName?: string;
  requestName?: string;
  /** The message exceeded the size limit (marker property or header). */
  sizeExceeded: boolean;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function truthy(value: unknown): boolean {
  return value === true || value === 1 || (typeof value === 'string' && value.trim().toLowerCase() === 'true');
}

/**
 * The Dataverse claims among a Service Bus message's application properties. The Functions host
 * hands them over with the first letter of each key lower-cased (which leaves "http://..." as
 * it is), so both spellings are looked up.
 */
export function dataversePropertiesOf(properties: Readonly<Record<string, unknown>> | undefined): DataverseProperties {
  const props = properties ?? {};
  const claim = (name: string) => {
    const key = `${CLAIMS}${name}`;
    return textOf(props[key] ?? props[key.charAt(0).toLowerCase() + key.slice(1)]);
  };
  const sizeExceeded = Object.entries(props).some(
    ([key, value]) => (key.toLowerCase().endsWith('messagemaxsizeexceeded') || key.toLowerCase() === 'x-ms-dynamics-msg-size-exceeded') && truthy(value),
  );
  return strip({
    organization: claim('Organization'),
    user: claim('User'),
    initiatingUser: claim('InitiatingUser'),
    entityLogicalName: claim('EntityLogicalName'),
    requestName: claim('RequestName'),
    sizeExceeded,
  });
}

/** The `x-ms-dynamics-*` headers a Dataverse webhook sends, as the same properties. */
export function webhookPropertiesOf(header: (name: string) => string | null | undefined): DataverseProperties {
  const size = header('x-ms-dynamics-msg-size-exceeded');
  return strip({
    organization: textOf(header('x-ms-dynamics-organization')),
    entityLogicalName: textOf(header('x-ms-dynamics-entity-name')),
    requestName: textOf(header('x-ms-dynamics-request-name')),
    // The header's presence is the marker; a value of "false" is taken at its word.
    sizeExceeded: size !== null && size !== undefined && size.trim().toLowerCase() !== 'false',
  });
}

function strip(p: DataverseProperties): DataverseProperties {
  const out: DataverseProperties = { sizeExceeded: p.sizeExceeded };
  if (p.organization !== undefined) out.organization = p.organization;
  if (p.user !== undefined) out.user = p.user;
  if (p.initiatingUser !== undefined) out.initiatingUser = p.initiatingUser;
  if (p.entityLogicalName !== undefined) out.entityLogicalName = p.entityLogicalName;
  if (p.requestName !== undefined) out.requestName = p.requestName;
  return out;
}

/**
 * A context over the size limit: the marker is on the envelope, the body or its SharedVariables,
 * or a Create or Update arrives without InputParameters at all.
 */
export function isSizeLimited(context: RemoteExecutionContext, properties: DataverseProperties): boolean {
  if (properties.sizeExceeded || context.MessageMaxSizeExceeded === true) return true;
  if (truthy(collectionValue(context.SharedVariables, 'MessageMaxSizeExceeded'))) return true;
  return context.InputParameters === undefined || context.InputParameters === null;
}

/**
 * Cross-check the envelope against the body: an EntityLogicalName that names another table than
 * PrimaryEntityName means the two do not belong together (a ValidationError; nothing is applied).
 * A RequestName other than MessageName is only reported (Dataverse's request names are not
 * always the message names), through the returned note.
 */
export function crossCheck(context: RemoteExecutionContext, properties: DataverseProperties): string | undefined {
  const entity = properties.entityLogicalName;
  if (entity !== undefined && entity.toLowerCase() !== context.PrimaryEntityName.toLowerCase()) {
    throw new ValidationError(
      `The message's EntityLogicalName (${entity}) and its body's PrimaryEntityName (${context.PrimaryEntityName}) disagree, so it was not applied; check the service endpoint's step registration.`,
      context.PrimaryEntityId,
    );
  }
  const request = properties.requestName;
  if (request !== undefined && request.toLowerCase() !== context.MessageName.toLowerCase()) {
    return `note: RequestName ${request} differs from MessageName ${context.MessageName}`;
  }
  return undefined;
}

/** One line a person reads in the log: what the context is and who and where it comes from. */
export function describeContext(context: RemoteExecutionContext, properties: DataverseProperties): string {
  const parts = [
    `Dataverse ${context.MessageName} of ${context.PrimaryEntityName} ${context.PrimaryEntityId}`,
    `organization ${properties.organization ?? context.OrganizationName ?? context.OrganizationId ?? '-'}`,
    `user ${properties.initiatingUser ?? context.InitiatingUserId ?? properties.user ?? context.UserId ?? '-'}`,
    `stage ${context.Stage ?? '-'} mode ${context.Mode ?? '-'} depth ${context.Depth ?? '-'}`,
    `correlation ${context.CorrelationId ?? '-'}`,
  ];
  const envelope = [
    properties.entityLogicalName !== undefined ? `EntityLogicalName=${properties.entityLogicalName}` : undefined,
    properties.requestName !== undefined ? `RequestName=${properties.requestName}` : undefined,
    properties.organization !== undefined ? `Organization=${properties.organization}` : undefined,
    properties.sizeExceeded ? 'MessageMaxSizeExceeded' : undefined,
  ].filter((p): p is string => p !== undefined);
  return `${parts.join(', ')}; envelope: ${envelope.length ? envelope.join(' ') : 'none'}`;
}

/** When the operation was created (OperationCreatedOn) as an ISO timestamp, when the context says. */
export function operationCreatedOn(context: RemoteExecutionContext): string | undefined {
  const text = context.OperationCreatedOn ?? undefined;
  return text === undefined ? undefined : parseDataverseDate(text)?.toISOString();
}

/** The user the operation ran for: InitiatingUserId, else UserId, else what the envelope says. */
export function initiatingUserOf(context: RemoteExecutionContext, properties: DataverseProperties): string | undefined {
  return context.InitiatingUserId ?? context.UserId ?? properties.initiatingUser ?? properties.user ?? undefined;
}
