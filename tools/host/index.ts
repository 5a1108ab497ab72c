/**
 * The local Azure Functions host (Core Tools cannot be installed on these machines).
 *
 * How it works:
 * - `@azure/functions` v4 talks to the runtime only through a module named
 *   `@azure/functions-core`, which the real Node.js worker injects. `installCore()` (core.ts)
 *   provides that module by wrapping Node's `Module._load`, before the app is loaded; without
 *   it the library would be in "test mode" and register nothing.
 * - The app settings are copied into `process.env`, then the app entry is loaded with a dynamic
 *   `import()`. Every `app.http/timer/serviceBusQueue/...` call reaches `registerFunction`, which
 *   captures the function metadata (bindings with all their options) and the handler. An error
 *   thrown while loading the app rejects `startFunctionsHost` with that error.
 * - Invocations go through the library's own programming model exactly as the worker drives it
 *   (invoke.ts): `getInvocationModel(coreCtx)` -> `getArguments()` -> preInvocation hooks ->
 *   handler -> postInvocation hooks -> `getResponse()`. The host builds the RPC invocation
 *   request (input data, trigger metadata, trace context) the way the Functions host does, so
 *   arguments, trigger metadata (camelCased by the library) and outputs are converted as in Azure.
 * - Triggers: HTTP on node:http (httpServer.ts, routes.ts; host.json routePrefix; function keys
 *   checked as Azure does when `functionKeys` are given, not at all otherwise, as in Core Tools), timers with croner (timers.ts), Service Bus queues and
 *   topic subscriptions through `@azure/service-bus` receivers in peek-lock mode, completed on
 *   success and abandoned on failure (serviceBus.ts). Service Bus output bindings are sent after
 *   a successful invocation, before the trigger message is completed or the HTTP response sent.
 * - `AzureWebJobs.<name>.Disabled` = true/1: the function is registered but never runs.
 * - Admin API like the real host's: `POST /admin/functions/<name>` with `{"input": "..."}` runs a
 *   non-HTTP function now (202); `GET /admin/host/status`.
 * - Log lines carry the function name and invocation id: `Executing`/`Executed` lines with
 *   duration, and the InvocationContext's log/warn/error output.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readHostConfig, isFunctionDisabled, type HostConfig } from './config';
import { hooksOf, installCore, type CoreBindingInfo, type Registration } from './core';
import { HttpFrontend, httpRouteOf, type AdminInvoke } from './httpServer';
import { describeError, Invoker, type LoadedFunction } from './invoke';
import type { RpcLogCategory, RpcLogLevel } from './rpc';
import { ServiceBusRuntime } from './serviceBus';
import { parseSchedule, TimerRunner } from './timers';

export interface RegisteredFunction {
  name: string;
  triggerType: string;
  bindings: Record<string, unknown>;
  /** the raw metadata */
  metadata: unknown;
  /** `AzureWebJobs.<name>.Disabled` was set: registered, but never run. */
  disabled: boolean;
}

export interface FunctionsHost {
  /** e.g. http://127.0.0.1:7071 */
  readonly baseUrl: string;
  readonly httpPort: number;
  readonly functions: RegisteredFunction[];
  /** count of completed invocations (succeeded or failed) */
  invocations(): number;
  /** closes HTTP server, stops timers, closes Service Bus receivers/senders/clients, awaits in-flight invocations */
  stop(): Promise<void>;
}

export interface StartFunctionsHostOptions {
  /** absolute path of the module that registers the functions (.ts under vitest, compiled .js under node) */
  appEntry: string;
  /** app settings; copied into process.env BEFORE the app is loaded */
  settings: Record<string, string>;
  /** default 7071; 0 = a free port */
  httpPort?: number;
  /** default: both loopback addresses (127.0.0.1 and ::1), so http://localhost:<port> works */
  httpHost?: string;
  /** default: host.json of the working folder, else of the repository */
  hostJsonPath?: string;
  /** default console.log */
  log?: (line: string) => void;
  /** default 'ServiceBusConnection' (what `connection:` in the trigger options names) */
  serviceBusConnectionSetting?: string;
  /**
   * Function keys by name (e.g. `{ default: 'local-dev-key' }`): when any is given, routes above
   * `anonymous` need one in the `x-functions-key` header or the `code` query parameter, as in
   * Azure (401 otherwise). None (default): keys are not checked, as with Core Tools.
   */
  functionKeys?: Readonly<Record<string, string>>;
}

