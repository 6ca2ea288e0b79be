/** Configurations tests load, beside the test app's own. */

/** The least a production configuration needs (monitoring aside): real-looking services and keys. */
export const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  JWT_PRIVATE_KEY: 'pem',
  JWT_KEY_ID: 'k1',
  DATABASE_URL: 'postgresql://db/agnt',
  SMTP_URL: 'smtp://mail',
  AGENT_SECRET_KEYS: `k1:${'A'.repeat(43)}`,
  SESSION_KEYS: `${'A'.repeat(43)}=`,
};
