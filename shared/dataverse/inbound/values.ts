/**
 * Dataverse's typed values as the DataContract JSON of a RemoteExecutionContext carries them,
 * flattened to the contract's columns (docs/dataverse.md, "Values"):
 *
 * | Dataverse value                                   | column kind | stored as                      |
 * |---------------------------------------------------|-------------|--------------------------------|
 * | `{ "__type": "OptionSetValue:...", "Value": n }`  | option      | the integer n                  |
 * | `{ "__type": "Money:...", "Value": 1250.5 }`      | amount      | "1250.50" (2 decimals)         |
 * |                                                   | price       | "1250.50" (2 to 6 decimals)    |
 * | a JSON number (Decimal)                           | quantity    | "7.5" (up to 6 decimals)       |
 * |                                                   | rate        | "1.084500" (6 decimals)        |
 * | `{ "__type": "EntityReference:...", "Id": g }`    | reference   | the lowercase GUID g           |
 * | a GUID string                                     | id          | the lowercase GUID             |
 * | `"/Date(1732492800000)/"`, `"/Date(ms+hhmm)/"`    | date        | "2024-11-25" (UTC)             |
 * |                                                   | timestamp   | "2024-11-25T00:00:00.000Z"     |
 * | a string, a boolean                               | text, boolean | as it is                     |
 * | a transactioncurrency reference, or an ISO code   | currency    | resolved through dvCurrencies  |
 *
 * Numbers become decimals through their shortest round-trip text (what JSON wrote), and are rounded
 * once by the project's money helpers, so no float artefact (1250.4999999999998, 0.30000000000000004)
 * reaches a column. A Money with more decimals than its column holds is rounded half away from zero.
 *
 * Dates: in DataContract JSON the number is milliseconds since 1970-01-01 UTC; the optional
 * `+hhmm`/`-hhmm` only says the value was a local time on the sender and does not move the instant,
 * so it is read and ignored. Date-only columns arrive as midnight UTC, so the UTC date is the date.
 * Each value is flattened by its column's kind only: an attribute the contract does not know is
 * never looked at.
 */
import { z } from 'zod';
import { amount, dec, price, quantity, rate } from '../../core/money';
import { guid } from '../../core/fields';

export type ColumnKind = 'id' | 'reference' | 'option' | 'amount' | 'price' | 'quantity' | 'rate' | 'date' | 'timestamp' | 'text' | 'boolean' | 'currency';

/** A currency as Dataverse names it: an ISO code as it is, or a transactioncurrency GUID to look up. */
export type CurrencyValue = { code: string } | { currencyId: string };

export type Flat = string | number | boolean | CurrencyValue;

/** A flattened value, or what is wrong with it (a sentence naming what was expected and what came). */
export type Flattened = { ok: true; value: Flat } | { ok: false; problem: string };

const typeTag = z.object({ __type: z.string() });
const DATE_TEXT = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/;
const ISO_CODE = /^[A-Z]{3}$/;
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

/** The type name of a DataContract value: "Money" of "Money:http://schemas.microsoft.com/xrm/2011/Contracts". */
export function typeNameOf(value: unknown): string | undefined {
  const tagged = typeTag.safeParse(value);
  return tagged.success ? (tagged.data.__type.split(':')[0] ?? tagged.data.__type) : undefined;
}

