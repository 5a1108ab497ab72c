/**
 * Identity-based connections: the token credential each connection's settings ask for, built once
 * per distinct identity (so the tables and the broker share one token cache), and the endpoint
 * plus credential the Table and Service Bus adapters build their clients from. A connection given
 * as a connection string stays a string. Nothing here calls the network: a credential asks for a
 * token only when a client first needs one.
 *
 * How the settings map to credentials, as Azure Functions reads them:
 * - `<name>__credential` = managedidentity: ManagedIdentityCredential (the user-assigned identity of
 *   `<name>__clientId` or `<name>__managedIdentityResourceId`, else the system-assigned one);
 * - `<name>__tenantId`, `__clientId`, `__clientSecret`: ClientSecretCredential (a service principal);
 * - otherwise DefaultAzureCredential (a developer's Azure CLI / VS Code sign-in locally, the managed
 *   identity in Azure), with `__clientId` as its managed identity client id when given.
 */
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { CredentialSetting, ServiceBusConnectionSetting, TablesConnection } from '../config';

export type { TokenCredential };

const credentials = new Map<string, TokenCredential>();

function build(setting: CredentialSetting): TokenCredential {
  switch (setting.kind) {
    case 'managedIdentity':
      if (setting.resourceId !== undefined) return new ManagedIdentityCredential({ resourceId: setting.resourceId });
      return setting.clientId !== undefined ? new ManagedIdentityCredential({ clientId: setting.clientId }) : new ManagedIdentityCredential();
    case 'servicePrincipal':
      return new ClientSecretCredential(setting.tenantId, setting.clientId, setting.clientSecret);
    default:
      return new DefaultAzureCredential({
        ...(setting.managedIdentityResourceId !== undefined
          ? { managedIdentityResourceId: setting.managedIdentityResourceId }
          : setting.managedIdentityClientId !== undefined
            ? { managedIdentityClientId: setting.managedIdentityClientId }
            : {}),
        ...(setting.tenantId !== undefined ? { tenantId: setting.tenantId } : {}),
      });
  }
}

/** The credential of one identity, shared by every connection that names the same identity. */
export function credentialFor(setting: CredentialSetting): TokenCredential {
  const key = JSON.stringify(setting);
  let credential = credentials.get(key);
  if (!credential) credentials.set(key, (credential = build(setting)));
  return credential;
}

/** What the storage kit builds a Table client from: the connection string, or the service URI and a credential. */
export function tableAccess(connection: TablesConnection): string | { tableServiceUri: string; credential: TokenCredential } {
  return connection.auth === 'connectionString' ? connection.connectionString : { tableServiceUri: connection.tableServiceUri, credential: credentialFor(connection.credential) };
}

/** What the Service Bus adapter builds its client from: the connection string, or the namespace and a credential. */
export function serviceBusAccess(connection: ServiceBusConnectionSetting): string | { fullyQualifiedNamespace: string; credential: TokenCredential } {
  return connection.auth === 'connectionString'
    ? connection.connectionString
    : { fullyQualifiedNamespace: connection.fullyQualifiedNamespace, credential: credentialFor(connection.credential) };
}
