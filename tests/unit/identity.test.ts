/**
 * Identity-based connections build credential-based clients, and nothing calls the network while
 * they are built: the credential each connection's settings ask for (as Azure Functions maps them),
 * Table clients with a bearer-token policy on the identity's endpoint, a Service Bus client on the
 * namespace with that credential, and the composition root describing each connection's auth as
 * the health details report it. (The identities are never asked for a token here.)
 */
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCompositionRoot } from '../../shared/compositionRoot';
import { parseSettings, type TablesConnection } from '../../shared/config';
import { credentialFor, serviceBusAccess, tableAccess } from '../../shared/identity/credentials';
import { createServiceBusClient } from '../../shared/servicebus/client';
import { TableStore } from '../../shared/storage/tableStore';
import { z } from 'zod';

const CLIENT_ID = '6f1c3a52-4a9e-4bb6-9d57-0c5b1a3e2f10';
const identitySettings = {
  ImportFromStagingSchedule: '0 */1 * * * *',
  AccountingCurrency: 'USD',
  AzureWebJobsStorage__accountName: 'stintegration01',
  AzureWebJobsStorage__credential: 'managedidentity',
  AzureWebJobsStorage__clientId: CLIENT_ID,
  ServiceBusConnection__fullyQualifiedNamespace: 'sb-integration.servicebus.windows.net',
  ServiceBusConnection__credential: 'managedidentity',
  ServiceBusConnection__clientId: CLIENT_ID,
  DataverseTables__accountName: 'stintegration01',
  DataverseTables__credential: 'managedidentity',
  DataverseTables__clientId: CLIENT_ID,
  FinanceTables__tableServiceUri: 'https://stfinance01.table.core.windows.net',
  FinanceTables__credential: 'managedidentity',
  FinanceTables__clientId: CLIENT_ID,
  IntegrationTables__accountName: 'stintegration01',
};

/** The pipeline policies of a store's Table client (what authenticates its requests). */
function policiesOf(store: object): string[] {
  const client = (store as unknown as { client: { pipeline: { getOrderedPolicies(): { name: string }[] } } }).client;
  return client.pipeline.getOrderedPolicies().map((p) => p.name);
}

/** The credential inside a Service Bus client (the SDK keeps it on its connection context). */
function credentialOfServiceBus(client: unknown): unknown {
  return (client as { _connectionContext: { tokenCredential: unknown } })._connectionContext.tokenCredential;
}

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe('credentials, as Azure Functions maps the settings', () => {
  it('gives a user-assigned managed identity for credential=managedidentity with a client id, the system-assigned one without', () => {
    expect(credentialFor({ kind: 'managedIdentity', clientId: CLIENT_ID })).toBeInstanceOf(ManagedIdentityCredential);
    expect(credentialFor({ kind: 'managedIdentity' })).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('gives DefaultAzureCredential without credential, and a client secret credential for a service principal', () => {
    expect(credentialFor({ kind: 'default' })).toBeInstanceOf(DefaultAzureCredential);
    expect(credentialFor({ kind: 'default', managedIdentityClientId: CLIENT_ID })).toBeInstanceOf(DefaultAzureCredential);
    expect(credentialFor({ kind: 'servicePrincipal', tenantId: 'contoso.onmicrosoft.com', clientId: CLIENT_ID, clientSecret: 'x' })).toBeInstanceOf(ClientSecretCredential);
  });

  it('builds one credential per identity, shared by the connections that name it (one token cache)', () => {
    expect(credentialFor({ kind: 'managedIdentity', clientId: CLIENT_ID })).toBe(credentialFor({ kind: 'managedIdentity', clientId: CLIENT_ID }));
    expect(credentialFor({ kind: 'managedIdentity', clientId: CLIENT_ID })).not.toBe(credentialFor({ kind: 'managedIdentity' }));
  });
});

describe('clients of identity-based connections', () => {
  const settings = parseSettings(identitySettings);

  it('builds Table clients on the identity endpoint that authenticate with a bearer token, not a key', () => {
    const access = tableAccess(settings.connections.DataverseTables);
    expect(typeof access).toBe('object');
    const store = new TableStore(access, 'dvInvoices', z.object({ invoiceid: z.string() }), (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoiceid }));
    expect(store.url).toBe('https://stintegration01.table.core.windows.net/dvInvoices');
    expect(policiesOf(store)).toContain('bearerTokenAuthenticationPolicy');
    expect(policiesOf(store)).not.toContain('tablesNamedKeyCredentialPolicy');
    // The same store from a connection string signs with the account key instead.
    const keyed = new TableStore('DefaultEndpointsProtocol=https;AccountName=stintegration01;AccountKey=a2V5;EndpointSuffix=core.windows.net', 'dvInvoices', z.object({ invoiceid: z.string() }), (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoiceid }));
    expect(policiesOf(keyed)).not.toContain('bearerTokenAuthenticationPolicy');
  });

  it('builds the Service Bus client on the namespace with the managed identity', async () => {
    const client = createServiceBusClient(serviceBusAccess(settings.connections.ServiceBusConnection));
    closers.push(() => client.close());
    expect(client.fullyQualifiedNamespace).toBe('sb-integration.servicebus.windows.net');
    expect(credentialOfServiceBus(client)).toBeInstanceOf(ManagedIdentityCredential);
    expect(credentialOfServiceBus(client)).toBe(credentialFor({ kind: 'managedIdentity', clientId: CLIENT_ID }));
  });

  it('builds the whole composition root from identity settings alone, and says how each connection authenticates', async () => {
    const root = buildCompositionRoot(settings);
    closers.push(() => root.close());
    expect(root.connections).toEqual([
      { name: 'AzureWebJobsStorage', auth: 'managed identity (user-assigned)', target: 'https://stintegration01.blob.core.windows.net' },
      { name: 'ServiceBusConnection', auth: 'managed identity (user-assigned)', target: 'sb-integration.servicebus.windows.net' },
      { name: 'DataverseTables', auth: 'managed identity (user-assigned)', target: 'https://stintegration01.table.core.windows.net' },
      { name: 'FinanceTables', auth: 'managed identity (user-assigned)', target: 'https://stfinance01.table.core.windows.net' },
      { name: 'IntegrationTables', auth: 'DefaultAzureCredential', target: 'https://stintegration01.table.core.windows.net' },
    ]);
    expect(JSON.stringify(root.connections)).not.toMatch(/AccountKey|SharedAccessKey/);
  });

  it('describes connection strings without their keys', () => {
    const keyed: TablesConnection = { name: 'DataverseTables', auth: 'connectionString', connectionString: 'DefaultEndpointsProtocol=https;AccountName=stkeyed;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net' };
    const root = buildCompositionRoot({ ...settings, connections: { ...settings.connections, DataverseTables: keyed } });
    closers.push(() => root.close());
    const dataverse = root.connections.find((c) => c.name === 'DataverseTables');
    expect(dataverse).toEqual({ name: 'DataverseTables', auth: 'connection string', target: 'account stkeyed' });
    expect(JSON.stringify(root.connections)).not.toContain('c2VjcmV0');
  });
});
