/**
 * Without OTEL_EXPORTER_OTLP_ENDPOINT, tracing costs nothing: no module of the OpenTelemetry SDK
 * or its instrumentations is even loaded. Checked in a fresh Node process that records every
 * module it resolves; with an endpoint, the same process loads them (so the check can fail).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const tracingModule = fileURLToPath(new URL('../../src/platform/tracing.ts', import.meta.url));

async function modulesLoadedBy(endpoint: string | undefined): Promise<{ active: boolean; loaded: string[] }> {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
    const { startTracing, tracingActive } = await import(${JSON.stringify(tracingModule)});
    const tracing = await startTracing({ endpoint: ${JSON.stringify(endpoint)}, serviceName: 'agnt-test' });
    const active = tracingActive();
    await tracing?.shutdown();
    const loaded = seen.filter((s) => /opentelemetry|@prisma\\/instrumentation/.test(s));
    console.log(JSON.stringify({ active, loaded }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return JSON.parse(stdout);
}

it('loads nothing of OpenTelemetry without an endpoint, and the SDK with one', async () => {
  expect(await modulesLoadedBy(undefined)).toEqual({ active: false, loaded: [] });
  const on = await modulesLoadedBy('http://127.0.0.1:9');
  expect(on.active).toBe(true);
  expect(on.loaded).toEqual(expect.arrayContaining(['@opentelemetry/sdk-trace', '@prisma/instrumentation']));
});
