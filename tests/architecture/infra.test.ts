/**
 * infra/ and azure.yaml against the code (the Bicep compiler cannot run on these machines, so the
 * templates are read as text, the way they are written: plain resources, one setting a line).
 * It fails when they drift:
 * - the queues: Bicep loads the local broker's own definitions (tools/servicebus/config.json) and
 *   maps every property the broker reads; those definitions are the contract's queues with the
 *   contract's settings, and the broker reads them as such;
 * - the app settings: every name is one the code reads (shared/config.ts), they parse as the app's
 *   settings with every connection identity-based, and no setting of the code is forgotten;
 * - the rest of the promises: Flex Consumption on Node 22, a user-assigned identity, shared
 *   keys off, Service Bus Standard without keys, exactly the four data roles, Application Insights
 *   on Log Analytics, and a deployment of the package `npm run package` builds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTION_NAMES, CREDENTIAL_PROPERTIES, ENDPOINT_PROPERTIES, parseSettings, settingsSchema } from '../../shared/config';
import { Queues } from '../../shared/messages';
import { loadEmulatorConfig } from '../../tools/servicebus/config';

const ROOT = path.resolve(__dirname, '../..');
const INFRA = path.join(ROOT, 'infra');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const main = read('infra/main.bicep');
const resources = read('infra/resources.bicep');
const BROKER_CONFIG = path.join(ROOT, 'tools', 'servicebus', 'config.json');

/** The body of `var <name> = { ... }` (a flat object, one `key: value` a line). */
function objectVar(bicep: string, name: string): Map<string, string> {
  const start = bicep.indexOf(`var ${name} = {`);
  expect(start, `var ${name} in the template`).toBeGreaterThanOrEqual(0);
  const end = bicep.indexOf('\n}', start);
  const body = bicep.slice(bicep.indexOf('{', start) + 1, end);
  const entries = new Map<string, string>();
  for (const line of body.split('\n')) {
    const m = /^\s*'?([A-Za-z0-9_.]+)'?\s*:\s*(.+?)\s*$/.exec(line);
    if (m) entries.set(m[1]!, m[2]!);
  }
  return entries;
}

/** `param <name> <type> = <default>` of a template. */
function paramDefault(bicep: string, name: string): string | undefined {
  const m = new RegExp(`^param ${name} \\w+ = '([^']*)'`, 'm').exec(bicep);
  return m?.[1];
}

/** A value for a setting the way Azure would hold it: literals as written, expressions by their kind. */
function valueOf(key: string, expression: string): string {
  const literal = /^'([^'$]*)'$/.exec(expression);
  if (literal) return literal[1]!;
  const param = /^([A-Za-z]\w*)$/.exec(expression)?.[1];
  if (param !== undefined) {
    const fallback = paramDefault(main, param);
    expect(fallback, `${key}: param ${param} has a default in main.bicep`).toBeDefined();
    return fallback!;
  }
  if (key.endsWith('__accountName')) return 'stintegration01';
  if (key.endsWith('__clientId')) return '6f1c3a52-4a9e-4bb6-9d57-0c5b1a3e2f10';
  if (key.endsWith('__tableServiceUri')) return expression.replace(/^'|'$/g, '').replace(/\$\{[^}]+\}/g, (x) => (x.includes('Suffix') ? 'core.windows.net' : 'stintegration01'));
  if (key.endsWith('__fullyQualifiedNamespace')) return expression.replace(/^'|'$/g, '').replace(/\$\{[^}]+\}/g, 'sb-integration');
  if (key === 'APPLICATIONINSIGHTS_CONNECTION_STRING') return 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/';
  throw new Error(`no sample value for ${key}: ${expression}`);
}

