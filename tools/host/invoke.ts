/**
 * One invocation, the way the Node.js worker runs it: build the core invocation context from an
 * RPC invocation request, let the library's programming model turn it into arguments, run the
 * pre-invocation hooks, the handler and the post-invocation hooks, then convert the result back
 * into an RPC invocation response (outputs and return value).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { format } from 'node:util';
import { hooksOf, type CoreBindingInfo, type CoreFunctionMetadata, type CoreInvocationContext, type CoreState, type FunctionCallback } from './core';
import type { RpcInvocationRequest, RpcInvocationResponse, RpcLogCategory, RpcLogLevel } from './rpc';

export interface LoadedFunction {
  readonly name: string;
  readonly metadata: CoreFunctionMetadata;
  readonly callback: FunctionCallback;
  readonly triggerName: string;
  readonly trigger: CoreBindingInfo;
  /** e.g. 'httpTrigger', 'timerTrigger', 'serviceBusTrigger' */
  readonly triggerType: string;
  readonly disabled: boolean;
}

export type InvocationRequestInit = Omit<RpcInvocationRequest, 'invocationId' | 'functionId'>;

/** Called after a successful invocation, before it counts as succeeded (e.g. sends output messages). */
export type OutputFlusher = (fn: LoadedFunction, response: RpcInvocationResponse, log: (line: string) => void) => Promise<void>;

function levelTag(level: RpcLogLevel): string {
  switch (level) {
    case 'warning':
      return 'Warning';
    case 'error':
      return 'Error';
    case 'critical':
      return 'Critical';
    case 'debug':
      return 'Debug';
    case 'trace':
      return 'Trace';
    default:
      return 'Information';
  }
}

export function newTraceParent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return format(error);
}

export class Invoker {
  #completed = 0;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #core: CoreState;
  readonly #log: (line: string) => void;
  readonly #flushOutputs: OutputFlusher;
  readonly #verbose: boolean;

  constructor(core: CoreState, log: (line: string) => void, flushOutputs: OutputFlusher, verbose = false) {
    this.#core = core;
    this.#log = log;
    this.#flushOutputs = flushOutputs;
    this.#verbose = verbose;
  }

  get completed(): number {
    return this.#completed;
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** Resolves when every invocation started so far (and any started meanwhile) has finished. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.allSettled([...this.#inFlight]);
    }
  }

  hostLog(line: string): void {
    this.#log(line);
  }

  /**
   * Invokes a function. Resolves with the RPC invocation response on success; rejects with the
   * handler's (or a hook's, or an output's) error on failure. Both are logged.
   */
  invoke(fn: LoadedFunction, init: InvocationRequestInit, reason: string): Promise<RpcInvocationResponse> {
    const run = this.#run(fn, init, reason);
    this.#inFlight.add(run);
    const forget = (): void => {
      this.#inFlight.delete(run);
    };
    run.then(forget, forget);
    return run;
  }

  async #run(fn: LoadedFunction, init: InvocationRequestInit, reason: string): Promise<RpcInvocationResponse> {
    const invocationId = randomUUID();
    const started = Date.now();
    const tag = `${fn.name} (${invocationId})`;
    const emit = (line: string): void => this.#log(line);
    emit(`Executing 'Functions.${fn.name}' (Reason='${reason}', Id=${invocationId})`);
    try {
      const response = await this.#execute(fn, invocationId, init, emit, tag);
      await this.#flushOutputs(fn, response, (line) => emit(`${tag}: ${line}`));
      emit(`Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`);
      return response;
    } catch (error) {
      emit(`${tag} [Error] ${describeError(error)}`);
      emit(`Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)`);
      throw error;
    } finally {
      this.#completed += 1;
    }
  }

  async #execute(
    fn: LoadedFunction,
    invocationId: string,
    init: InvocationRequestInit,
    emit: (line: string) => void,
    tag: string,
  ): Promise<RpcInvocationResponse> {
    const model = this.#core.programmingModel;
    if (!model) throw new Error('No programming model was set by the app (is @azure/functions loaded?)');

    const hookData: Record<string, unknown> = {};
    let logContext: { invocationContext: unknown } | undefined;
    const core = this.#core;
    const verbose = this.#verbose;
    const coreCtx: CoreInvocationContext = {
      invocationId,
      request: { ...init, invocationId, functionId: fn.metadata.functionId ?? fn.name },
      metadata: fn.metadata,
      state: undefined,
      log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
        let effectiveLevel = level;
        let effectiveMessage = message;
        const logHooks = hooksOf(core, 'log');
        if (logHooks.length > 0) {
          const hookCtx: Record<string, unknown> = {
            level,
            message,
            category,
            invocationContext: logContext?.invocationContext,
            hookData,
            appHookData: core.appHookData,
          };
          for (const hook of logHooks) {
            try {
              hook(hookCtx);
            } catch (error) {
              emit(`${tag} [Warning] a log hook threw: ${describeError(error)}`);
            }
          }
          effectiveLevel = hookCtx.level as RpcLogLevel;
          effectiveMessage = String(hookCtx.message);
        }
        if (effectiveLevel === 'none') return;
        if (category === 'system' && !verbose && (effectiveLevel === 'debug' || effectiveLevel === 'trace')) return;
        const source = category === 'user' ? '' : ` [${category}]`;
        emit(`${tag} [${levelTag(effectiveLevel)}]${source} ${effectiveMessage}`);
      },
    };

    const invocationModel = await model.getInvocationModel(coreCtx);
    const args = await invocationModel.getArguments();
    const context = args.context;
    let inputs = args.inputs;
    logContext = { invocationContext: context };

    const preContext: Record<string, unknown> = {
      hookData,
      appHookData: core.appHookData,
      invocationContext: context,
      inputs,
      functionCallback: fn.callback,
    };
    coreCtx.state = 'preInvocationHooks';
    try {
      for (const hook of hooksOf(core, 'preInvocation')) await hook(preContext);
    } finally {
      coreCtx.state = undefined;
    }
    inputs = preContext.inputs as unknown[];
    const callback = preContext.functionCallback as FunctionCallback;

    const postContext: Record<string, unknown> = {
      hookData,
      appHookData: core.appHookData,
      invocationContext: context,
      inputs,
      result: null,
      error: null,
    };
    coreCtx.state = 'invocation';
    try {
      postContext.result = await invocationModel.invokeFunction(context, inputs, callback);
    } catch (error) {
      postContext.error = error ?? new Error('The function threw a null or undefined value');
    } finally {
      coreCtx.state = undefined;
    }

    coreCtx.state = 'postInvocationHooks';
    try {
      for (const hook of hooksOf(core, 'postInvocation')) await hook(postContext);
    } finally {
      coreCtx.state = undefined;
    }
    if (postContext.error !== null && postContext.error !== undefined) throw postContext.error;

    return invocationModel.getResponse(context, postContext.result);
  }
}
