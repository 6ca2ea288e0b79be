/**
 * The running app with a worker beside it, and the settings that point it at the fakes: the
 * shape most channel and conversation tests start from.
 */
import { startTestApp, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { FAST_WORKER_ENV, startWorkerApp, type WorkerApp } from '../helpers/jobs.ts';

/** The one Telegram bot tests talk to, by name, webhook secret and API token. */
export const TELEGRAM_BOT = {
  name: 'agnt',
  secret: 'a-webhook-secret-of-some-length',
  token: '123456789:AAH-fake-token-for-the-test-bot',
} as const;

/** The app's settings for TELEGRAM_BOT, its API at the fake's address. */
export function telegramEnv(api: { url: string }) {
  return {
    TELEGRAM_BOTS: JSON.stringify([
      { name: TELEGRAM_BOT.name, token: TELEGRAM_BOT.token, secret: TELEGRAM_BOT.secret },
    ]),
    TELEGRAM_API_URL: api.url,
  };
}

/** The consumer agent on, its model at the Anthropic fake's address. */
export function agentEnv(model: { url: string }) {
  return {
    CONSUMER_AGENT: 'true',
    ANTHROPIC_API_KEY: 'sk-ant-test-key',
    ANTHROPIC_BASE_URL: model.url,
  };
}

/** The app with `env` (and quick workers) and a worker on its services. */
export async function startAppWithWorker(
  env: Record<string, string | undefined>,
  options: Omit<TestAppOptions, 'env'> = {},
): Promise<{ app: TestApp; worker: WorkerApp }> {
  const app = await startTestApp({ ...options, env: { ...FAST_WORKER_ENV, ...env } });
  const worker = await startWorkerApp(app);
  return { app, worker };
}

type Part = { stop(): Promise<void> } | { close(): Promise<void> } | undefined;

/** Stops the parts in the order given (the worker before the app, the app before its fakes). */
export async function stopAll(...parts: Part[]): Promise<void> {
  for (const part of parts) {
    if (!part) continue;
    if ('stop' in part) await part.stop();
    else await part.close();
  }
}
