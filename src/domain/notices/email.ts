/**
 * Notices by email, for people we have no chat with (owners who sign in by email, guests a
 * venue's team booked by address). Each such notice is a row in `outbound_messages` with
 * `channel = EMAIL`, written PENDING with its `notice-email` job in one transaction
 * (`queueNotice`), and sent by that job through the mailer: one job per message, keyed by it.
 *
 * Sending twice: the job holds an advisory lock on the message while it sends and sends only a
 * PENDING message, marking it SENT right after the SMTP server accepts it; a second run (a
 * duplicate job, the outbox sweep) finds it SENT and does nothing. The one gap is at-least-once
 * by nature: a worker that dies after the server accepted the mail and before the row is marked
 * SENT leaves it PENDING, and the retry sends it again. Both copies carry the same Message-ID
 * (`<outbound id>@notices.agnt`), so the receiving side can tell them apart.
 */
import { z } from 'zod';
import { type Mailer, MailSendError } from '../../integrations/mail/mailer.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { Database } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';

/** Sends one email notice (an `outbound_messages` row with `channel = EMAIL`). */
export const noticeEmailTask = defineTask({
  name: 'notice-email',
  schema: z.object({ messageId: z.uuid() }),
  // graphile-worker's backoff (exp(attempts) seconds): the tenth and last attempt comes about three
  // and a half hours after the first, long enough to ride out a relay's restart or a short outage.
  maxAttempts: 10,
});

export function noticeEmailKey(messageId: string): string {
  return `notice-email:${messageId}`;
}

/** The Message-ID every copy of this notice carries. */
export function noticeMessageId(messageId: string): string {
  return `${messageId}@notices.agnt`;
}

export interface NoticeEmailDeps {
  database: Database;
  mailer: Mailer;
  logger: Logger;
  now: () => Date;
}

export type NoticeEmailOutcome =
  /** The server accepted it; the row is SENT. */
  | 'sent'
  /** Nothing to do: the row is gone, not an email, or no longer PENDING (sent by an earlier run). */
  | 'done'
  /** The server refused it for good, or retries ran out; the row is FAILED with the reason. */
  | 'failed';

/** A transient failure: the job should run again. The row stays PENDING with its attempts counted. */
export class NoticeEmailRetry extends Error {
  override name = 'NoticeEmailRetry';
}

/**
 * Sends the email notice `messageId` if it is still PENDING. Throws NoticeEmailRetry when the
 * SMTP server could not take it for now (or another run holds the message), unless
 * `finalAttempt`, when the row is failed with the reason instead.
 */
export async function sendNoticeEmail(
  deps: NoticeEmailDeps,
  messageId: string,
  options: { finalAttempt: boolean },
): Promise<NoticeEmailOutcome> {
  const db = deps.database.prisma;
  const logger = deps.logger.child({ 'outbound.id': messageId });
  const result = await withAdvisoryLock(deps.database.locks, noticeEmailKey(messageId), async () => {
    const message = await db.outboundMessage.findUnique({ where: { id: messageId } });
    if (message?.channel !== 'EMAIL' || message.status !== 'PENDING') return 'done' as const;
    const fail = async (reason: string) => {
      await db.outboundMessage.update({
        where: { id: message.id },
        data: { status: 'FAILED', failureReason: reason.slice(0, 2000), attempts: { increment: 1 } },
      });
      logger.warn({ 'outbound.reason': reason }, 'email notice failed');
      return 'failed' as const;
    };
    if (!message.emailTo) return fail('The message has no address to send to');
    try {
      await deps.mailer.send({
        to: message.emailTo,
        subject: message.subject ?? '',
        text: message.body,
        messageId: noticeMessageId(message.id),
      });
    } catch (error) {
      const mailError = error instanceof MailSendError ? error : null;
      if (mailError?.permanent) return fail(`refused by the mail server: ${mailError.message}`);
      const attempts = message.attempts + 1;
      if (options.finalAttempt)
        return fail(`gave up after ${attempts} attempts: ${(error as Error).message}`);
      await db.outboundMessage.update({ where: { id: message.id }, data: { attempts } });
      logger.info({ err: error, 'outbound.attempts': attempts }, 'email notice deferred');
      throw new NoticeEmailRetry(`the mail server could not take it: ${(error as Error).message}`, {
        cause: error,
      });
    }
    await db.outboundMessage.update({
      where: { id: message.id },
      data: { status: 'SENT', sentAt: deps.now(), attempts: { increment: 1 } },
    });
    return 'sent' as const;
  });
  if (!result.locked) throw new NoticeEmailRetry('another run is sending this message');
  return result.value;
}
