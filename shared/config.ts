/**
 * App settings (contract.md, "Settings"): one zod schema, parsed once per process.
 * A missing or malformed setting stops start-up with one line naming it.
 *
 * Every connection (AzureWebJobsStorage, ServiceBusConnection and the three *Tables) takes either a
 * connection string or the Azure Functions identity-based form (`<name>__fullyQualifiedNamespace`,
 * `<name>__tableServiceUri` / `<name>__accountName`, ... with optional `<name>__credential` and
 * `<name>__clientId`); `connections` holds what each one resolved to (docs/decisions/azure.md).
 */
import { z } from 'zod';
import { Cron } from 'croner';

function isStorageConnectionString(s: string): boolean {
  return s === 'UseDevelopmentStorage=true' || /(AccountName|TableEndpoint|BlobEndpoint)=/i.test(s);
}

// ---- connections: a connection string or the identity-based form ------------------------------

/** How a connection's identity gets its token (never holds a secret other than a service principal's, and that only in memory). */
export type CredentialSetting =
  /** `<name>__credential` = managedidentity: the app's managed identity (user-assigned by client id or resource id, else system-assigned). */
  | { kind: 'managedIdentity'; clientId?: string; resourceId?: string }
  /** `<name>__tenantId`, `__clientId` and `__clientSecret`: a service principal (local development). */
  | { kind: 'servicePrincipal'; tenantId: string; clientId: string; clientSecret: string }
  /** No `__credential`: DefaultAzureCredential (a developer's sign-in locally, the managed identity in Azure). */
  | { kind: 'default'; managedIdentityClientId?: string; managedIdentityResourceId?: string; tenantId?: string };

/** A Table storage connection: a connection string, or a table service URI and an identity. */
export type TablesConnection =
  | { name: string; auth: 'connectionString'; connectionString: string }
  | { name: string; auth: 'identity'; tableServiceUri: string; credential: CredentialSetting };

/** The Functions host's storage: a connection string, or an account (or its service URIs) and an identity. */
export type HostStorageConnection =
  | { name: string; auth: 'connectionString'; connectionString: string }
  | { name: string; auth: 'identity'; blobServiceUri: string; queueServiceUri?: string; tableServiceUri?: string; credential: CredentialSetting };

/** The Service Bus connection: a connection string, or a namespace and an identity. */
export type ServiceBusConnectionSetting =
  | { name: string; auth: 'connectionString'; connectionString: string }
  | { name: string; auth: 'identity'; fullyQualifiedNamespace: string; credential: CredentialSetting };

export interface Connections {
  AzureWebJobsStorage: HostStorageConnection;
  ServiceBusConnection: ServiceBusConnectionSetting;
  DataverseTables: TablesConnection;
  FinanceTables: TablesConnection;
  IntegrationTables: TablesConnection;
}

/** The connections every app setting set names, in the contract's order. */
export const CONNECTION_NAMES = ['AzureWebJobsStorage', 'ServiceBusConnection', 'DataverseTables', 'FinanceTables', 'IntegrationTables'] as const;
export type ConnectionName = (typeof CONNECTION_NAMES)[number];

/** The identity-based properties any connection may carry (Azure Functions' common properties). */
export const CREDENTIAL_PROPERTIES = ['credential', 'clientId', 'managedIdentityResourceId', 'tenantId', 'clientSecret'] as const;
/** The properties that say where an identity-based connection points, per kind of connection. */
export const ENDPOINT_PROPERTIES = {
  AzureWebJobsStorage: ['accountName', 'blobServiceUri', 'queueServiceUri', 'tableServiceUri'],
  ServiceBusConnection: ['fullyQualifiedNamespace'],
  DataverseTables: ['tableServiceUri', 'accountName'],
  FinanceTables: ['tableServiceUri', 'accountName'],
  IntegrationTables: ['tableServiceUri', 'accountName'],
} as const satisfies Record<ConnectionName, readonly string[]>;

/** A refused combination: the message names the setting (the first word) and what is missing. */
class ConnectionProblem extends Error {}

type Env = Record<string, string | undefined>;

function valueOf(env: Env, key: string): string | undefined {
  const value = env[key]?.trim();
  return value ? value : undefined;
}

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:\d{1,5})?$/;

function httpsUrl(env: Env, key: string, example: string): string | undefined {
  const value = valueOf(env, key);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConnectionProblem(`${key} must be an https URL such as ${example}`);
  }
  if (url.protocol !== 'https:' || url.search || url.hash) throw new ConnectionProblem(`${key} must be an https URL such as ${example} (an identity's token is only sent over https)`);
  return value.replace(/\/+$/, '');
}

