/**
 * `ask_venue`: a question from the person to a venue, for what the venue's details do not say
 * (a high chair, a corkage fee). A venue with an ACTIVE agent gets it as a `venue.question`
 * envelope from the person's own agent; the answer comes back as a `venue.answer` envelope and
 * reaches the person as a notice (src/domain/network/consumer-agent.ts). Any other venue gets it
 * by email to its team (the venue's address, or its organisation's owners and admins), queued and
 * sent as notices' emails are, who answer the person directly. Each person may ask a few questions per hour either way, so the tool
 * cannot be used to flood a venue.
 *
 * The mail carries the person's name and email; the envelope carries only the question. After
 * untrusted text was read it is held for the person's press (tools.ts), and what they are shown
 * names the venue, the question and what goes with it, so nothing of theirs leaves without them
 * seeing it.
 *
 * For people only: the answer comes back to the person's own chat (a notice, or the venue's mail
 * to them), which an API key has not got, and the mail speaks for the person by name.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import {
  askVenueAgent,
  venueAgentAnswers,
  venueQuestionAsked,
  venueQuestionId,
} from '../network/consumer-agent.ts';
import { queueEmail } from '../notices/notices.ts';
import { MANAGERS } from '../organizations/access.ts';
import { requireVenue } from '../venues/venues.ts';
import { callerAccess, defineTool, ToolRefusal, text } from './contract.ts';

export const QUESTIONS_PER_HOUR = 5;

export function askVenueTool(deps: {
  db: Db;
  limiter: RateLimiter;
  keyring: SecretKeyring;
  now: () => Date;
}) {
  return defineTool({
    name: 'ask_venue',
    description:
      'Send the person’s question to a venue’s team when the venue details do not answer it. The venue replies to the person later; tell them so.',
    sideEffect: 'WRITE',
    callers: { person: true },
    input: z.object({
      venue_id: z.uuid('A venue id as returned by search_venues'),
      question: text(500).min(3, 'Ask a real question'),
    }),
    output: z.object({
      sent: z.literal(true),
      venue: z.string().describe('The venue’s name'),
      note: z.string().describe('How the answer will come'),
    }),
    async describe(input, context) {
      const { db } = deps;
      const venue = await requireVenue(db, callerAccess(db, context), input.venue_id);
      if (await venueAgentAnswers(db, venue.id)) {
        return `Send ${venue.name}'s agent this question: "${input.question}"; its answer comes to you here.`;
      }
      const person = await db.user.findUniqueOrThrow({
        where: { id: context.userId },
        select: { displayName: true, email: true },
      });
      const who = [person.displayName, person.email].filter(Boolean).join(', ');
      return `Send ${venue.name} this question: "${input.question}"${who ? `, with your name and email (${who}) for their answer` : ''}.`;
    },
    async run(input, context) {
      const { db } = deps;
      const venue = await requireVenue(db, callerAccess(db, context), input.venue_id);
      // This call's key in the chat turn: a turn run again after a crash asks once, and a
      // question already asked does not count against the hour's again.
      const key = context.callKey ?? null;
      const spend = async () => {
        const limit = await deps.limiter.hit(`ask-venue:${context.userId}`, QUESTIONS_PER_HOUR, 3600);
        if (!limit.allowed) {
          throw new ToolRefusal(
            'TOO_MANY_QUESTIONS',
            'The person has asked venues enough questions for this hour',
          );
        }
      };
      if (await venueAgentAnswers(db, venue.id)) {
        const questionId = venueQuestionId(context.userId, key);
        if (!key || !(await venueQuestionAsked(db, questionId))) {
          await spend();
          await askVenueAgent(db, deps, {
            userId: context.userId,
            venueId: venue.id,
            text: input.question,
            questionId,
          });
        }
        return {
          sent: true as const,
          venue: venue.name,
          note: `${venue.name}'s agent was asked; its answer will come to the person as a message. Tell them so.`,
        };
      }
      const recipients = venue.email
        ? [venue.email]
        : venue.organizationId
          ? (
              await db.membership.findMany({
                where: { organizationId: venue.organizationId, role: { in: [...MANAGERS] } },
                select: { user: { select: { email: true } } },
              })
            ).flatMap((m) => (m.user.email ? [m.user.email] : []))
          : [];
      if (recipients.length === 0) {
        throw new ToolRefusal(
          'NO_CONTACT',
          `${venue.name} cannot be reached through us; suggest calling them`,
        );
      }
      // The venue answers an emailed question by email: without an address of the person's, the
      // answer would have nowhere to go, so the question is not sent.
      const asker = await db.user.findUniqueOrThrow({
        where: { id: context.userId },
        select: { displayName: true, email: true },
      });
      if (!asker.email) {
        throw new ToolRefusal(
          'NO_CONTACT',
          `${venue.name} answers questions by email, and the person has no email address with us; suggest calling them`,
        );
      }
      const sent = {
        sent: true as const,
        venue: venue.name,
        note: 'The venue will answer the person directly.',
      };
      // Queued as a notice's email is (sent by its job, retried through an outage), once per
      // recipient and key.
      const asked = key ?? randomUUID();
      const dedupeKeys = recipients.map((to) => `ask-venue:${asked}:${to}`);
      if (key && (await db.outboundMessage.count({ where: { dedupeKey: { in: dedupeKeys } } }))) return sent;
      await spend();
      const person = asker;
      await db.$transaction(async (tx) => {
        for (const [index, to] of recipients.entries()) {
          await queueEmail(tx, {
            userId: context.userId,
            kind: 'venue.question',
            emailTo: to,
            subject: `A guest asks ${venue.name} a question`,
            body: [
              `${person.displayName ?? 'A guest'} asked, through their AGNT assistant:`,
              '',
              input.question,
              '',
              `You can answer them at ${person.email}.`,
            ].join('\n'),
            data: { venueId: venue.id },
            dedupeKey: dedupeKeys[index]!,
          });
        }
      });
      return sent;
    },
  });
}