const SUPPORTED_OUTPUTS = new Set(['http', 'servicebus']);

function findTrigger(reg: Registration): [string, CoreBindingInfo] | undefined {
  return Object.entries(reg.metadata.bindings).find(([, b]) => typeof b.type === 'string' && /trigger$/i.test(b.type));
}

function toLoadedFunction(reg: Registration): LoadedFunction {
  const trigger = findTrigger(reg);
  if (!trigger) throw new Error(`Function '${reg.metadata.name}' has no trigger binding`);
  const [triggerName, triggerBinding] = trigger;
  return {
    name: reg.metadata.name,
    metadata: reg.metadata,
    callback: reg.callback,
    triggerName,
    trigger: triggerBinding,
    triggerType: String(triggerBinding.type),
    disabled: isFunctionDisabled(reg.metadata.name),
  };
}

/**
 * Imports the app entry. Under Node a file URL is the portable specifier; test runners that
 * transform TypeScript resolve plain absolute paths as well.
 */
async function importApp(entry: string): Promise<void> {
  const specifier = /\.[cm]?tsx?$/i.test(entry) ? entry : pathToFileURL(entry).href;
  await import(specifier);
}

export async function startFunctionsHost(options: StartFunctionsHostOptions): Promise<FunctionsHost> {
  // The default sink stamps each line; a caller's sink gets the bare line (it may stamp it itself).
  const log = options.log ?? ((line: string) => console.log(`[${new Date().toISOString()}] ${line}`));
  const core = installCore();
  const hostConfig: HostConfig = readHostConfig(options.hostJsonPath);

  // The settings become the process's environment while the host runs; stop() puts back what was there.
  const previousEnv = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(options.settings)) {
    if (!previousEnv.has(key)) previousEnv.set(key, process.env[key]);
    process.env[key] = String(value);
  }
  const restoreEnv = (): void => {
    for (const [key, value] of previousEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };

  const systemLog = (level: RpcLogLevel, category: RpcLogCategory, message: string): void => {
    if (level === 'debug' || level === 'trace' || level === 'none') return;
    log(`[${category}] ${message}`);
  };
  const previousSystemLog = core.systemLog;
  core.systemLog = systemLog;
  const restoreSystemLog = (): void => {
    if (core.systemLog === systemLog) core.systemLog = previousSystemLog;
  };

  const entry = path.resolve(options.appEntry);
  let registrations: Registration[];
  try {
    const mark = core.registrations.length;
    await importApp(entry);
    const fresh = core.registrations.slice(mark);
    const cached = core.registrationsByEntry.get(entry);
    if (fresh.length === 0 && cached) {
      registrations = cached; // the app module was already loaded in this process
    } else {
      registrations = fresh;
      core.registrationsByEntry.set(entry, fresh);
    }
    registrations = registrations.filter((r) => !r.disposed);
  } catch (error) {
    restoreSystemLog();
    restoreEnv();
    throw error;
  }

  let functions: LoadedFunction[];
  // The invoker sends Service Bus outputs after each successful invocation (before settling).
  const invoker: Invoker = new Invoker(core, log, (fn, response, fnLog) => serviceBus.sendOutputs(fn, response, fnLog));
  const serviceBus = new ServiceBusRuntime(
    invoker,
    hostConfig.serviceBus,
    options.serviceBusConnectionSetting ?? 'ServiceBusConnection',
  );
  try {
    functions = registrations.map(toLoadedFunction);
    const seen = new Set<string>();
    for (const fn of functions) {
      const lower = fn.name.toLowerCase();
      if (seen.has(lower)) throw new Error(`Duplicate function name '${fn.name}'`);
      seen.add(lower);
    }
    if (functions.length === 0) {
      log(
        `[Warning] No functions were registered by ${entry}. (If '@azure/functions' registered functions before the host was installed in this process, it is in test mode.)`,
      );
    }
  } catch (error) {
    restoreSystemLog();
    restoreEnv();
    throw error;
  }

  const timers = new Map<string, TimerRunner>();
  const warnings: string[] = [];
  try {
    for (const fn of functions) {
      for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
        const type = String(binding.type ?? '').toLowerCase();
        if (binding.direction === 'out' && !SUPPORTED_OUTPUTS.has(type)) {
          warnings.push(`Function '${fn.name}': output binding '${name}' of type '${binding.type}' is not supported by the local host; its values are ignored`);
        } else if (binding.direction === 'in' && name !== fn.triggerName) {
          warnings.push(`Function '${fn.name}': input binding '${name}' of type '${binding.type}' is not supported by the local host; it is undefined`);
        } else if (binding.direction === 'out' && type === 'servicebus' && !fn.disabled) {
          serviceBus.describeOutput(fn, name); // validates settings now
        }
      }
      if (fn.disabled) continue;
      const triggerType = fn.triggerType.toLowerCase();
      if (triggerType === 'timertrigger') {
        timers.set(fn.name, new TimerRunner(fn, parseSchedule(fn), invoker));
      } else if (triggerType === 'servicebustrigger') {
        serviceBus.describeTrigger(fn);
      } else if (triggerType !== 'httptrigger') {
        warnings.push(`Function '${fn.name}': trigger type '${fn.triggerType}' is not supported by the local host; it only runs through POST /admin/functions/${fn.name}`);
      }
    }
  } catch (error) {
    restoreSystemLog();
    restoreEnv();
    throw error;
  }

  const httpFunctions = functions.filter((f) => f.triggerType.toLowerCase() === 'httptrigger');
  const routes = httpFunctions.map(httpRouteOf);
  const adminInvoke: AdminInvoke = (name, input) => {
    const fn = functions.find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (!fn) return 'not-found';
    if (fn.disabled) return 'disabled';
    const triggerType = fn.triggerType.toLowerCase();
    if (triggerType === 'httptrigger') return 'http';
    const reason = 'This function was programmatically called via the host APIs.';
    if (triggerType === 'timertrigger') {
      timers.get(fn.name)?.fire(reason, { scheduled: false });
    } else if (triggerType === 'servicebustrigger') {
      serviceBus.invokeWithBody(fn, input).catch(() => undefined);
    } else {
      invoker
        .invoke(fn, { inputData: [{ name: fn.triggerName, data: { string: input ?? '' } }], triggerMetadata: {} }, reason)
        .catch(() => undefined);
    }
    return 'accepted';
  };
  const frontend = new HttpFrontend({
    routes,
    disabledHttpFunctions: new Set(httpFunctions.filter((f) => f.disabled).map((f) => f.name)),
    routePrefix: hostConfig.routePrefix,
    invoker,
    adminInvoke,
    ...(options.functionKeys ? { functionKeys: options.functionKeys } : {}),
  });

  const requestedPort = options.httpPort ?? 7071;
  let httpPort: number;
  try {
    httpPort = await frontend.listen(requestedPort, options.httpHost);
  } catch (error) {
    restoreSystemLog();
    restoreEnv();
    throw new Error(`The local Functions host could not listen on port ${requestedPort}: ${(error as Error).message}`, { cause: error });
  }
  const bindHost = options.httpHost;
  const displayHost =
    bindHost === undefined || bindHost === 'localhost' || bindHost === '0.0.0.0' || bindHost === '::'
      ? '127.0.0.1'
      : bindHost.includes(':')
        ? `[${bindHost}]`
        : bindHost;
  const baseUrl = `http://${displayHost}:${httpPort}`;

  const appDirectory = hostConfig.path ? path.dirname(hostConfig.path) : process.cwd();
  try {
    for (const hook of hooksOf(core, 'appStart')) {
      await hook({ hookData: {}, appHookData: core.appHookData, functionAppDirectory: appDirectory });
    }
    for (const fn of functions) {
      if (!fn.disabled && fn.triggerType.toLowerCase() === 'servicebustrigger') serviceBus.startTrigger(fn);
    }
  } catch (error) {
    await serviceBus.close();
    await frontend.close();
    restoreSystemLog();
    restoreEnv();
    throw error;
  }

  for (const runner of timers.values()) runner.start();

  // start-up listing, like Core Tools
  log(`Local Functions host: ${functions.length} function(s) from ${path.relative(process.cwd(), entry) || entry}${hostConfig.path ? ` (host.json: ${path.relative(process.cwd(), hostConfig.path) || hostConfig.path})` : ' (no host.json, defaults)'}`);
  for (const warning of warnings) log(`[Warning] ${warning}`);
  const lines: string[] = [];
  for (const fn of functions) {
    const suffix = fn.disabled ? ' (disabled)' : '';
    const triggerType = fn.triggerType.toLowerCase();
    if (triggerType === 'httptrigger') {
      const route = routes.find((r) => r.fn === fn);
      const methods = route?.methods ? `[${[...route.methods].join(',')}]` : '[ALL]';
      lines.push(`  ${fn.name}: ${methods} ${route ? frontend.describe(baseUrl, route) : ''}${suffix}`);
    } else if (triggerType === 'timertrigger') {
      const runner = timers.get(fn.name);
      const next = runner?.nextOccurrence();
      const schedule = runner ? runner.expression : String(fn.trigger.schedule);
      lines.push(`  ${fn.name}: timerTrigger (${schedule})${next ? `, next ${next.toISOString()}` : ''}${suffix}`);
    } else if (triggerType === 'servicebustrigger') {
      const entity = typeof fn.trigger.queueName === 'string' ? `queue ${fn.trigger.queueName}` : `topic ${String(fn.trigger.topicName)}/${String(fn.trigger.subscriptionName)}`;
      lines.push(`  ${fn.name}: serviceBusTrigger (${entity})${suffix}`);
    } else {
      lines.push(`  ${fn.name}: ${fn.triggerType}${suffix}`);
    }
  }
  log('Functions:');
  for (const line of lines) log(line);
  const alsoLocalhost = options.httpHost === undefined || options.httpHost === 'localhost' ? ` (and http://localhost:${httpPort})` : '';
  log(`Host started, listening on ${baseUrl}${alsoLocalhost}`);
  const keyNames = Object.entries(options.functionKeys ?? {}).filter(([, v]) => v !== '').map(([k]) => k);
  log(
    keyNames.length
      ? `Function keys checked (${keyNames.join(', ')}): send one as the x-functions-key header or the code query parameter; GET /admin/* stays open locally`
      : 'Function keys are not checked (no keys configured)',
  );

  for (const fn of functions) {
    if (!fn.disabled && fn.triggerType.toLowerCase() === 'timertrigger' && fn.trigger.runOnStartup === true) {
      timers.get(fn.name)?.fire('Timer fired on startup (runOnStartup)', { scheduled: false });
    }
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log(`Stopping the local Functions host...`);
      for (const runner of timers.values()) runner.stop();
      frontend.stopAccepting();
      await serviceBus.stopReceiving();
      await invoker.drain();
      await frontend.close();
      await serviceBus.close();
      for (const hook of hooksOf(core, 'appTerminate')) {
        try {
          await hook({ hookData: {}, appHookData: core.appHookData });
        } catch (error) {
          log(`[Warning] appTerminate hook failed: ${describeError(error)}`);
        }
      }
      restoreSystemLog();
      restoreEnv();
      log(`Local Functions host stopped (${invoker.completed} invocation(s))`);
    })();
    return stopping;
  };

  const registered: RegisteredFunction[] = functions.map((fn) => ({
    name: fn.name,
    triggerType: fn.triggerType,
    bindings: fn.metadata.bindings,
    metadata: fn.metadata,
    disabled: fn.disabled,
  }));

  return {
    baseUrl,
    httpPort,
    functions: registered,
    invocations: () => invoker.completed,
    stop,
  };
}
