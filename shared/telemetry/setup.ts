/**
 * Where spans and metrics go. Nothing is set up unless asked, so a run without telemetry pays for
 * no SDK: `APPLICATIONINSIGHTS_CONNECTION_STRING` sends them to Application Insights (the Azure
 * Monitor OpenTelemetry exporter), `TelemetryConsole=true` prints them (local). The SDK packages are
 * loaded only then. Spans are sampled as OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG say
 * (default: every span). host.json's `"telemetryMode": "OpenTelemetry"` makes the Functions host
 * export its own request and log telemetry the same way, so the host's invocation span is the
 * parent of the app's (the trigger adapters start in the trace context the host hands over).
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import type { Settings } from '../config';
import { TELEMETRY_SCOPE } from './tracing';

export interface Telemetry {
  /** Where the spans and metrics go ("Application Insights", "console"). */
  readonly destinations: readonly string[];
  /** Flush what is buffered and stop (the app's terminate hook). */
  shutdown(): Promise<void>;
}

/** Metrics are exported once a minute (Application Insights aggregates per minute). */
const METRIC_INTERVAL_MS = 60_000;

/** Registers the tracer and meter providers the settings ask for; undefined when they ask for none. */
export function startTelemetry(settings: Pick<Settings, 'APPLICATIONINSIGHTS_CONNECTION_STRING' | 'TelemetryConsole'>, version: string): Telemetry | undefined {
  const connectionString = settings.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim() || undefined;
  const toConsole = settings.TelemetryConsole?.toLowerCase() === 'true';
  if (connectionString === undefined && !toConsole) return undefined;

  // Loaded here, not at the top: only a process that exports telemetry needs the SDK.
  const traceSdk = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const metricSdk = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');

  const resource = resourceFromAttributes({
    // Application Insights shows service.name as the cloud role: the function app's name in Azure.
    'service.name': process.env.WEBSITE_SITE_NAME || TELEMETRY_SCOPE,
    'service.version': version,
  });
  const spanProcessors: import('@opentelemetry/sdk-trace-node').SpanProcessor[] = [];
  const readers: import('@opentelemetry/sdk-metrics').MetricReader[] = [];
  const destinations: string[] = [];
  if (connectionString !== undefined) {
    const monitor = require('@azure/monitor-opentelemetry-exporter') as typeof import('@azure/monitor-opentelemetry-exporter');
    spanProcessors.push(new traceSdk.BatchSpanProcessor(new monitor.AzureMonitorTraceExporter({ connectionString })));
    readers.push(new metricSdk.PeriodicExportingMetricReader({ exporter: new monitor.AzureMonitorMetricExporter({ connectionString }), exportIntervalMillis: METRIC_INTERVAL_MS }));
    destinations.push('Application Insights');
  }
  if (toConsole) {
    spanProcessors.push(new traceSdk.SimpleSpanProcessor(new traceSdk.ConsoleSpanExporter()));
    readers.push(new metricSdk.PeriodicExportingMetricReader({ exporter: new metricSdk.ConsoleMetricExporter(), exportIntervalMillis: METRIC_INTERVAL_MS }));
    destinations.push('console');
  }

  const tracerProvider = new traceSdk.NodeTracerProvider({ resource, spanProcessors });
  // Global tracer provider, AsyncLocalStorage context manager and W3C propagator.
  tracerProvider.register();
  const meterProvider = new metricSdk.MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);

  let stopped: Promise<void> | undefined;
  return {
    destinations,
    shutdown() {
      stopped ??= (async () => {
        await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
        // Let a later start in this process (a test reloading the app) register again.
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
      })();
      return stopped;
    },
  };
}
