/**
 * Who is calling. Built only from a verified access token or API key (never from headers such as
 * `X-User-Id`), then passed into every domain function that needs to know.
 */
import type { MembershipRole } from '../../generated/prisma/enums.ts';

export type ApiKeyScope = 'read' | 'write';

export type Actor =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; isPlatformAdmin: boolean }
  | {
      kind: 'apiKey';
      apiKeyId: string;
      organizationId: string;
      /** The user who created the key; what the key does is done on their behalf. */
      userId: string;
      scopes: ApiKeyScope[];
      /**
       * The role the key acts with in its organisation: its scope's (`write` an ADMIN's, `read` a
       * STAFF's), never more than its creator holds there at the moment it is presented.
       */
      role: MembershipRole;
    };

export const anonymous: Actor = { kind: 'anonymous' };

export type { MembershipRole };
