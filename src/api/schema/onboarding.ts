import type { OnboardingChecklist } from '../../domain/onboarding/checklist.ts';
import { builder } from '../builder.ts';
import { Organization } from './organization.ts';
import { Venue } from './venue.ts';

const StepKey = builder.enumType('OnboardingStepKey', {
  values: ['organization', 'venue', 'venueDetails', 'published', 'team', 'apiKey'] as const,
});

const Step = builder.simpleObject('OnboardingStep', {
  fields: (t) => ({
    key: t.field({ type: StepKey }),
    done: t.boolean(),
    required: t.boolean(),
    hint: t.string({ description: 'What to do next, in words a dashboard can show.' }),
  }),
});

const Checklist = builder.objectRef<OnboardingChecklist>('OnboardingChecklist').implement({
  fields: (t) => ({
    steps: t.expose('steps', { type: [Step] }),
    complete: t.exposeBoolean('complete', { description: 'Every required step is done.' }),
    next: t.expose('next', { type: StepKey, nullable: true, description: 'The first required step left.' }),
    venue: t.field({
      type: Venue,
      nullable: true,
      description:
        'The venue the venue steps follow: the first on the network once there is one, else the draft nearest to ready.',
      resolve: (checklist, _args, ctx) =>
        checklist.venueId ? ctx.domain.venues.findVenue(checklist.venueId) : null,
    }),
  }),
});

builder.prismaObjectField(Organization, 'onboarding', (t) =>
  t.field({
    type: Checklist,
    description: 'From sign-up to taking bookings: what is done and what is left.',
    resolve: (org, _args, ctx) => ctx.domain.onboarding.onboardingChecklist(ctx.access, org.id),
  }),
);
