/**
 * Every recurring schedule, in graphile-worker's crontab format (times in UTC):
 *
 * ```
 * # What the schedule does, and why this schedule.
 * ┌──────────── minute (0-59)
 * │ ┌────────── hour (0-23)
 * │ │ ┌──────── day of the month (1-31)
 * │ │ │ ┌────── month (1-12)
 * │ │ │ │ ┌──── day of the week (0-6, Sunday is 0)
 * │ │ │ │ │ ┌── task identifier          ┌── options                    ┌── optional JSON payload
 * 0 * * * * venue-daily-summary ?id=venue-daily-summary&fill=2h {"kind":"morning"}
 * ```
 *
 * Options: `id` (required), `fill` (after downtime, schedule the ticks missed within this
 * period: `30m`, `2h`, `1d`), `max` (attempts; the task declaration's `maxAttempts` when
 * absent), `priority`, `jobKey`, `jobKeyMode`. Queues are not used (see src/platform/jobs.ts).
 * The job's payload is the JSON given, plus `_cron: { ts, backfilled }` (the tick), which the
 * task's schema may read through `cronPayload`.
 *
 * Every line names a permanent `?id=`: graphile-worker records each schedule's last tick under
 * that id, which is how each tick runs once across all workers and how backfill knows what was
 * missed. Changing an id forgets that history (and can run a tick twice); add a new line instead.
 *
 * A worker checks this file when it starts (src/worker/crontab-check.ts) and refuses to start when a
 * line has no comment above it, no id, an unknown task or a payload its task would reject.
 */
