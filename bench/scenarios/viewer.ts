/**
 * The real server answering the first thing every client asks: who am I and where am I a member.
 * One request goes through the whole stack: JWT verification and the user lookup, the rate
 * limiter (one Redis script per IP and one per user), the hardening plugins, Pothos with the
 * Prisma plugin (the user with memberships and organisations), metrics and the response.
 * Compared with `yoga-bare`, the ratio is the price of all of that.
 */
import { randomBytes } from 'node:crypto';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { AGNT_METRICS_PATH, type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import { defineScenario } from '../lib/scenario.ts';

const ORGANIZATION_NAME = 'Bench Bistro Group';

const QUERY = 'query Viewer { viewer { memberships { organization { name } } } }';

export default defineScenario<AgntParams>(import.meta.url, {
  name: 'viewer',
  description: 'AGNT, authenticated `viewer { memberships { organization { name } } }`',
  baseline: 'yoga-bare',
  async prepare() {
    const agnt = await prepareAgnt();
    try {
      const user = await agnt.database.prisma.user.create({
        data: { email: `bench-${randomBytes(4).toString('hex')}@example.test`, displayName: 'Bench' },
      });
      await agnt.database.prisma.organization.create({
        data: { name: ORGANIZATION_NAME, memberships: { create: { userId: user.id, role: 'OWNER' } } },
      });
      const { token } = await issueAccessToken(agnt.keys, { userId: user.id, auth: agnt.config.auth });
      return {
        params: agnt.params,
        request: {
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: QUERY, operationName: 'Viewer' }),
        },
        check: ({ status, body }) => {
          const memberships = (
            body as { data?: { viewer?: { memberships?: { organization: { name: string } }[] } } }
          ).data?.viewer?.memberships;
          return status === 200 &&
            memberships?.length === 1 &&
            memberships[0]?.organization.name === ORGANIZATION_NAME
            ? undefined
            : `expected 200 with one membership in "${ORGANIZATION_NAME}", got ${status} ${JSON.stringify(body)}`;
        },
        sameBodyEveryTime: true,
        metricsPath: AGNT_METRICS_PATH,
        cleanup: () => agnt.cleanup(),
      };
    } catch (error) {
      await agnt.cleanup();
      throw error;
    }
  },
  serve: serveAgnt,
});
