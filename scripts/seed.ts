// `npm run db:seed`: seeds the demo network into an empty database.
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { seedDemoNetwork } from '../src/domain/demo/seed.ts';
import { connectDatabase } from '../src/platform/db.ts';
import { loadKeyring } from '../src/wiring/services.ts';

try {
  const config = loadConfig();
  const db = connectDatabase(config.database.url ?? config.database.defaultUrl, 2);
  try {
    const seeded = await seedDemoNetwork(db.prisma, await loadKeyring(config));
    console.log(
      seeded ? 'Seeded the demo network.' : 'The database already has organisations; nothing seeded.',
    );
  } finally {
    await db.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
