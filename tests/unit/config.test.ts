import { describe, expect, it } from 'vitest';
import { ConfigError, parseSettings } from '../../shared/config';

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
    ['DataverseTables', undefined, /^Configuration error: DataverseTables is missing$/],
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