function accountName(env: Env, key: string): string | undefined {
  const value = valueOf(env, key);
  if (value !== undefined && !ACCOUNT_NAME.test(value)) throw new ConnectionProblem(`${key} must be a storage account name (3 to 24 lower-case letters and digits)`);
  return value;
}

/** The identity of an identity-based connection, checked the way Azure Functions reads it. */
function credentialOf(env: Env, name: string): CredentialSetting {
  const credential = valueOf(env, `${name}__credential`);
  const clientId = valueOf(env, `${name}__clientId`);
  const resourceId = valueOf(env, `${name}__managedIdentityResourceId`);
  const tenantId = valueOf(env, `${name}__tenantId`);
  const clientSecret = valueOf(env, `${name}__clientSecret`);
  if (clientId !== undefined && resourceId !== undefined) {
    throw new ConnectionProblem(`${name}__clientId and ${name}__managedIdentityResourceId name the same identity twice; set one of them`);
  }
  if (credential !== undefined) {
    if (credential.toLowerCase() !== 'managedidentity') {
      throw new ConnectionProblem(`${name}__credential must be managedidentity (or left unset to use DefaultAzureCredential), not "${credential}"`);
    }
    if (clientSecret !== undefined) throw new ConnectionProblem(`${name}__clientSecret cannot be used with ${name}__credential=managedidentity; remove one of them`);
    return { kind: 'managedIdentity', ...(clientId !== undefined ? { clientId } : {}), ...(resourceId !== undefined ? { resourceId } : {}) };
  }
  if (clientSecret !== undefined) {
    if (tenantId === undefined) throw new ConnectionProblem(`${name}__tenantId is missing (${name}__clientSecret names a service principal: set ${name}__tenantId and ${name}__clientId too)`);
    if (clientId === undefined) throw new ConnectionProblem(`${name}__clientId is missing (${name}__clientSecret names a service principal: set ${name}__tenantId and ${name}__clientId too)`);
    return { kind: 'servicePrincipal', tenantId, clientId, clientSecret };
  }
  return {
    kind: 'default',
    ...(clientId !== undefined ? { managedIdentityClientId: clientId } : {}),
    ...(resourceId !== undefined ? { managedIdentityResourceId: resourceId } : {}),
    ...(tenantId !== undefined ? { tenantId } : {}),
  };
}

/** Whether any `<name>__...` identity property is set (so a missing endpoint is named, not the connection string). */
function identityPropertiesSet(env: Env, name: ConnectionName): string[] {
  return [...ENDPOINT_PROPERTIES[name], ...CREDENTIAL_PROPERTIES].map((p) => `${name}__${p}`).filter((key) => valueOf(env, key) !== undefined);
}

function tablesConnection(env: Env, name: 'DataverseTables' | 'FinanceTables' | 'IntegrationTables'): TablesConnection {
  const connectionString = valueOf(env, name);
  if (connectionString !== undefined) {
    if (!isStorageConnectionString(connectionString)) {
      throw new ConnectionProblem(`${name} is not a storage connection string (expected UseDevelopmentStorage=true or AccountName=...;AccountKey=...), or use ${name}__tableServiceUri / ${name}__accountName with an identity`);
    }
    return { name, auth: 'connectionString', connectionString };
  }
  const uri = httpsUrl(env, `${name}__tableServiceUri`, 'https://<account>.table.core.windows.net');
  const account = accountName(env, `${name}__accountName`);
  if (uri === undefined && account === undefined) {
    const set = identityPropertiesSet(env, name);
    throw new ConnectionProblem(
      set.length
        ? `${name}__tableServiceUri or ${name}__accountName is missing (${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set: say which account the identity reaches)`
        : `${name} is missing (a storage connection string, or ${name}__tableServiceUri or ${name}__accountName for an identity)`,
    );
  }
  return { name, auth: 'identity', tableServiceUri: uri ?? `https://${account}.table.core.windows.net`, credential: credentialOf(env, name) };
}

