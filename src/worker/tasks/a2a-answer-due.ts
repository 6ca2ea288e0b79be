import { a2aAnswerDueTask, tellIfNotAnswered } from '../../domain/network/answer-due.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** A booking request's TTL is over: the guest is told once if the venue's agent has not answered. */
export default defineHandler(a2aAnswerDueTask, async (payload, { services, logger }: TaskContext<'db'>) => {
  const outcome = await tellIfNotAnswered(services.db, payload);
  if (outcome === 'told') logger.info({ 'booking.id': payload.bookingId }, 'guest told: not answered yet');
});