describe('infra/: the queues are the local broker\'s', () => {
  it('loads the queue definitions from the file the local broker reads', () => {
    const m = /loadJsonContent\('([^']+)',\s*'([^']+)'\)/.exec(resources);
    expect(m, 'loadJsonContent of the queue definitions').not.toBeNull();
    expect(path.resolve(INFRA, m![1]!)).toBe(BROKER_CONFIG);
    expect(m![2]).toBe('$.UserConfig.Namespaces[0].Queues');
  });

  it('maps every property of a queue definition onto the Service Bus queue resource', () => {
    const loop = resources.slice(resources.indexOf("resource queue 'Microsoft.ServiceBus/namespaces/queues"));
    expect(loop).toMatch(/for q in queues:/);
    expect(loop).toMatch(/name: q\.Name/);
    const mapped: Record<string, string> = {
      lockDuration: 'LockDuration',
      maxDeliveryCount: 'MaxDeliveryCount',
      requiresDuplicateDetection: 'RequiresDuplicateDetection',
      duplicateDetectionHistoryTimeWindow: 'DuplicateDetectionHistoryTimeWindow',
      defaultMessageTimeToLive: 'DefaultMessageTimeToLive',
      deadLetteringOnMessageExpiration: 'DeadLetteringOnMessageExpiration',
      requiresSession: 'RequiresSession',
    };
    for (const [arm, emulator] of Object.entries(mapped)) expect(loop, arm).toMatch(new RegExp(`\\n\\s+${arm}: q\\.Properties\\.${emulator}\\n`));
    // Every property the definitions set is either mapped or an auto-forward left empty (not deployed).
    const config = JSON.parse(readFileSync(BROKER_CONFIG, 'utf8')) as { UserConfig: { Namespaces: { Queues: { Properties: Record<string, unknown> }[] }[] } };
    for (const q of config.UserConfig.Namespaces[0]!.Queues) {
      for (const [property, value] of Object.entries(q.Properties)) {
        if (Object.values(mapped).includes(property)) continue;
        expect([property, value]).toEqual([property, '']);
      }
    }
  });

  it("holds the contract's five queues with the contract's settings, read as such by the local broker", () => {
    const definitions = loadEmulatorConfig(BROKER_CONFIG);
    expect(definitions.map((q) => q.name).sort()).toEqual(Object.values(Queues).sort());
    for (const q of definitions) {
      expect(q, q.name).toMatchObject({
        lockDurationMs: 60_000,
        maxDeliveryCount: 10,
        requiresDuplicateDetection: true,
        duplicateDetectionHistoryTimeWindowMs: 10 * 60_000,
        defaultMessageTimeToLiveMs: 14 * 24 * 3_600_000,
        deadLetteringOnMessageExpiration: true,
      });
    }
  });

  it('creates a Standard namespace (duplicate detection) without shared access keys', () => {
    const ns = resources.slice(resources.indexOf("resource serviceBus 'Microsoft.ServiceBus/namespaces@"), resources.indexOf("resource queue '"));
    expect(ns).toMatch(/name: 'Standard'/);
    expect(ns).toMatch(/disableLocalAuth: true/);
  });
});

