import { describe, expect, it } from 'vitest';
import { ConfigError, describeAuth, describeTarget, parseSettings } from '../../shared/config';

const good = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true',
  DataverseTables: 'UseDevelopmentStorage=true',
  FinanceTables: 'UseDevelopmentStorage=true',
  IntegrationTables: 'UseDevelopmentStorage=true',
  ImportFromStagingSchedule: '0 */1 * * * *',
  AccountingCurrency: 'USD',
};

function errorFor(env: Record<string, string | undefined>): string {
  try {
    parseSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('settings', () => {
  it('parses the local defaults', () => {
    const s = parseSettings(good);
    expect(s.AccountingCurrency).toBe('USD');
    expect(s.ImportFromStagingSchedule).toBe('0 */1 * * * *');
  });

  it.each([
    ['DataverseTables', undefined, /^Configuration error: DataverseTables is missing \(a storage connection string, or DataverseTables__tableServiceUri or DataverseTables__accountName for an identity\)$/],
    ['FinanceTables', 'nonsense', /^Configuration error: FinanceTables is not a storage connection string/],
    ['ServiceBusConnection', undefined, /^Configuration error: ServiceBusConnection is missing/],
    ['ServiceBusConnection', 'Server=sql', /^Configuration error: ServiceBusConnection is not a Service Bus connection string/],
    ['ImportFromStagingSchedule', '*/5 * * * *', /^Configuration error: ImportFromStagingSchedule must be a 6-field NCRONTAB/],
    ['ImportFromStagingSchedule', '0 99 * * * *', /^Configuration error: ImportFromStagingSchedule is not a valid NCRONTAB/],
    ['AccountingCurrency', 'usd', /^Configuration error: AccountingCurrency must be an ISO currency code/],
  ])('a bad %s (%s) gives one line naming it', (name, value, pattern) => {
    const message = errorFor({ ...good, [name]: value });
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  });

  it('accepts a managed-identity namespace instead of a connection string', () => {
    const { ServiceBusConnection: _omit, ...rest } = good;
    expect(parseSettings({ ...rest, ServiceBusConnection__fullyQualifiedNamespace: 'x.servicebus.windows.net' }).ServiceBusConnection__fullyQualifiedNamespace).toBe(
      'x.servicebus.windows.net',
    );
  });
});

/** The good settings with every connection string taken out. */
function withoutConnections(): Record<string, string> {
  const { AzureWebJobsStorage: _a, ServiceBusConnection: _b, DataverseTables: _c, FinanceTables: _d, IntegrationTables: _e, ...rest } = good;
  return rest;
}

/** What Microsoft's Flex Consumption templates set: identity-based connections only, a user-assigned identity. */
const CLIENT_ID = '6f1c3a52-4a9e-4bb6-9d57-0c5b1a3e2f10';
const flex: Record<string, string> = {
  ...withoutConnections(),
  AzureWebJobsStorage__accountName: 'stintegration01',
  AzureWebJobsStorage__credential: 'managedidentity',
  AzureWebJobsStorage__clientId: CLIENT_ID,
  ServiceBusConnection__fullyQualifiedNamespace: 'sb-integration.servicebus.windows.net',
  ServiceBusConnection__credential: 'managedidentity',
  ServiceBusConnection__clientId: CLIENT_ID,
  DataverseTables__tableServiceUri: 'https://stintegration01.table.core.windows.net',
  DataverseTables__credential: 'managedidentity',
  DataverseTables__clientId: CLIENT_ID,
  FinanceTables__accountName: 'stfinance01',
  FinanceTables__credential: 'managedidentity',
  FinanceTables__clientId: CLIENT_ID,
  IntegrationTables__tableServiceUri: 'https://stintegration01.table.core.windows.net/',
};

describe('identity-based connections (Azure Functions\' <name>__... settings)', () => {
  it('accepts the connections as Flex Consumption templates set them, and resolves each', () => {
    const { connections } = parseSettings(flex);
    expect(connections.AzureWebJobsStorage).toEqual({
      name: 'AzureWebJobsStorage',
      auth: 'identity',
      blobServiceUri: 'https://stintegration01.blob.core.windows.net',
      queueServiceUri: 'https://stintegration01.queue.core.windows.net',
      tableServiceUri: 'https://stintegration01.table.core.windows.net',
      credential: { kind: 'managedIdentity', clientId: CLIENT_ID },
    });
    expect(connections.ServiceBusConnection).toEqual({
      name: 'ServiceBusConnection',
      auth: 'identity',
      fullyQualifiedNamespace: 'sb-integration.servicebus.windows.net',
      credential: { kind: 'managedIdentity', clientId: CLIENT_ID },
    });
    expect(connections.DataverseTables).toMatchObject({ auth: 'identity', tableServiceUri: 'https://stintegration01.table.core.windows.net', credential: { kind: 'managedIdentity', clientId: CLIENT_ID } });
    // __accountName becomes the public cloud's table endpoint.
    expect(connections.FinanceTables).toMatchObject({ auth: 'identity', tableServiceUri: 'https://stfinance01.table.core.windows.net' });
    // No __credential: DefaultAzureCredential (a developer's sign-in locally, the managed identity in Azure); the trailing slash goes.
    expect(connections.IntegrationTables).toEqual({ name: 'IntegrationTables', auth: 'identity', tableServiceUri: 'https://stintegration01.table.core.windows.net', credential: { kind: 'default' } });
    expect(describeAuth(connections.ServiceBusConnection)).toBe('managed identity (user-assigned)');
    expect(describeAuth(connections.IntegrationTables)).toBe('DefaultAzureCredential');
    expect(describeTarget(connections.FinanceTables)).toBe('https://stfinance01.table.core.windows.net');
  });

  it.each([
    ['a system-assigned identity', { DataverseTables__credential: 'managedidentity', DataverseTables__clientId: undefined }, { kind: 'managedIdentity' }],
    ['an identity by resource id', { DataverseTables__clientId: undefined, DataverseTables__managedIdentityResourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-app' }, { kind: 'managedIdentity', resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-app' }],
    ['DefaultAzureCredential with a client id', { DataverseTables__credential: undefined }, { kind: 'default', managedIdentityClientId: CLIENT_ID }],
    ['a service principal (local development)', { DataverseTables__credential: undefined, DataverseTables__tenantId: 'contoso.onmicrosoft.com', DataverseTables__clientSecret: 'not-logged' }, { kind: 'servicePrincipal', tenantId: 'contoso.onmicrosoft.com', clientId: CLIENT_ID, clientSecret: 'not-logged' }],
    ['credential written in capitals', { DataverseTables__credential: 'ManagedIdentity' }, { kind: 'managedIdentity', clientId: CLIENT_ID }],
  ])('accepts %s', (_what, change, credential) => {
    const env: Record<string, string | undefined> = { ...flex, ...change };
    expect(parseSettings(env).connections.DataverseTables).toMatchObject({ auth: 'identity', credential });
  });

  it('prefers the connection string when both forms are set, as Azure Functions does', () => {
    expect(parseSettings({ ...flex, DataverseTables: 'UseDevelopmentStorage=true' }).connections.DataverseTables).toEqual({ name: 'DataverseTables', auth: 'connectionString', connectionString: 'UseDevelopmentStorage=true' });
  });

  it('keeps connection strings as they were', () => {
    const { connections } = parseSettings(good);
    for (const name of ['AzureWebJobsStorage', 'ServiceBusConnection', 'DataverseTables', 'FinanceTables', 'IntegrationTables'] as const) {
      expect(connections[name].auth).toBe('connectionString');
      expect(describeAuth(connections[name])).toBe('connection string');
    }
    expect(describeTarget(connections.ServiceBusConnection)).toBe('sb://127.0.0.1:5672');
    expect(describeTarget(connections.DataverseTables)).toBe('development storage');
  });

  it.each([
    ['AzureWebJobsStorage', { AzureWebJobsStorage__accountName: undefined }, /^Configuration error: AzureWebJobsStorage__accountName \(or AzureWebJobsStorage__blobServiceUri\) is missing \(AzureWebJobsStorage__credential, AzureWebJobsStorage__clientId are set/],
    ['AzureWebJobsStorage', { AzureWebJobsStorage__accountName: undefined, AzureWebJobsStorage__credential: undefined, AzureWebJobsStorage__clientId: undefined }, /^Configuration error: AzureWebJobsStorage is missing \(a storage connection string, or AzureWebJobsStorage__accountName for an identity\)$/],
    ['ServiceBusConnection', { ServiceBusConnection__fullyQualifiedNamespace: undefined }, /^Configuration error: ServiceBusConnection__fullyQualifiedNamespace is missing \(ServiceBusConnection__credential, ServiceBusConnection__clientId are set/],
    ['ServiceBusConnection', { ServiceBusConnection__fullyQualifiedNamespace: 'sb://sb-integration.servicebus.windows.net/' }, /^Configuration error: ServiceBusConnection__fullyQualifiedNamespace must be a host name such as <namespace>.servicebus.windows.net/],
    ['DataverseTables', { DataverseTables__tableServiceUri: undefined }, /^Configuration error: DataverseTables__tableServiceUri or DataverseTables__accountName is missing \(DataverseTables__credential, DataverseTables__clientId are set/],
    ['DataverseTables', { DataverseTables__tableServiceUri: 'http://stintegration01.table.core.windows.net' }, /^Configuration error: DataverseTables__tableServiceUri must be an https URL/],
    ['FinanceTables', { FinanceTables__accountName: 'St-Finance' }, /^Configuration error: FinanceTables__accountName must be a storage account name/],
    ['DataverseTables', { DataverseTables__credential: 'workloadidentity' }, /^Configuration error: DataverseTables__credential must be managedidentity \(or left unset to use DefaultAzureCredential\), not "workloadidentity"$/],
    ['DataverseTables', { DataverseTables__managedIdentityResourceId: '/subscriptions/s/x' }, /^Configuration error: DataverseTables__clientId and DataverseTables__managedIdentityResourceId name the same identity twice/],
    ['DataverseTables', { DataverseTables__credential: undefined, DataverseTables__clientSecret: 'x' }, /^Configuration error: DataverseTables__tenantId is missing \(DataverseTables__clientSecret names a service principal/],
    ['DataverseTables', { DataverseTables__credential: undefined, DataverseTables__clientId: undefined, DataverseTables__tenantId: 't', DataverseTables__clientSecret: 'x' }, /^Configuration error: DataverseTables__clientId is missing/],
    ['DataverseTables', { DataverseTables__clientSecret: 'x' }, /^Configuration error: DataverseTables__clientSecret cannot be used with DataverseTables__credential=managedidentity/],
    ['IntegrationTables', { IntegrationTables__tableServiceUri: undefined }, /^Configuration error: IntegrationTables is missing \(a storage connection string, or IntegrationTables__tableServiceUri or IntegrationTables__accountName for an identity\)$/],
  ])('refuses a bad %s combination, naming the missing piece in one line', (_name, change, pattern) => {
    const message = errorFor({ ...flex, ...change });
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('not-logged');
  });

  it('refuses a malformed Application Insights connection string and a TelemetryConsole that is not a boolean', () => {
    expect(errorFor({ ...good, APPLICATIONINSIGHTS_CONNECTION_STRING: 'https://example' })).toMatch(/^Configuration error: APPLICATIONINSIGHTS_CONNECTION_STRING is not an Application Insights connection string/);
    expect(errorFor({ ...good, TelemetryConsole: 'yes' })).toMatch(/^Configuration error: TelemetryConsole must be true or false$/);
    expect(parseSettings({ ...good, APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/' }).APPLICATIONINSIGHTS_CONNECTION_STRING).toContain('InstrumentationKey=');
  });
});