/** A value as a person reads it in an error message (JSON, at most 80 characters). */
export function shown(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

const optionSetValue = z.object({ Value: z.number().int() });
const moneyValue = z.object({ Value: z.union([z.number(), z.string()]) });
const entityReference = z.object({ Id: guid, LogicalName: z.string().optional() });

/** The instant a `/Date(ms)/` or `/Date(ms+hhmm)/` text names (the offset does not move it), or an ISO-8601 text. */
export function parseDataverseDate(text: string): Date | undefined {
  const m = DATE_TEXT.exec(text);
  if (m) {
    const date = new Date(Number(m[1]));
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const date = new Date(text.length === 10 ? `${text}T00:00:00Z` : text);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return undefined;
}

function wrongType(expected: string, value: unknown): { ok: false; problem: string } {
  const kind = typeNameOf(value);
  return { ok: false, problem: `expected ${expected}, got ${kind ? `${kind} ` : ''}${shown(value)}` };
}

/** A number or a decimal text (a Money's Value, a Decimal attribute) as exact decimal text, or undefined. */
function decimalText(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? dec(value).toFixed() : undefined;
  if (typeof value === 'string' && DECIMAL_TEXT.test(value.trim())) return value.trim();
  return undefined;
}

function typed(value: unknown, name: string): boolean {
  const kind = typeNameOf(value);
  return kind === undefined || kind === name;
}

/** Flatten one attribute value to its column's kind. Null never reaches here (the caller treats it as absent). */
export function flatten(kind: ColumnKind, value: unknown): Flattened {
  switch (kind) {
    case 'option': {
      if (typeof value === 'number' && Number.isInteger(value)) return { ok: true, value };
      const parsed = optionSetValue.safeParse(value);
      if (!parsed.success || !typed(value, 'OptionSetValue')) return wrongType('an OptionSetValue ({ "Value": <integer> })', value);
      return { ok: true, value: parsed.data.Value };
    }
    case 'amount':
    case 'price': {
      let raw: unknown = value;
      if (typeof value === 'object' && value !== null) {
        const parsed = moneyValue.safeParse(value);
        if (!parsed.success || !typed(value, 'Money')) return wrongType('a Money ({ "Value": <number> })', value);
        raw = parsed.data.Value;
      }
      const text = decimalText(raw);
      if (text === undefined) return wrongType('a Money ({ "Value": <number> })', value);
      return { ok: true, value: kind === 'amount' ? amount(text) : price(text) };
    }
    case 'quantity':
    case 'rate': {
      const text = decimalText(value);
      if (text === undefined) return wrongType('a decimal number', value);
      return { ok: true, value: kind === 'quantity' ? quantity(text) : rate(text) };
    }
    case 'id':
    case 'reference': {
      if (typeof value === 'string') {
        const id = guid.safeParse(value);
        return id.success ? { ok: true, value: id.data } : wrongType(kind === 'id' ? 'a GUID' : 'an EntityReference or a GUID', value);
      }
      const parsed = entityReference.safeParse(value);
      if (kind === 'id' || !parsed.success || !typed(value, 'EntityReference')) return wrongType(kind === 'id' ? 'a GUID' : 'an EntityReference ({ "Id": <GUID>, "LogicalName": ... })', value);
      return { ok: true, value: parsed.data.Id };
    }
    case 'date':
    case 'timestamp': {
      const date = typeof value === 'string' ? parseDataverseDate(value) : undefined;
      if (!date) return wrongType('a date such as "/Date(1732492800000)/"', value);
      const iso = date.toISOString();
      return { ok: true, value: kind === 'date' ? iso.slice(0, 10) : iso };
    }
    case 'text':
      return typeof value === 'string' ? { ok: true, value } : wrongType('a text', value);
    case 'boolean':
      return typeof value === 'boolean' ? { ok: true, value } : wrongType('true or false', value);
    case 'currency': {
      if (typeof value === 'string' && ISO_CODE.test(value)) return { ok: true, value: { code: value } };
      if (typeof value === 'string') {
        const id = guid.safeParse(value);
        return id.success ? { ok: true, value: { currencyId: id.data } } : wrongType('a transactioncurrency EntityReference or an ISO currency code such as EUR', value);
      }
      const parsed = entityReference.safeParse(value);
      if (!parsed.success || !typed(value, 'EntityReference')) return wrongType('a transactioncurrency EntityReference or an ISO currency code such as EUR', value);
      if (parsed.data.LogicalName !== undefined && parsed.data.LogicalName !== 'transactioncurrency') {
        return { ok: false, problem: `expected a reference to a transactioncurrency, got one to ${parsed.data.LogicalName} (${parsed.data.Id})` };
      }
      return { ok: true, value: { currencyId: parsed.data.Id } };
    }
  }
}
