/**
 * ASP.NET-style route templates as the Functions host understands them:
 * `orders/{id}`, `items/{id:int}`, `files/{name?}`, `{*rest}`, `a/{x=default}`, constraints after ':'.
 * Literal segments match case-insensitively; a more specific template wins over a less specific one.
 */

interface ParamToken {
  readonly kind: 'param';
  readonly name: string;
  readonly optional: boolean;
  readonly catchAll: boolean;
  readonly constraints: readonly string[];
  readonly defaultValue: string | undefined;
}

interface LiteralToken {
  readonly kind: 'literal';
  readonly text: string;
}

type Token = ParamToken | LiteralToken;

export interface CompiledRoute {
  readonly template: string;
  readonly regex: RegExp;
  readonly params: readonly ParamToken[];
  /** Lower = more specific, compared element by element. */
  readonly precedence: readonly number[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseParam(body: string, template: string): ParamToken {
  let text = body.trim();
  let catchAll = false;
  if (text.startsWith('**')) {
    catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith('*')) {
    catchAll = true;
    text = text.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = text.indexOf('=');
  if (eq >= 0) {
    defaultValue = text.slice(eq + 1);
    text = text.slice(0, eq);
  }
  let optional = false;
  if (text.endsWith('?')) {
    optional = true;
    text = text.slice(0, -1);
  }
  const [name, ...constraints] = splitConstraints(text);
  if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(`Invalid route template '${template}': bad parameter '{${body}}'`);
  }
  return { kind: 'param', name, optional: optional || defaultValue !== undefined, catchAll, constraints, defaultValue };
}

/** Splits "id:int:min(1)" on ':' outside parentheses. */
function splitConstraints(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ':' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function tokenizeSegment(segment: string, template: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < segment.length) {
    const open = segment.indexOf('{', i);
    if (open < 0) {
      tokens.push({ kind: 'literal', text: segment.slice(i) });
      break;
    }
    if (open > i) tokens.push({ kind: 'literal', text: segment.slice(i, open) });
    // find the matching '}' (constraints may contain braces in regex(...), keep it simple: depth count)
    let depth = 0;
    let close = -1;
    for (let j = open; j < segment.length; j += 1) {
      if (segment[j] === '{') depth += 1;
      if (segment[j] === '}') {
        depth -= 1;
        if (depth === 0) {
          close = j;
          break;
        }
      }
    }
    if (close < 0) throw new Error(`Invalid route template '${template}': unclosed '{'`);
    tokens.push(parseParam(segment.slice(open + 1, close), template));
    i = close + 1;
  }
  return tokens;
}

export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.trim().replace(/^~?\/+/, '').replace(/\/+$/, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const params: ParamToken[] = [];
  const precedence: number[] = [];
  let pattern = '^';
  for (const segment of segments) {
    const tokens = tokenizeSegment(segment, template);
    const only = tokens.length === 1 ? tokens[0] : undefined;
    if (only && only.kind === 'param') {
      params.push(only);
      if (only.catchAll) {
        pattern += '(?:/(.*))?';
        precedence.push(5);
      } else if (only.optional) {
        pattern += '(?:/([^/]+))?';
        precedence.push(only.constraints.length > 0 ? 3 : 4);
      } else {
        pattern += '/([^/]+)';
        precedence.push(only.constraints.length > 0 ? 3 : 4);
      }
      continue;
    }
    pattern += '/';
    let hasParam = false;
    for (const token of tokens) {
      if (token.kind === 'literal') {
        pattern += escapeRegex(token.text);
      } else {
        hasParam = true;
        params.push(token);
        pattern += token.optional ? '([^/]*?)' : '([^/]+?)';
      }
    }
    precedence.push(hasParam ? 2 : 1);
  }
  pattern += '/?$';
  return { template, regex: new RegExp(pattern, 'i'), params, precedence };
}

const GUID = /^[{(]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[)}]?$/i;

function satisfies(value: string, constraint: string): boolean {
  const match = /^([A-Za-z]+)(?:\((.*)\))?$/.exec(constraint.trim());
  if (!match) return true;
  const name = (match[1] ?? '').toLowerCase();
  const arg = match[2];
  const args = arg?.split(',').map((a) => a.trim()) ?? [];
  const num = Number(value);
  switch (name) {
    case 'int':
    case 'long':
      return /^-?\d+$/.test(value);
    case 'double':
    case 'float':
    case 'decimal':
      return value.trim() !== '' && Number.isFinite(num);
    case 'bool':
      return /^(true|false)$/i.test(value);
    case 'guid':
      return GUID.test(value);
    case 'alpha':
      return /^[A-Za-z]+$/.test(value);
    case 'datetime':
      return !Number.isNaN(Date.parse(value));
    case 'min':
      return Number.isFinite(num) && num >= Number(args[0]);
    case 'max':
      return Number.isFinite(num) && num <= Number(args[0]);
    case 'range':
      return Number.isFinite(num) && num >= Number(args[0]) && num <= Number(args[1]);
    case 'minlength':
      return value.length >= Number(args[0]);
    case 'maxlength':
      return value.length <= Number(args[0]);
    case 'length':
      return args.length === 2
        ? value.length >= Number(args[0]) && value.length <= Number(args[1])
        : value.length === Number(args[0]);
    case 'regex':
      try {
        // braces are doubled inside route templates: {{2}} means {2}
        return new RegExp((arg ?? '').replace(/\{\{/g, '{').replace(/\}\}/g, '}'), 'i').test(value);
      } catch {
        return true;
      }
    default:
      return true; // unknown constraints are accepted
  }
}

function decodeSegment(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Matches a path (without the route prefix, with a leading '/' or empty) against a route. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const normalized = path === '' || path === '/' ? '' : path.startsWith('/') ? path : `/${path}`;
  const match = route.regex.exec(normalized);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.params.length; i += 1) {
    const param = route.params[i];
    if (!param) continue;
    const raw = match[i + 1];
    if (raw === undefined || raw === '') {
      if (param.defaultValue !== undefined) params[param.name] = param.defaultValue;
      else if (!param.optional && !param.catchAll) return undefined;
      continue;
    }
    const value = param.catchAll ? raw.split('/').map(decodeSegment).join('/') : decodeSegment(raw);
    if (!param.constraints.every((c) => satisfies(value, c))) return undefined;
    params[param.name] = value;
  }
  return params;
}

export function comparePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i += 1) {
    const x = a.precedence[i] ?? 0;
    const y = b.precedence[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}
