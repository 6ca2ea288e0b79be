import { defineConfig } from 'prisma/config';

// Used by the Prisma CLI only (generate, studio). The application reads DATABASE_URL through
// src/config.ts; migrations are applied by `npm run db:migrate` (scripts/migrate.ts).
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
