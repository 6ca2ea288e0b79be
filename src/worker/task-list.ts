/**
 * Every task this codebase runs. Each lives in its own file under tasks/, named by its task
 * identifier, and is listed here once.
 */
import type { TaskList } from 'graphile-worker';
import type { WorkerDeps } from '../wiring/deps.ts';
import type { TaskHandler } from './handler.ts';
import a2aAnswerDue from './tasks/a2a-answer-due.ts';
import a2aHandle from './tasks/a2a-handle.ts';
import a2aInbox from './tasks/a2a-inbox.ts';
import a2aSend from './tasks/a2a-send.ts';
import agentRegister from './tasks/agent-register.ts';
import agentRegisterSweep from './tasks/agent-register-sweep.ts';
import apiUsageFlush from './tasks/api-usage-flush.ts';
import bookingComplete from './tasks/booking-complete.ts';
import bookingExpire from './tasks/booking-expire.ts';
import bookingFee from './tasks/booking-fee.ts';
import bookingFeedback from './tasks/booking-feedback.ts';
import bookingNoShow from './tasks/booking-no-show.ts';
import bookingReminder from './tasks/booking-reminder.ts';
import bookingSweep from './tasks/booking-sweep.ts';
import businessScan from './tasks/business-scan.ts';
import chatInbound from './tasks/chat-inbound.ts';
import chatSend from './tasks/chat-send.ts';
import clawpulseGatewayPrune from './tasks/clawpulse-gateway-prune.ts';
import dataRetention from './tasks/data-retention.ts';
import deliverReminders from './tasks/deliver-reminders.ts';
import dreamDeep from './tasks/dream-deep.ts';
import dreamLight from './tasks/dream-light.ts';
import graphBuild from './tasks/graph-build.ts';
import lalamoveEvent from './tasks/lalamove-event.ts';
import memoryEmbed from './tasks/memory-embed.ts';
import monthlyInvoice from './tasks/monthly-invoice.ts';
import noop from './tasks/noop.ts';
import noticeEmail from './tasks/notice-email.ts';
import outboxSweep from './tasks/outbox-sweep.ts';
import purgeDeletedUsers from './tasks/purge-deleted-users.ts';
import reapStaleEnvelopes from './tasks/reap-stale-envelopes.ts';
import reconcileSubscriptions from './tasks/reconcile-subscriptions.ts';
import reengagePeople from './tasks/reengage-people.ts';
import reportUsage from './tasks/report-usage.ts';
import retryPendingFees from './tasks/retry-pending-fees.ts';
import stripeEvent from './tasks/stripe-event.ts';
import subscriptionGraceEnd from './tasks/subscription-grace-end.ts';
import sweepOrphanedResponses from './tasks/sweep-orphaned-responses.ts';
import venueDailySummary from './tasks/venue-daily-summary.ts';
import venueFaq from './tasks/venue-faq.ts';
import venueWiki from './tasks/venue-wiki.ts';
import webhookDrain from './tasks/webhook-drain.ts';

export const handlers: readonly TaskHandler[] = [
  noop,
  bookingExpire,
  bookingReminder,
  bookingNoShow,
  bookingComplete,
  bookingFeedback,
  venueDailySummary,
  chatInbound,
  chatSend,
  noticeEmail,
  outboxSweep,
  a2aSend,
  a2aInbox,
  a2aHandle,
  a2aAnswerDue,
  reapStaleEnvelopes,
  sweepOrphanedResponses,
  lalamoveEvent,
  stripeEvent,
  reconcileSubscriptions,
  subscriptionGraceEnd,
  reportUsage,
  agentRegister,
  agentRegisterSweep,
  clawpulseGatewayPrune,
  dataRetention,
  bookingFee,
  retryPendingFees,
  monthlyInvoice,
  webhookDrain,
  apiUsageFlush,
  memoryEmbed,
  dreamLight,
  dreamDeep,
  graphBuild,
  venueWiki,
  venueFaq,
  deliverReminders,
  bookingSweep,
  purgeDeletedUsers,
  reengagePeople,
  businessScan,
];

/**
 * The graphile-worker task list for these handlers, bound to the process's services. A worker
 * only picks up jobs of the tasks it lists; two handlers for one task are a mistake.
 */
export function taskList(deps: WorkerDeps, list: readonly TaskHandler[]): TaskList {
  const tasks: TaskList = {};
  for (const handler of list) {
    if (tasks[handler.name]) throw new Error(`Two handlers for task "${handler.name}"`);
    tasks[handler.name] = handler.bind(deps, { slowOperationMs: deps.config.monitoring.slowOperationMs });
  }
  return tasks;
}
