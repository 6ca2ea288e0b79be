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
}

export interface Mailer {
  readonly kind: 'smtp' | 'log';
  /** Resolves once the SMTP server accepted the message; rejects when it did not. */
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
      const info = await transport.sendMail({
        from,
        to: message.to,
        subject: message.subject,
        text: message.text,
      });
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
