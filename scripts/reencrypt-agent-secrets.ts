// `npm run agents:reencrypt`: after putting a new key first in AGENT_SECRET_KEYS, re-encrypts every
// secret sealed with that keyring under it: the agents' signing secrets (and gives agents that have
// none a secret) and the outbound webhooks' signing secrets. Then drop the old key.
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { reencryptAgentSecrets } from '../src/domain/agents/agents.ts';
import { reencryptWebhookSecrets } from '../src/domain/outbound-webhooks/subscriptions.ts';
import { connectDatabase } from '../src/platform/db.ts';
import { loadKeyring } from '../src/wiring/services.ts';

try {
  const config = loadConfig();
  const keyring = await loadKeyring(config);
  const db = connectDatabase(config.database.url ?? config.database.defaultUrl, 2);
  try {
    const agents = await reencryptAgentSecrets(db.prisma, keyring);
    const webhooks = await reencryptWebhookSecrets(db.prisma, keyring);
    console.log(
      `Re-encrypted the secrets of ${agents} agent(s) and ${webhooks} webhook subscription(s) under key ${keyring.currentKeyId}.`,
    );
  } finally {
    await db.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
