import { onboardingChecklist } from '../../domain/onboarding/checklist.ts';
import { builder } from '../builder.ts';
import { Organization } from './organization.ts';

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

const Checklist = builder.simpleObject('OnboardingChecklist', {
  fields: (t) => ({
    steps: t.field({ type: [Step] }),
    complete: t.boolean({ description: 'Every required step is done.' }),
    next: t.field({ type: StepKey, nullable: true, description: 'The first required step left.' }),
  }),
});

builder.prismaObjectField(Organization, 'onboarding', (t) =>
  t.field({
    type: Checklist,
    description: 'From sign-up to taking bookings: what is done and what is left.',
    resolve: (org, _args, ctx) => onboardingChecklist(ctx.services.db, ctx.access, org.id),
  }),
);
