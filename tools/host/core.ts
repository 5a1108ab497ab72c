/**
 * The stand-in for `@azure/functions-core`, the module the real Node.js worker builds into the
 * Functions runtime and that `@azure/functions` v4 loads with `require('@azure/functions-core')`.
 *
 * It is installed once per process (by wrapping `Module._load`) and keeps its state on
 * `globalThis`, because `@azure/functions` caches the core module and calls
 * `setProgrammingModel` only once per process, while the host module itself may be evaluated
 * more than once (for example by a test runner that re-evaluates source files per test file).
 */
import Module from 'node:module';
import type { RpcInvocationResponse, RpcInvocationRequest, RpcLogCategory, RpcLogLevel } from './rpc';

export type FunctionCallback = (...args: unknown[]) => unknown;

/** A binding as the library registers it: `type`, `direction` plus every option of the binding. */
export interface CoreBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  [option: string]: unknown;
}

/** What `registerFunction` receives (the library's `toCoreFunctionMetadata`). */
export interface CoreFunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, CoreBindingInfo>;
  retryOptions?: unknown;
}

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: CoreFunctionMetadata;
  state?: 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel | Promise<InvocationModel>;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface Registration {
  readonly metadata: CoreFunctionMetadata;
  readonly callback: FunctionCallback;
  disposed: boolean;
}

export type SystemLogSink = (level: RpcLogLevel, category: RpcLogCategory, message: string) => void;

interface CoreState {
  programmingModel?: ProgrammingModel;
  readonly registrations: Registration[];
  readonly hooks: Map<string, HookCallback[]>;
  readonly appHookData: Record<string, unknown>;
  /** Registrations captured while loading each app entry, for a second host in the same process. */
  readonly registrationsByEntry: Map<string, Registration[]>;
  /** Where `coreApi.log` (library system logs outside invocations) goes: the latest host. */
  systemLog?: SystemLogSink;
  readonly api: Record<string, unknown>;
}

const STATE_KEY = Symbol.for('project-invoicing.local-functions-host.core');
const CORE_MODULE = '@azure/functions-core';

class Disposable {
  #onDispose: (() => unknown) | undefined;
  constructor(onDispose: () => unknown) {
    this.#onDispose = onDispose;
  }
  static from(...items: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): unknown {
    const fn = this.#onDispose;
    this.#onDispose = undefined;
    return fn?.();
  }
}

function createState(): CoreState {
  const state: CoreState = {
    registrations: [],
    hooks: new Map(),
    appHookData: {},
    registrationsByEntry: new Map(),
    api: {},
  };
  Object.assign(state.api, {
    version: '3.10.1-local',
    hostVersion: '4.1037.0-local',
    Disposable,
    registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
      const registration: Registration = { metadata, callback, disposed: false };
      state.registrations.push(registration);
      return new Disposable(() => {
        registration.disposed = true;
      });
    },
    setProgrammingModel(model: ProgrammingModel): void {
      state.programmingModel = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return state.programmingModel;
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const known = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'];
      if (!known.includes(hookName)) {
        // The real worker rejects unknown hook names with a RangeError as well.
        const error = new RangeError(`Unrecognized hook "${hookName}"`);
        (error as RangeError & { isAzureFunctionsSystemError?: boolean }).isAzureFunctionsSystemError = true;
        throw error;
      }
      const list = state.hooks.get(hookName) ?? [];
      list.push(callback);
      state.hooks.set(hookName, list);
      return new Disposable(() => {
        const current = state.hooks.get(hookName);
        if (current) state.hooks.set(hookName, current.filter((c) => c !== callback));
      });
    },
    log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
      if (state.systemLog) state.systemLog(level, category, message);
      else console.log(`[${category}] ${message}`);
    },
  });
  return state;
}

type ModuleLoad = (request: string, parent: unknown, isMain: boolean) => unknown;

/** Installs the `@azure/functions-core` module (once per process) and returns the shared state. */
export function installCore(): CoreState {
  const holder = globalThis as unknown as Record<symbol, CoreState | undefined>;
  const existing = holder[STATE_KEY];
  if (existing) return existing;
  const state = createState();
  holder[STATE_KEY] = state;
  const moduleInternals = Module as unknown as { _load: ModuleLoad };
  const originalLoad = moduleInternals._load;
  moduleInternals._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    if (request === CORE_MODULE) return state.api;
    return originalLoad.call(this, request, parent, isMain);
  };
  return state;
}

export function hooksOf(state: CoreState, name: string): HookCallback[] {
  return [...(state.hooks.get(name) ?? [])];
}

export type { CoreState };
