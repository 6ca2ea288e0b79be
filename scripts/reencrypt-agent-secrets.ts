// `npm run agents:reencrypt`: after putting a new key first in AGENT_SECRET_KEYS, re-encrypts every
// agent signing secret under it (and gives agents that have none a secret). Then drop the old key.
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { reencryptAgentSecrets } from '../src/domain/agents/agents.ts';
import { connectDatabase } from '../src/platform/db.ts';
import { loadKeyring } from '../src/wiring/services.ts';

try {
  const config = loadConfig();
  const keyring = await loadKeyring(config);
  const db = connectDatabase(config.database.url ?? config.database.defaultUrl, 2);
  try {
    const changed = await reencryptAgentSecrets(db.prisma, keyring);
    console.log(`Re-encrypted ${changed} agent secret(s) under key ${keyring.currentKeyId}.`);
  } finally {
    await db.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
