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
  CLAWPULSE_API_KEY: 'a-clawpulse-gateway-key',
  STRIPE_SECRET_KEY: 'sk_live_a1b2c3d4e5f6',
  STRIPE_WEBHOOK_SECRETS: 'whsec_live_a1b2c3d4e5f6',
  STRIPE_PRICE_VENUE_STARTER: 'price_live_venue_starter',
  STRIPE_PRICE_VENUE_GROWTH: 'price_live_venue_growth',
  STRIPE_PRICE_VENUE_PRO: 'price_live_venue_pro',
  STRIPE_PRICE_DEVELOPER_PRO: 'price_live_developer_pro',
};

/** The GraphQL document limits as the app's settings. */
export function documentLimitsEnv(limits: {
  depth: number;
  cost: number;
  aliases: number;
  directives: number;
  tokens: number;
  characters: number;
}) {
  return {
    GRAPHQL_MAX_DEPTH: String(limits.depth),
    GRAPHQL_MAX_COST: String(limits.cost),
    GRAPHQL_MAX_ALIASES: String(limits.aliases),
    GRAPHQL_MAX_DIRECTIVES: String(limits.directives),
    GRAPHQL_MAX_TOKENS: String(limits.tokens),
    GRAPHQL_MAX_CHARACTERS: String(limits.characters),
  };
}
