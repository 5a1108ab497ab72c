/** The ReconcileSchedule setting: optional (the sweep then runs every 15 minutes), checked like ImportFromStagingSchedule. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECONCILE_SCHEDULE, parseSettings } from '../../../shared/config';

const base = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
  DataverseTables: 'UseDevelopmentStorage=true',
  FinanceTables: 'UseDevelopmentStorage=true',
  IntegrationTables: 'UseDevelopmentStorage=true',
  ImportFromStagingSchedule: '0 */1 * * * *',
  AccountingCurrency: 'USD',
};

describe('ReconcileSchedule', () => {
  it('is optional: unset means the default, every 15 minutes', () => {
    expect(parseSettings(base).ReconcileSchedule).toBeUndefined();
    expect(DEFAULT_RECONCILE_SCHEDULE).toBe('0 */15 * * * *');
  });

  it('takes a 6-field NCRONTAB expression', () => {
    expect(parseSettings({ ...base, ReconcileSchedule: ' 0 */5 * * * * ' }).ReconcileSchedule).toBe('0 */5 * * * *');
  });

  it.each([
    ['*/5 * * * *', /^Configuration error: ReconcileSchedule must be a 6-field NCRONTAB expression such as "0 \*\/15 \* \* \* \*"$/],
    ['0 99 * * * *', /^Configuration error: ReconcileSchedule is not a valid NCRONTAB expression$/],
    ['', /^Configuration error: ReconcileSchedule must be a 6-field NCRONTAB/],
  ])('refuses %j with one line naming it', (value, message) => {
    expect(() => parseSettings({ ...base, ReconcileSchedule: value })).toThrow(message);
  });
});
