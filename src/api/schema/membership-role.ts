import { describedEnum } from './enums.ts';

export const MembershipRole = describedEnum('MembershipRole', {
  OWNER: 'Full control, including who else is an owner; told of billing and webhook problems.',
  ADMIN: 'Manages venues, members (other than owners) and API keys.',
  STAFF: 'Reads and works day to day.',
});
