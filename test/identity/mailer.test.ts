import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createMailer } from '../../src/integrations/mail/mailer.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { capturingLogger } from '../helpers/logs.ts';

let smtp: FakeSmtp;

beforeAll(async () => {
  smtp = await startFakeSmtp();
});

afterAll(async () => {
  await smtp?.close();
});

describe('mailer', () => {
  it('sends over SMTP, non-ASCII and long lines included', async () => {
    const { logger } = capturingLogger('info');
    const mailer = createMailer(
      loadConfig({ NODE_ENV: 'test', SMTP_URL: smtp.url, MAIL_FROM: 'AGNT <hi@agnt.test>' }),
      logger,
    );
    const text = `Grüße aus dem Café — ${'x'.repeat(120)}\nzweite Zeile`;
    await mailer.send({ to: 'zoë@example.test', subject: 'Tisch für zwei ✓', text });
    mailer.close();
    const mail = await smtp.nextMessageTo('zoë@example.test');
    expect(mail.envelopeFrom).toBe('hi@agnt.test');
    expect(mail.subject).toBe('Tisch für zwei ✓');
    expect(mail.text).toBe(text);
  });

  it('without SMTP_URL outside production, writes the message to the log and says so', async () => {
    const { logger, lines } = capturingLogger('info');
    const mailer = createMailer(loadConfig({ NODE_ENV: 'development' }), logger);
    expect(mailer.kind).toBe('log');
    expect(lines.some((l) => /SMTP_URL is not set/.test(String(l.msg)))).toBe(true);
    await mailer.send({
      to: 'dev@example.test',
      subject: 'Your AGNT sign-in code',
      text: 'Your AGNT sign-in code is 123456',
    });
    expect(lines.at(-1)).toMatchObject({
      'mail.to': 'dev@example.test',
      'mail.text': 'Your AGNT sign-in code is 123456',
    });
  });

  it('refuses to run without SMTP in production', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(() => createMailer({ ...config, production: true }, capturingLogger('info').logger)).toThrow(
      /SMTP_URL is required/,
    );
  });
});
