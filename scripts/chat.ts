/**
 * `npm run chat [-- --as <name>]`: a conversation with the consumer agent in the terminal.
 *
 * Each line goes through the same handler the channels' chat drain calls (`services.inbound`),
 * as a message on the CONSOLE platform, with whichever model provider is configured. The agent
 * answers through the send queue as on any channel: its replies are `outbound_messages` rows for
 * this chat, which this script prints and marks SENT, since the terminal is how they reach the
 * person. No inbound event is stored: the turn's event id is a fresh uuid, and the replies'
 * dedupe keys (`reply:<id>`, `command:<id>`, …) end with it.
 *
 * A worker (`npm start` against the same database) runs the chat-send job that queueing a reply
 * adds. There is no CONSOLE sender, so its drain would fail whatever it finds pending here
 * ("CONSOLE is not configured"). The script therefore runs each turn while holding the chat's
 * send lock, the advisory lock `drainSends` takes: a drain that comes meanwhile finds the chat
 * busy and comes back a second later, by which time every message of the turn is SENT and it
 * finds nothing to do.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { type InboundContext, RetryLaterError, resolveSender } from '../src/domain/channels/inbound.ts';
import type { NormalizedMessage } from '../src/domain/channels/normalized.ts';
import { type OutboundContent, sendKey } from '../src/domain/channels/outbound.ts';
import { MediaError } from '../src/integrations/media-loader.ts';
import { withAdvisoryLock } from '../src/platform/advisory-lock.ts';
import { createLogger } from '../src/platform/logger.ts';
import { resolveServices } from '../src/wiring/services.ts';

const USAGE = `Usage: npm run chat [-- --as <name>]

Talk to the consumer agent as <name> (default: your OS user name) on the CONSOLE channel.
In the conversation:
  /press <n>          press button n of the last reply
  /where <lat> <lon>  share a location
  /quit (or Ctrl-D)   leave
Anything else, /help and the agent's other commands included, goes to the agent.`;

const ACCOUNT = 'terminal';
/** Times a message is tried again when the handler asks to wait (another turn runs, no model answers). */
const RETRIES = 3;
/** How long a turn waits for a drain that holds the chat's send lock (it only fails or skips rows). */
const SEND_LOCK_TRIES = 40;
const SEND_LOCK_WAIT_MS = 250;