describe('infra/: the app settings are the ones the code reads', () => {
  const settings = objectVar(resources, 'appSettings');

  it('are the properties of the function app\'s appsettings', () => {
    expect(resources).toMatch(/resource functionAppSettings 'Microsoft\.Web\/sites\/config@[^']+' = \{\s+parent: functionApp\s+name: 'appsettings'\s+properties: appSettings/);
  });

  it('name only settings the code reads: its schema, or a connection\'s identity-based properties', () => {
    const schema = new Set(Object.keys(settingsSchema.shape));
    const identity = new Set(CONNECTION_NAMES.flatMap((name) => [...ENDPOINT_PROPERTIES[name], ...CREDENTIAL_PROPERTIES].map((p) => `${name}__${p}`)));
    expect([...settings.keys()].filter((key) => !schema.has(key) && !identity.has(key))).toEqual([]);
  });

  it('parse as the app\'s settings, with every connection identity-based through the user-assigned identity', () => {
    const env = Object.fromEntries([...settings].map(([key, expression]) => [key, valueOf(key, expression)]));
    const parsed = parseSettings(env);
    for (const name of CONNECTION_NAMES) {
      expect(parsed.connections[name], name).toMatchObject({ auth: 'identity', credential: { kind: 'managedIdentity', clientId: expect.any(String) } });
      expect(settings.get(`${name}__clientId`), `${name}__clientId`).toBe('identity.properties.clientId');
    }
    expect(parsed.connections.DataverseTables).toMatchObject({ tableServiceUri: 'https://stintegration01.table.core.windows.net' });
    expect(parsed.connections.ServiceBusConnection).toMatchObject({ fullyQualifiedNamespace: 'sb-integration.servicebus.windows.net' });
    expect(parsed.AccountingCurrency).toBe('USD');
    expect(parsed.ImportFromStagingSchedule).toBe('0 */1 * * * *');
  });

  it('forget no setting of the code: each is set, given in its identity-based form, or optional by decision', () => {
    // Optional settings left at their defaults in Azure (README, "Settings").
    const notInAzure = new Set(['MessageRetryPausesMs', 'TelemetryConsole']);
    const forgotten = Object.keys(settingsSchema.shape).filter((key) => {
      if (settings.has(key) || notInAzure.has(key)) return false;
      const connection = CONNECTION_NAMES.find((name) => key === name || key.startsWith(`${name}__`));
      return connection === undefined || ![...settings.keys()].some((k) => k.startsWith(`${connection}__`));
    });
    expect(forgotten).toEqual([]);
  });

  it('hold no key or connection string', () => {
    expect([...settings.values()].filter((v) => /AccountKey|SharedAccessKey|listKeys|connectionString\(/i.test(v))).toEqual([]);
    expect(resources).not.toMatch(/listKeys\(/);
  });

  it('agree with the local settings sample: every setting it gives is one the code reads', () => {
    const sample = JSON.parse(read('local.settings.sample.json')) as { Values: Record<string, string> };
    const schema = new Set(Object.keys(settingsSchema.shape));
    expect(Object.keys(sample.Values).filter((k) => !schema.has(k) && k !== 'FUNCTIONS_WORKER_RUNTIME')).toEqual([]);
    expect(() => parseSettings(sample.Values)).not.toThrow();
  });
});

describe('infra/: what runs where', () => {
  it('runs a Flex Consumption app on Node 22 with a user-assigned identity, as package.json says', () => {
    expect(resources).toMatch(/name: 'FC1'\s+tier: 'FlexConsumption'/);
    expect(resources).toMatch(/runtime: \{\s+name: 'node'\s+version: '22'\s+\}/);
    expect(resources).toMatch(/type: 'UserAssigned'/);
    expect(resources).toMatch(/authentication: \{\s+type: 'UserAssignedIdentity'/);
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=22');
  });

  it('turns shared-key access off on every storage account', () => {
    const accounts = resources.split("'Microsoft.Storage/storageAccounts@").length - 1;
    expect(accounts).toBe(3);
    expect(resources.match(/allowSharedKeyAccess: false/g)).toHaveLength(3);
  });

  it('assigns exactly the four data roles: Storage Blob Data Owner, Storage Table Data Contributor, Service Bus Data Sender and Receiver', () => {
    const roles = new Set([...resources.matchAll(/'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/g)].map((m) => m[1]));
    expect([...roles].sort()).toEqual(
      [
        'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', // Storage Blob Data Owner
        '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', // Storage Table Data Contributor
        '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39', // Azure Service Bus Data Sender
        '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0', // Azure Service Bus Data Receiver
      ].sort(),
    );
    const assignments = [...resources.matchAll(/roleDefinitionId: subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', (\w+)\)/g)].map((m) => m[1]);
    expect(new Set(assignments)).toEqual(new Set(['storageBlobDataOwner', 'storageTableDataContributor', 'serviceBusDataSender', 'serviceBusDataReceiver']));
    expect(resources.match(/'Microsoft\.Authorization\/roleAssignments@/g)).toHaveLength(assignments.length);
  });

  it('sends telemetry to Application Insights on a Log Analytics workspace', () => {
    expect(resources).toMatch(/'Microsoft\.OperationalInsights\/workspaces@/);
    expect(resources).toMatch(/WorkspaceResourceId: logAnalytics\.id/);
    expect(objectVar(resources, 'appSettings').get('APPLICATIONINSIGHTS_CONNECTION_STRING')).toBe('applicationInsights.properties.ConnectionString');
    expect(JSON.parse(read('host.json')).telemetryMode).toBe('OpenTelemetry');
  });

  it('has parameters for names and region, outputs for the endpoints, and azd parameters for both', () => {
    for (const p of ['environmentName', 'location', 'functionAppName', 'storageAccountName', 'serviceBusNamespaceName', 'separateSideStorage', 'accountingCurrency']) expect(main).toMatch(new RegExp(`^param ${p} `, 'm'));
    for (const o of ['FUNCTION_APP_URL', 'SERVICE_BUS_NAMESPACE', 'STORAGE_TABLE_ENDPOINT', 'AZURE_FUNCTION_APP_NAME']) expect(main).toMatch(new RegExp(`^output ${o} string`, 'm'));
    const parameters = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
    expect(parameters.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(parameters.parameters.location?.value).toBe('${AZURE_LOCATION}');
    // Every parameter main.bicep passes down is a parameter of resources.bicep.
    const passed = [...main.slice(main.indexOf("module resources 'resources.bicep'")).matchAll(/^\s{4}(\w+): /gm)].map((m) => m[1]);
    for (const p of passed) expect(resources, p).toMatch(new RegExp(`^param ${p} `, 'm'));
  });

  it('deploys the package npm run package builds, tagged for azd, without a remote build', () => {
    const yaml = read('azure.yaml');
    expect(yaml).toMatch(/^services:\n {2}api:\n/m);
    expect(yaml).toMatch(/^ {4}host: function$/m);
    expect(yaml).toMatch(/^ {4}dist: build\/package$/m);
    expect(yaml).toMatch(/^ {4}remoteBuild: false$/m);
    expect(resources).toMatch(/'azd-service-name': 'api'/);
    expect(JSON.parse(read('package.json')).scripts.package).toContain('tools/package.js');
  });
});
