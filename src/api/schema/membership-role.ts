import { describedEnum } from './enums.ts';

export const MembershipRole = describedEnum('MembershipRole', {
  OWNER: 'Full control, including owners and deletion.',
  ADMIN: 'Manages venues, members (other than owners) and API keys.',
  STAFF: 'Reads and works day to day.',
});
