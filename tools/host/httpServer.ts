/**
 * The HTTP front end of the local host: routes requests to HTTP-triggered functions (route
 * prefix, templates, methods), builds the RPC `http` typed data the library turns into an
 * `HttpRequest`, and writes the RPC `http` response the library built from the handler's result.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, newTraceParent, type Invoker, type LoadedFunction } from './invoke';
import { comparePrecedence, compileRoute, matchRoute, type CompiledRoute } from './routes';
import { fromTypedData, type RpcHttpCookie, type RpcHttpData, type RpcInvocationResponse, type RpcTypedData } from './rpc';

export interface HttpRoute {
  readonly fn: LoadedFunction;
  readonly route: CompiledRoute;
  /** Upper-case methods, or undefined for all methods. */
  readonly methods: ReadonlySet<string> | undefined;
}

export type AdminInvoke = (name: string, input: string | undefined) => 'accepted' | 'not-found' | 'disabled' | 'http';

export function httpRouteOf(fn: LoadedFunction): HttpRoute {
  const template = typeof fn.trigger.route === 'string' && fn.trigger.route.trim() !== '' ? fn.trigger.route : fn.name;
  const methods = Array.isArray(fn.trigger.methods)
    ? new Set(fn.trigger.methods.map((m) => String(m).toUpperCase()))
    : undefined;
  return { fn, route: compileRoute(template), methods };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function serializeCookie(cookie: RpcHttpCookie): string | undefined {
  if (!cookie.name) return undefined;
  const parts = [`${cookie.name}=${encodeURIComponent(cookie.value ?? '')}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  const seconds = cookie.expires?.value?.seconds;
  if (seconds !== undefined && seconds !== null) parts.push(`Expires=${new Date(Number(seconds) * 1000).toUTCString()}`);
  if (cookie.maxAge?.value !== undefined && cookie.maxAge.value !== null) parts.push(`Max-Age=${cookie.maxAge.value}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  if (cookie.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (cookie.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (cookie.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

function bodyBytes(data: RpcTypedData | null | undefined): Buffer {
  const value = fromTypedData(data);
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Picks the HTTP response out of an invocation response ($return first, then an http output). */
function httpResponseOf(fn: LoadedFunction, response: RpcInvocationResponse): RpcHttpData | undefined {
  const returnBinding = fn.metadata.bindings.$return;
  if (returnBinding && String(returnBinding.type).toLowerCase() === 'http' && response.returnValue?.http) {
    return response.returnValue.http;
  }
  for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
    if (binding.direction === 'out' && String(binding.type).toLowerCase() === 'http') {
      const output = response.outputData?.find((o) => o.name === name);
      if (output?.data?.http) return output.data.http;
    }
  }
  return undefined;
}

/**
 * Function keys as Azure checks them: a request to a route above `anonymous` must carry a key in
 * the `x-functions-key` header or the `code` query parameter. Any configured key opens a
 * `function` route; an `admin` route needs the key named `master` (when there is one).
 */
export class FunctionKeys {
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(keys: Readonly<Record<string, string>>) {
    this.#keys = new Map(Object.entries(keys).filter(([, v]) => v !== '').map(([name, value]) => [name, Buffer.from(value, 'utf8')]));
  }

  /** Whether any key is configured (no key: nothing is checked, as with Core Tools). */
  get enabled(): boolean {
    return this.#keys.size > 0;
  }

  /** Whether a request with this key may call a route of this auth level. */
  allows(authLevel: unknown, key: string | undefined): boolean {
    const level = typeof authLevel === 'string' ? authLevel.toLowerCase() : 'function';
    if (!this.enabled || level === 'anonymous') return true;
    if (key === undefined || key === '') return false;
    const given = Buffer.from(key, 'utf8');
    const candidates = level === 'admin' && this.#keys.has('master') ? [this.#keys.get('master')!] : [...this.#keys.values()];
    return candidates.some((k) => k.length === given.length && timingSafeEqual(k, given));
  }
}

export class HttpFrontend {
  readonly #servers: http.Server[] = [];
  /** Requests whose response has not finished yet (awaited on close so no response is cut off). */
  readonly #openResponses = new Set<Promise<void>>();
  readonly #routes: HttpRoute[];
  readonly #disabled: ReadonlySet<string>;
  readonly #prefix: string;
  readonly #invoker: Invoker;
  readonly #adminInvoke: AdminInvoke;
  readonly #keys: FunctionKeys;
  #stopping = false;

  constructor(options: {
    routes: HttpRoute[];
    disabledHttpFunctions: ReadonlySet<string>;
    routePrefix: string;
    invoker: Invoker;
    adminInvoke: AdminInvoke;
    /** Function keys to check (none: keys are not checked). */
    functionKeys?: Readonly<Record<string, string>>;
  }) {
    this.#keys = new FunctionKeys(options.functionKeys ?? {});
    this.#routes = options.routes;
    this.#disabled = options.disabledHttpFunctions;
    this.#prefix = options.routePrefix;
    this.#invoker = options.invoker;
    this.#adminInvoke = options.adminInvoke;
  }

  /** URL of a route template for the start-up listing. */
  describe(baseUrl: string, route: HttpRoute): string {
    const prefix = this.#prefix ? `/${this.#prefix}` : '';
    const template = route.route.template.replace(/^~?\/+/, '');
    return `${baseUrl}${prefix}/${template}`;
  }

  /**
   * Listens on the given host, or (default) on both loopback addresses 127.0.0.1 and ::1 with the
   * same port so that http://localhost:<port> works whichever address the client resolves.
   */
  async listen(port: number, host: string | undefined): Promise<number> {
    const loopbackBoth = host === undefined || host === 'localhost';
    const first = loopbackBoth ? '127.0.0.1' : host;
    const actualPort = await this.#listenOne(port, first);
    if (loopbackBoth) {
      try {
        await this.#listenOne(actualPort, '::1');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EADDRNOTAVAIL' && code !== 'EAFNOSUPPORT' && code !== 'EADDRINUSE') {
          await this.close();
          throw error;
        }
      }
    }
    return actualPort;
  }

  #listenOne(port: number, host: string): Promise<number> {
    const server = http.createServer((req, res) => {
      const finished = new Promise<void>((resolve) => res.once('close', () => resolve()));
      this.#openResponses.add(finished);
      void finished.then(() => this.#openResponses.delete(finished));
      this.#handle(req, res).catch((error: unknown) => {
        this.#invoker.hostLog(`[Error] HTTP request failed: ${describeError(error)}`);
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end();
        } else {
          res.destroy();
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        server.close();
        reject(error);
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        this.#servers.push(server);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections; in-flight requests finish (the caller drains invocations first). */
  stopAccepting(): void {
    this.#stopping = true;
    for (const server of this.#servers) {
      server.close();
      server.closeIdleConnections();
    }
  }

  async close(): Promise<void> {
    this.#stopping = true;
    if (this.#openResponses.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#openResponses]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 10_000);
        }),
      ]);
      if (timer) clearTimeout(timer);
    }
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.#servers.length = 0;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const hostHeader = firstHeader(req.headers.host) ?? 'localhost';
    const url = new URL(req.url ?? '/', `http://${hostHeader}`);
    if (this.#stopping) res.setHeader('connection', 'close');

    const admin = /^\/admin\/(.*)$/i.exec(url.pathname);
    if (admin) {
      await this.#handleAdmin(admin[1] ?? '', method, req, res);
      return;
    }

    let path = url.pathname;
    if (this.#prefix) {
      const prefix = `/${this.#prefix}`;
      const lowerPath = path.toLowerCase();
      const lowerPrefix = prefix.toLowerCase();
      if (lowerPath === lowerPrefix || lowerPath === `${lowerPrefix}/`) path = '';
      else if (lowerPath.startsWith(`${lowerPrefix}/`)) path = path.slice(prefix.length);
      else return this.#notFound(res);
    }

    let best: { route: HttpRoute; params: Record<string, string> } | undefined;
    for (const route of this.#routes) {
      if (route.methods && !route.methods.has(method)) continue;
      const params = matchRoute(route.route, path);
      if (!params) continue;
      if (!best || comparePrecedence(route.route, best.route.route) < 0) best = { route, params };
    }
    if (!best || this.#disabled.has(best.route.fn.name)) return this.#notFound(res);
    // As Azure: a route above anonymous answers 401 (empty body) without a valid key; the key is
    // taken from the x-functions-key header or the code query parameter.
    const key = firstHeader(req.headers['x-functions-key']) ?? url.searchParams.get('code') ?? undefined;
    if (!this.#keys.allows(best.route.fn.trigger.authLevel, key)) {
      res.statusCode = 401;
      res.setHeader('content-length', '0');
      res.end();
      return;
    }

    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const rpcHttp: RpcHttpData = {
      method,
      url: url.toString(),
      headers,
      params: best.params,
    };
    if (body.length > 0) rpcHttp.body = { bytes: body };

    const fn = best.route.fn;
    let response: RpcInvocationResponse;
    try {
      response = await this.#invoker.invoke(
        fn,
        {
          inputData: [{ name: fn.triggerName, data: { http: rpcHttp } }],
          triggerMetadata: {},
          traceContext: { traceParent: firstHeader(req.headers.traceparent) ?? newTraceParent(), attributes: {} },
        },
        `This function was programmatically called via the host APIs.`,
      );
    } catch {
      // The invoker logged the failure; the real host answers 500 with an empty body.
      res.statusCode = 500;
      res.setHeader('content-length', '0');
      res.end();
      return;
    }
    this.#writeResponse(fn, response, method, res);
  }

  #writeResponse(fn: LoadedFunction, response: RpcInvocationResponse, method: string, res: http.ServerResponse): void {
    const rpc = httpResponseOf(fn, response);
    if (!rpc) {
      res.statusCode = 204;
      res.end();
      return;
    }
    const status = Number.parseInt(rpc.statusCode ?? '200', 10);
    res.statusCode = Number.isFinite(status) ? status : 200;
    for (const [key, value] of Object.entries(rpc.headers ?? {})) {
      const lower = key.toLowerCase();
      if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
      res.setHeader(key, value);
    }
    const cookies = (rpc.cookies ?? []).map(serializeCookie).filter((c): c is string => c !== undefined);
    if (cookies.length > 0) {
      const existing = res.getHeader('set-cookie');
      const prior = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', [...prior, ...cookies]);
    }
    const bytes = bodyBytes(rpc.body);
    const noBody = method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
    res.setHeader('content-length', noBody ? 0 : bytes.length);
    res.end(noBody ? undefined : bytes);
  }

  #notFound(res: http.ServerResponse): void {
    res.statusCode = 404;
    res.setHeader('content-length', '0');
    res.end();
  }

  async #handleAdmin(rest: string, method: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sendJson = (status: number, value: unknown): void => {
      const text = JSON.stringify(value);
      res.statusCode = status;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('content-length', Buffer.byteLength(text));
      res.end(text);
    };
    if (/^host\/status\/?$/i.test(rest) && method === 'GET') {
      sendJson(200, { state: this.#stopping ? 'Stopping' : 'Running', version: '4.x-local' });
      return;
    }
    const fnMatch = /^functions\/([^/]+)\/?$/i.exec(rest);
    if (fnMatch && method === 'POST') {
      const body = await readBody(req);
      let input: string | undefined;
      if (body.length > 0) {
        try {
          const parsed = JSON.parse(body.toString('utf8')) as { input?: unknown };
          if (parsed.input !== undefined && parsed.input !== null) {
            input = typeof parsed.input === 'string' ? parsed.input : JSON.stringify(parsed.input);
          }
        } catch {
          sendJson(400, { error: 'The body must be JSON like {"input": "..."}' });
          return;
        }
      }
      const outcome = this.#adminInvoke(decodeURIComponent(fnMatch[1] ?? ''), input);
      if (outcome === 'accepted') {
        res.statusCode = 202;
        res.setHeader('content-length', '0');
        res.end();
      } else if (outcome === 'http') {
        sendJson(400, { error: 'HTTP-triggered functions are called through their route' });
      } else {
        this.#notFound(res);
      }
      return;
    }
    this.#notFound(res);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
