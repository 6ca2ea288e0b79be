// Imports every type file, then builds. Nothing is defined here.
import { builder } from './builder.ts';
import './schema/scalars.ts';
import './schema/errors.ts';
import './schema/user.ts';
import './schema/memory.ts';
import './schema/membership-role.ts';
import './schema/organization.ts';
import './schema/billing.ts';
import './schema/usage.ts';
import './schema/membership.ts';
import './schema/api-key.ts';
import './schema/webhook.ts';
import './schema/auth.ts';
import './schema/venue.ts';
import './schema/agent.ts';
import './schema/onboarding.ts';
import './schema/venue-search.ts';
import './schema/booking.ts';
import './schema/booking-fee.ts';
import './schema/venue-inbox.ts';
import './schema/envelope.ts';
import './schema/channel.ts';
import './schema/venue-claim.ts';
import './schema/venue-review.ts';
import './schema/job.ts';
import './schema/node.ts';

export const schema = builder.toSchema({ sortSchema: true });