function hostStorageConnection(env: Env): HostStorageConnection {
  const name = 'AzureWebJobsStorage';
  const connectionString = valueOf(env, name);
  if (connectionString !== undefined) {
    if (!isStorageConnectionString(connectionString)) {
      throw new ConnectionProblem(`${name} is not a storage connection string (expected UseDevelopmentStorage=true or AccountName=...;AccountKey=...), or use ${name}__accountName with an identity`);
    }
    return { name, auth: 'connectionString', connectionString };
  }
  const account = accountName(env, `${name}__accountName`);
  const blob = httpsUrl(env, `${name}__blobServiceUri`, 'https://<account>.blob.core.windows.net');
  const queue = httpsUrl(env, `${name}__queueServiceUri`, 'https://<account>.queue.core.windows.net');
  const table = httpsUrl(env, `${name}__tableServiceUri`, 'https://<account>.table.core.windows.net');
  if (account === undefined && blob === undefined) {
    const set = identityPropertiesSet(env, name);
    throw new ConnectionProblem(
      set.length
        ? `${name}__accountName (or ${name}__blobServiceUri) is missing (${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set: say which account the host's identity reaches)`
        : `${name} is missing (a storage connection string, or ${name}__accountName for an identity)`,
    );
  }
  return {
    name,
    auth: 'identity',
    blobServiceUri: blob ?? `https://${account}.blob.core.windows.net`,
    ...(queue !== undefined || account !== undefined ? { queueServiceUri: queue ?? `https://${account}.queue.core.windows.net` } : {}),
    ...(table !== undefined || account !== undefined ? { tableServiceUri: table ?? `https://${account}.table.core.windows.net` } : {}),
    credential: credentialOf(env, name),
  };
}

function serviceBusConnection(env: Env): ServiceBusConnectionSetting {
  const name = 'ServiceBusConnection';
  const connectionString = valueOf(env, name);
  if (connectionString !== undefined) {
    if (!/Endpoint=sb:\/\//i.test(connectionString)) {
      throw new ConnectionProblem(`${name} is not a Service Bus connection string (expected Endpoint=sb://...), or use ${name}__fullyQualifiedNamespace with an identity`);
    }
    return { name, auth: 'connectionString', connectionString };
  }
  const namespace = valueOf(env, `${name}__fullyQualifiedNamespace`);
  if (namespace === undefined) {
    const set = identityPropertiesSet(env, name);
    throw new ConnectionProblem(
      set.length
        ? `${name}__fullyQualifiedNamespace is missing (${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set: say which namespace the identity reaches)`
        : `${name} is missing (a Service Bus connection string, or ${name}__fullyQualifiedNamespace for an identity)`,
    );
  }
  if (!HOST_NAME.test(namespace)) {
    throw new ConnectionProblem(`${name}__fullyQualifiedNamespace must be a host name such as <namespace>.servicebus.windows.net (no sb:// and no path), not "${namespace}"`);
  }
  return { name, auth: 'identity', fullyQualifiedNamespace: namespace, credential: credentialOf(env, name) };
}

/** Every connection resolved from the settings; throws ConnectionProblem naming the first refused one. */
function connectionsOf(env: Env): Connections {
  return {
    AzureWebJobsStorage: hostStorageConnection(env),
    ServiceBusConnection: serviceBusConnection(env),
    DataverseTables: tablesConnection(env, 'DataverseTables'),
    FinanceTables: tablesConnection(env, 'FinanceTables'),
    IntegrationTables: tablesConnection(env, 'IntegrationTables'),
  };
}

/** How a connection authenticates, in words for the health report (never a secret). */
export function describeAuth(connection: { auth: 'connectionString' | 'identity'; credential?: CredentialSetting }): string {
  if (connection.auth === 'connectionString' || connection.credential === undefined) return 'connection string';
  const c = connection.credential;
  switch (c.kind) {
    case 'managedIdentity':
      return c.clientId !== undefined || c.resourceId !== undefined ? 'managed identity (user-assigned)' : 'managed identity (system-assigned)';
    case 'servicePrincipal':
      return 'service principal (client secret)';
    default:
      return c.managedIdentityClientId !== undefined || c.managedIdentityResourceId !== undefined ? 'DefaultAzureCredential (user-assigned managed identity)' : 'DefaultAzureCredential';
  }
}

/** Where a connection points, for the health report: the account, endpoint or namespace, never a key. */
export function describeTarget(connection: TablesConnection | HostStorageConnection | ServiceBusConnectionSetting): string {
  if (connection.auth === 'identity') {
    if ('fullyQualifiedNamespace' in connection) return connection.fullyQualifiedNamespace;
    if ('tableServiceUri' in connection && connection.tableServiceUri !== undefined && !('blobServiceUri' in connection)) return connection.tableServiceUri;
    return 'blobServiceUri' in connection ? connection.blobServiceUri : '';
  }
  const cs = connection.connectionString;
  if (/UseDevelopmentStorage=true/i.test(cs)) return 'development storage';
  const part = (key: string) => new RegExp(`(?:^|;)\\s*${key}=([^;]+)`, 'i').exec(cs)?.[1]?.trim();
  return part('TableEndpoint') ?? part('Endpoint') ?? (part('AccountName') ? `account ${part('AccountName')}` : 'connection string');
}

