/**
 * Outgoing mail. SMTP through nodemailer when SMTP_URL is set; otherwise (never in production) a
 * mailer that writes each message to the log, so a developer reads their sign-in code there.
 */
import nodemailer from 'nodemailer';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../platform/logger.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /**
   * The Message-ID header, without angle brackets (default: nodemailer makes one). A message sent
   * again after a crash carries the same id, so the receiving side can tell it is the same mail.
   */
  messageId?: string;
}

/**
 * The SMTP server refused or could not take the message. `permanent`: a 5xx answer (no such
 * mailbox, rejected), where trying again cannot help; otherwise (4xx, connection, timeout) it may.
 */
export class MailSendError extends Error {
  override name = 'MailSendError';
  readonly permanent: boolean;
  readonly responseCode: number | null;
  constructor(
    message: string,
    options: { permanent: boolean; responseCode?: number | null; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.permanent = options.permanent;
    this.responseCode = options.responseCode ?? null;
  }
}

export interface Mailer {
  readonly kind: 'smtp' | 'log';
  /** Resolves once the SMTP server accepted the message; rejects with a MailSendError when it did not. */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export function createMailer(config: Pick<Config, 'mail' | 'production'>, logger: Logger): Mailer {
  const log = logger.child({ component: 'mail' });
  if (config.mail.smtpUrl) return smtpMailer(config.mail.smtpUrl, config.mail.from, log);
  if (config.production) throw new Error('SMTP_URL is required in production to send mail');
  log.warn('SMTP_URL is not set: mail is written to this log instead of being sent');
  return logMailer(log);
}

export function smtpMailer(smtpUrl: string, from: string, logger: Logger): Mailer {
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    kind: 'smtp',
    async send(message) {
      let info: { messageId: string };
      try {
        info = await transport.sendMail({
          from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.messageId ? { messageId: `<${message.messageId}>` } : {}),
        });
      } catch (error) {
        throw mailSendError(error);
      }
      // The address is personal data; the message id is enough to find the message at the relay.
      logger.info({ 'mail.messageId': info.messageId }, 'mail sent');
    },
    close: () => transport.close(),
  };
}

export function logMailer(logger: Logger): Mailer {
  return {
    kind: 'log',
    async send(message) {
      logger.info(
        { 'mail.to': message.to, 'mail.subject': message.subject, 'mail.text': message.text },
        'mail not sent (no SMTP_URL): here it is',
      );
    },
    close() {},
  };
}

/** nodemailer's failure as a MailSendError: SMTP 5xx answers are permanent, the rest transient. */
function mailSendError(error: unknown): MailSendError {
  const responseCode = (error as { responseCode?: unknown }).responseCode;
  const code = typeof responseCode === 'number' ? responseCode : null;
  return new MailSendError((error as Error).message ?? String(error), {
    permanent: code !== null && code >= 500 && code < 600,
    responseCode: code,
    cause: error,
  });
}
