// On its own so that Organization (its viewer's role) and Membership can both use it without
// importing each other.
import { builder } from '../builder.ts';

export const MembershipRole = builder.enumType('MembershipRole', {
  values: {
    OWNER: { description: 'Full control, including owners and deletion.' },
    ADMIN: { description: 'Manages venues, members (other than owners) and API keys.' },
    STAFF: { description: 'Reads and works day to day.' },
  } as const,
});