export const crontab = `
# Each venue's owners and admins get the day's bookings at 07:00 in the venue's own time zone;
# time zones differ, so the task runs hourly and serves the venues where it is now 07:00.
# After downtime, missed hours within 3 h are run late; the tick's time decides who is due.
0 * * * * venue-daily-summary ?id=venue-daily-summary&fill=3h

# A person whose message waits with no job coming (its worker died, a bug, a job cancelled by
# hand) is served within two minutes: every outbox group (chat) whose rows have waited over a
# minute with no runnable job gets its job again. No fill: each sweep looks at everything.
* * * * * outbox-sweep ?id=outbox-sweep

# Every agent the gateway should know as it is now: agents whose registration is behind (a job that
# failed for good, a change whose job was lost) are queued again. Each run looks at everything.
*/10 * * * * agent-register-sweep ?id=agent-register-sweep

# The embedded ClawPulse gateway keeps acknowledged messages a day (for operators), then deletes
# them, hourly so each run deletes little. No fill: each run deletes everything that is due.
17 * * * * clawpulse-gateway-prune ?id=clawpulse-gateway-prune

# Outbound A2A envelopes past their expiry and never answered (PENDING, SENT or DELIVERED) become
# EXPIRED, so what waits for an answer is what may still get one. Each run looks at everything.
*/15 * * * * reap-stale-envelopes ?id=reap-stale-envelopes

# Inbound replies left unhandled for 30 minutes that answer no envelope of ours, or whose booking
# is gone, are closed with the reason, never acted on. Each run looks at everything.
*/30 * * * * sweep-orphaned-responses ?id=sweep-orphaned-responses

# Subscriptions whose webhooks were lost are put right: each one that can still change is re-read
# from Stripe, daily at 05:00 WITA. A day missed within a day is run late. Billing off: a no-op.
0 21 * * * reconcile-subscriptions ?id=reconcile-subscriptions&fill=1d

# Metered usage goes to Stripe Billing Meters within a quarter of an hour: LLM tokens and
# conversations beyond the plan are collected, then every unreported event is sent once (its id is
# Stripe's identifier). No fill: each run reports everything still unreported.
*/15 * * * * report-usage ?id=report-usage

# API keys' requests per day go from Redis to the database every five minutes (the dashboard's
# figures lag by at most that), and the first run after midnight UTC records each key's finished
# day as one usage event. No fill: each run flushes today and the two days before as they are.
*/5 * * * * api-usage-flush ?id=api-usage-flush

# Pay-as-you-go booking fees whose charge was declined are tried again once their wait is over
# (it doubles after each decline, up to FEE_CHARGE_MAX_ATTEMPTS), and completed bookings whose fee
# job was lost get their fee. No fill: each run looks at everything that is due.
*/30 * * * * retry-pending-fees ?id=retry-pending-fees

# The 1st of each month at 01:00 UTC (09:00 WITA): every organisation's pending booking fees of
# the months before go on its Stripe invoice. Missed by downtime, it runs late within 3 days; the
# tick's time decides the month, and a rerun adds nothing (idempotency keys).
0 1 1 * * monthly-invoice ?id=monthly-invoice&fill=3d

# History past its retention (finished webhook deliveries 30 days, public A2A tasks 7 or 180 days,
# recovered-job records 90 days, sign-in codes and refresh-token families a day after they expired;
# src/domain/operations/retention.ts) is deleted daily at 03:30 UTC,
# in batches. No fill: each run deletes everything that is due.
30 3 * * * data-retention ?id=data-retention

# New and changed memories get their vectors for recall within five minutes (full-text finds them
# at once), at most 500 a run, oldest first. Without EMBEDDINGS_PROVIDER a no-op. No fill.
*/5 * * * * memory-embed ?id=memory-embed

# Light dreaming, nightly at 02:15 UTC when few people talk: each person with new memories or chat
# summaries gets duplicates merged, contradictions resolved (newest wins), unused memories faded;
# at most DREAM_PEOPLE_PER_RUN people, the rest the next night. No fill: each run takes who waits.
15 2 * * * dream-light ?id=dream-light

# Deep dreaming, weekly on Sunday at 03:45 UTC (after the light dream and the retention job):
# booking habits and profile gaps rebuilt, for people not done in six days, at most
# DREAM_PEOPLE_PER_RUN a run. Missed by downtime, it runs late within 2 days.
45 3 * * 0 dream-deep ?id=dream-deep&fill=2d

# Each person's taste graph (src/domain/graph: venues, cuisines and areas weighted by bookings,
# feedback and memories, for their search ranking and suggestions) is rebuilt hourly, only for
# people with new material since their last build, at most 200 a run, oldest change first. No
# fill: each run takes whoever is due, and what is left waits for the next hour.
41 * * * * graph-build ?id=graph-build

# Each venue's wiki (src/domain/network/venue-wiki.ts) takes in what changed in its record, staff's
# answers to guests and guests' feedback, every 4 hours so the venue's agent answers new facts the
# same day; up to 200 venues a run, those compiled longest ago first. No fill: a watermark per
# venue says what is still to read.
40 */4 * * * venue-wiki ?id=venue-wiki

# Frequent guest questions become FAQ drafts for staff to approve (src/domain/network/venue-faq.ts),
# weekly on Monday at 02:50 UTC, before the week's service: a week gathers enough asks to count.
# No fill: a watermark per venue says what is still to read.
50 2 * * 1 venue-faq ?id=venue-faq


# Reminders people set through their agent (set_reminder) are sent within five minutes of their
# time, each exactly once (claimed with SKIP LOCKED in the transaction that queues its message),
# at most 1,000 a run. No fill: each run sends everything that is due.
*/5 * * * * deliver-reminders ?id=deliver-reminders

# Bookings whose own job was lost (cancelled by hand, failed for good) still expire, become no-shows
# and complete: 15 minutes after their job should have run, through the job's own function, at most
# 200 of each a run. No fill: each run looks at everything that is overdue.
*/15 * * * * booking-sweep ?id=booking-sweep

# Accounts deleted 30 days ago or more are purged: everything personal erased or anonymised
# (README, "Account deletion"), daily at 02:45 UTC, at most 100 a run, each in its own transaction.
# No fill: each run purges everything that is due.
45 2 * * * purge-deleted-users ?id=purge-deleted-users

# People who asked for check-ins and have been quiet two weeks get one friendly message at 17:00 on
# their own clock (when evenings get planned): hourly, each run taking the people whose clock reads
# 17:xx, at most 1,000 a run and once a week each. No fill: a missed hour waits for the next day's.
0 * * * * reengage-people ?id=reengage-people
`;
