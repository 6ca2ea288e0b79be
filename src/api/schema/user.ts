import { builder } from '../builder.ts';

export const User = builder.prismaNode('User', {
  id: { field: 'id' },
  description: 'A person with an account. Visible to themselves, their colleagues and platform admins.',
  authScopes: (user) => ({ seesUser: user.id }),
  fields: (t) => ({
    displayName: t.exposeString('displayName', { nullable: true }),
    email: t.exposeString('email', {
      nullable: true,
      description: 'Visible to colleagues, the person themselves and platform admins.',
    }),
    memberships: t.relation('memberships', {
      description: 'The organisations this person belongs to, with their role in each.',
      authScopes: (user, _args, ctx) =>
        ctx.actor.kind === 'user' && ctx.actor.userId === user.id ? true : { platformAdmin: true },
      query: { orderBy: { createdAt: 'asc' } },
    }),
    isPlatformAdmin: t.exposeBoolean('isPlatformAdmin'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.prismaField({
    type: User,
    nullable: true,
    description: 'The signed-in person (for an API key, the person who created it), or null.',
    resolve: (query, _root, _args, ctx) => {
      if (ctx.actor.kind === 'anonymous') {
        // No viewer. Reading the query marks it used: otherwise the Prisma plugin's unused-query
        // check (an error outside production) fails `viewer { memberships }` for anonymous callers.
        void { ...query };
        return null;
      }
      return ctx.domain.identity.findUser(ctx.actor.userId, query);
    },
  }),
);