const ncrontab = z
  .string({ error: 'ImportFromStagingSchedule is missing' })
  .trim()
  .refine((s) => s.split(/\s+/).length === 6, {
    message: 'ImportFromStagingSchedule must be a 6-field NCRONTAB expression such as "0 */1 * * * *"',
  })
  .refine(
    (s) => {
      try {
        new Cron(s, { paused: true });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'ImportFromStagingSchedule is not a valid NCRONTAB expression' },
  );

/** The repair sweep's schedule when the ReconcileSchedule setting is not set (contract.md: every 15 minutes). */
export const DEFAULT_RECONCILE_SCHEDULE = '0 */15 * * * *';

/** An optional 6-field NCRONTAB setting, checked like ImportFromStagingSchedule (undefined when not set). */
function optionalNcrontab(name: string, example: string) {
  return z
    .string()
    .trim()
    .refine((s) => s.split(/\s+/).length === 6, { message: `${name} must be a 6-field NCRONTAB expression such as "${example}"` })
    .refine(
      (s) => {
        try {
          new Cron(s, { paused: true });
          return true;
        } catch {
          return false;
        }
      },
      { message: `${name} is not a valid NCRONTAB expression` },
    )
    .optional();
}

export const settingsSchema = z
  .object({
    // The connections' own values (connection strings) when set; `connections` says what each resolved to.
    AzureWebJobsStorage: z.string().trim().optional(),
    ServiceBusConnection: z.string().trim().optional(),
    ServiceBusConnection__fullyQualifiedNamespace: z.string().trim().optional(),
    DataverseTables: z.string().trim().optional(),
    FinanceTables: z.string().trim().optional(),
    IntegrationTables: z.string().trim().optional(),
    ImportFromStagingSchedule: ncrontab,
    /** The repair sweep's schedule (optional; DEFAULT_RECONCILE_SCHEDULE when not set). */
    ReconcileSchedule: optionalNcrontab('ReconcileSchedule', DEFAULT_RECONCILE_SCHEDULE),
    AccountingCurrency: z
      .string({ error: 'AccountingCurrency is missing' })
      .trim()
      .regex(/^[A-Z]{3}$/, { message: 'AccountingCurrency must be an ISO currency code such as USD' }),
    /**
     * Optional: the pauses (ms, comma-separated) before a queue message that failed on a passing
     * fault is retried inside its delivery; "none" for no retry in the delivery. Default
     * 500,1000,2000,4000,8000,15000 (about 30 s a delivery).
     */
    MessageRetryPausesMs: z
      .string()
      .trim()
      .regex(/^(none|\d{1,6}(\s*,\s*\d{1,6}){0,19})$/, { message: 'MessageRetryPausesMs must be up to 20 pauses in milliseconds such as "500,1000,2000", or "none"' })
      .optional(),
    /** Optional: traces and metrics go to Application Insights (OpenTelemetry, shared/telemetry/). */
    APPLICATIONINSIGHTS_CONNECTION_STRING: z
      .string()
      .trim()
      .refine((s) => s === '' || /(InstrumentationKey|IngestionEndpoint)=/i.test(s), {
        message: 'APPLICATIONINSIGHTS_CONNECTION_STRING is not an Application Insights connection string (expected InstrumentationKey=...;IngestionEndpoint=...)',
      })
      .optional(),
    /** Optional, local: "true" prints every span and, once a minute, the metrics on the console. */
    TelemetryConsole: z
      .string()
      .trim()
      .regex(/^(true|false)$/i, { message: 'TelemetryConsole must be true or false' })
      .optional(),
  });

/** The settings as parsed, and every connection resolved (a connection string or an identity). */
export type Settings = z.infer<typeof settingsSchema> & { connections: Connections };

/** The pauses of MessageRetryPausesMs (undefined: the adapter's default). */
export function retryPausesOf(settings: Settings): number[] | undefined {
  const value = settings.MessageRetryPausesMs;
  if (value === undefined) return undefined;
  return value === 'none' ? [] : value.split(',').map((p) => Number(p.trim()));
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parse the settings; throws ConfigError whose message is one line naming the first bad setting. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  let connections: Connections;
  try {
    connections = connectionsOf(env);
  } catch (error) {
    if (error instanceof ConnectionProblem) throw new ConfigError(`Configuration error: ${error.message}`);
    throw error;
  }
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    const first = result.error.issues[0];
    const name = first?.path[0] ? String(first.path[0]) : 'settings';
    const message = first?.message ?? 'invalid';
    throw new ConfigError(`Configuration error: ${message.startsWith(name) ? message : `${name}: ${message}`}`);
  }
  return { ...result.data, connections };
}

let cached: Settings | undefined;

/** The process's settings, parsed on first use and then kept. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  cached ??= parseSettings(env);
  return cached;
}