let args: { as?: string | undefined; help?: boolean | undefined };
try {
  ({ values: args } = parseArgs({
    options: { as: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(1);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const name = args.as?.trim() || userInfo().username;

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({
    // A terminal wants quiet logs and a short wait when no model answers; both can still be set.
    LOG_LEVEL: 'warn',
    AGENT_UNAVAILABLE_RETRY_MS: '5000',
    ...process.env,
    CONSUMER_AGENT: 'true',
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
// Log lines go to stderr, so they never mix into the conversation.
const logger = createLogger(
  config.logLevel,
  { role: 'chat' },
  { destination: 2, prettyInTerminal: !config.production },
);

let services: Awaited<ReturnType<typeof resolveServices>>;
try {
  services = await resolveServices(config, logger);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const db = services.db;
const hasModel = Boolean(config.llm.anthropic || config.llm.ollama);

const print = (line: string) => process.stdout.write(`${line}\n`);

/** The buttons of the last reply that was printed, for `/press`. */
let lastButtons: NonNullable<OutboundContent['buttons']> = [];

/** A message from the person, as a channel's webhook would have normalised it. */
function messageOf(
  fields: Partial<Pick<NormalizedMessage, 'text' | 'location' | 'button'>>,
): NormalizedMessage {
  return {
    platform: 'CONSOLE',
    account: ACCOUNT,
    externalChatId: name,
    externalMessageId: null,
    sender: { externalId: name, displayName: name, language: null },
    text: null,
    images: [],
    location: null,
    contact: null,
    button: null,
    replyTo: null,
    sentAt: new Date().toISOString(),
    ...fields,
  };
}

/** What a line means: a message for the agent, something said locally (a usage hint), or leaving. */
function parseLine(line: string): NormalizedMessage | { local: string } | 'quit' | null {
  const text = line.trim();
  if (!text) return null;
  const [word, ...rest] = text.split(/\s+/);
  switch (word?.toLowerCase()) {
    case '/quit':
    case '/exit':
      return 'quit';
    case '/press': {
      const n = Number(rest[0]);
      const button = Number.isInteger(n) ? lastButtons[n - 1] : undefined;
      if (!button) {
        return {
          local: lastButtons.length
            ? `(press a button from 1 to ${lastButtons.length}: /press <n>)`
            : '(the last reply has no buttons)',
        };
      }
      return messageOf({ button: { payload: button.id, title: button.title } });
    }
    case '/where': {
      const [latitude, longitude] = rest.map(Number);
      if (
        rest.length !== 2 ||
        !(Math.abs(latitude!) <= 90) ||
        !(Math.abs(longitude!) <= 180) // also false for NaN
      ) {
        return { local: '(usage: /where <latitude> <longitude>, e.g. /where 38.7077 -9.1365)' };
      }
      return messageOf({ location: { latitude: latitude!, longitude: longitude! } });
    }
    default:
      // Commands the dispatcher knows (/start, /help, /reset, /language, /forget) and any other text.
      return messageOf({ text });
  }
}

/**
 * Runs `work` holding the chat's send lock (see the top of the file). A drain holding it only
 * fails or skips rows (there is no CONSOLE sender), so it is let go within moments.
 */
async function withSendLock<T>(chatId: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const result = await withAdvisoryLock(services.database.pool, sendKey(chatId), work);
    if (result.locked) return result.value;
    if (attempt >= SEND_LOCK_TRIES) throw new Error('the send queue holds this chat; try again');
    await sleep(SEND_LOCK_WAIT_MS);
  }
}

/**
 * Prints what the agent has queued for this turn not yet printed: the replies keyed by the event
 * and anything else pending for this chat (news of a booking the turn made), oldest first. They
 * are marked SENT: the terminal has delivered them.
 */
async function showReplies(context: InboundContext, printed: Set<string>): Promise<void> {
  const rows = await db.outboundMessage.findMany({
    where: {
      userId: context.userId,
      OR: [{ dedupeKey: { endsWith: `:${context.eventId}` } }, { chatId: context.chatId, status: 'PENDING' }],
      id: { notIn: [...printed] },
    },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  for (const row of rows) {
    printed.add(row.id);
    const [first, ...more] = row.body.split('\n');
    print(`agnt> ${first}`);
    for (const line of more) print(line ? `      ${line}` : '');
    const buttons = (row.content as OutboundContent).buttons ?? [];
    buttons.forEach((button, index) => {
      print(`  [${index + 1}] ${button.title}`);
    });
    // Booking news printed after a reply does not take its buttons away.
    if (row.dedupeKey.endsWith(`:${context.eventId}`)) lastButtons = buttons;
  }
  if (rows.length) {
    await db.outboundMessage.updateMany({
      where: { id: { in: rows.map((row) => row.id) }, status: 'PENDING' },
      data: { status: 'SENT', sentAt: new Date() },
    });
  }
}

/** One message, through the channels' handler, until it is answered, fails or has waited enough. */
async function converse(message: NormalizedMessage, signal: AbortSignal): Promise<void> {
  const eventId = randomUUID();
  const context: InboundContext = {
    ...(await resolveSender(db, services.keyring, message)),
    // The same event id on every try: the dispatcher's dedupe keys then queue each reply once.
    eventId,
    receivedAt: new Date(),
    logger: logger.child({ 'inbound.id': eventId, 'chat.platform': 'CONSOLE' }),
    loadImage: () => Promise.reject(new MediaError('gone', 'a terminal sends no images')),
  };
  const printed = new Set<string>();
  for (let attempt = 0; ; attempt++) {
    const wait = await withSendLock(context.chatId, async () => {
      try {
        await services.inbound(message, context);
        return null;
      } catch (error) {
        if (error instanceof RetryLaterError) return error;
        throw error;
      } finally {
        await showReplies(context, printed);
      }
    });
    if (!wait) return;
    // With no provider configured, trying again cannot get a model's answer.
    if (attempt >= (hasModel ? RETRIES : 0) || signal.aborted) {
      print(`(not answered: ${wait.message})`);
      return;
    }
    print(`(waiting ${Math.ceil(wait.delayMs / 1000)} s: ${wait.message})`);
    try {
      await sleep(wait.delayMs, undefined, { signal });
    } catch {
      print('(stopped waiting)');
      return;
    }
  }
}

print(`AGNT: talking to your consumer agent as "${name}". /help for what it does; /quit to leave.`);
if (!hasModel) {
  print('(no model provider: set ANTHROPIC_API_KEY or OLLAMA_URL; until then only commands are answered)');
}

const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'you> ' });
// Ctrl-C (or a signal) ends the conversation: a wait is cut short, a turn in flight finishes, and
// a second Ctrl-C does not wait for it.
const stop = new AbortController();
const interrupt = () => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
  rl.close();
};
rl.on('SIGINT', interrupt);
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

// Input that ends (Ctrl-D, the end of a pipe) closes the interface at once; the lines read before
// are still answered, one by one, but no prompt follows them.
let closed = false;
rl.on('close', () => {
  closed = true;
});

let quit = false;
rl.prompt();
for await (const line of rl) {
  const parsed = parseLine(line);
  if (parsed === 'quit') {
    quit = true;
    break;
  }
  if (parsed && 'local' in parsed) print(parsed.local);
  else if (parsed) {
    try {
      await converse(parsed, stop.signal);
    } catch (error) {
      console.error(`(error: ${(error as Error).message})`);
    }
  }
  if (stop.signal.aborted) break;
  if (!closed) rl.prompt();
}
rl.close();
// Ctrl-D leaves the cursor after the prompt.
if (!quit && process.stdin.isTTY) print('');
await services.shutdown();
process.exit(0);
