/** Billing's configuration: off without a key outside production, required in production, secrets rotate. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { PRODUCTION_ENV } from '../factories/config.ts';

const issues = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
};

describe('billing configuration', () => {
  it('is off without STRIPE_SECRET_KEY outside production, and says why', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const { billing } = loadConfig({ NODE_ENV });
      expect(billing).toEqual({
        stripe: undefined,
        plans: {
          VENUE_STARTER: undefined,
          VENUE_GROWTH: undefined,
          VENUE_PRO: undefined,
          DEVELOPER_FREE: null,
          DEVELOPER_PRO: undefined,
        },
        meteredPrices: {
          VENUE_STARTER: [],
          VENUE_GROWTH: [],
          VENUE_PRO: [],
          DEVELOPER_FREE: [],
          DEVELOPER_PRO: [],
        },
        creditsPrice: undefined,
        graceDays: 7,
        offReason: 'STRIPE_SECRET_KEY not set',
      });
    }
  });

  it('refuses to start production without the key or a webhook secret', () => {
    const { STRIPE_SECRET_KEY: _key, STRIPE_WEBHOOK_SECRETS: _secrets, ...others } = PRODUCTION_ENV;
    const rest = { ...others, METRICS_TOKEN: 'a-metrics-token-of-some-length' };
    expect(issues(rest)).toEqual([
      'STRIPE_SECRET_KEY: required in production',
      'STRIPE_WEBHOOK_SECRETS (or STRIPE_WEBHOOK_SECRET): required in production',
    ]);
    expect(issues({ ...rest, STRIPE_SECRET_KEY: 'sk_live_a1b2c3d4e5f6' })).toEqual([
      'STRIPE_WEBHOOK_SECRETS (or STRIPE_WEBHOOK_SECRET): required in production',
    ]);
    expect(
      issues({
        ...rest,
        STRIPE_SECRET_KEY: 'sk_live_a1b2c3d4e5f6',
        STRIPE_WEBHOOK_SECRET: 'whsec_one_secret',
      }),
    ).toEqual([]);
  });

  it('reads rotated secrets (the first is current, all verify), the API base and the timeout', () => {
    const { billing } = loadConfig({
      STRIPE_SECRET_KEY: 'sk_test_a1b2c3d4e5f6',
      STRIPE_WEBHOOK_SECRETS: ' whsec_current_1234, whsec_previous_5678 ',
      STRIPE_WEBHOOK_SECRET: 'whsec_current_1234',
      STRIPE_API_BASE: 'http://127.0.0.1:12111/',
      STRIPE_TIMEOUT_MS: '1500',
    });
    expect(billing).toEqual({
      stripe: {
        secretKey: 'sk_test_a1b2c3d4e5f6',
        webhookSecrets: ['whsec_current_1234', 'whsec_previous_5678'],
        apiBase: 'http://127.0.0.1:12111',
        timeoutMs: 1500,
      },
      plans: {
        VENUE_STARTER: undefined,
        VENUE_GROWTH: undefined,
        VENUE_PRO: undefined,
        DEVELOPER_FREE: null,
        DEVELOPER_PRO: undefined,
      },
      meteredPrices: {
        VENUE_STARTER: [],
        VENUE_GROWTH: [],
        VENUE_PRO: [],
        DEVELOPER_FREE: [],
        DEVELOPER_PRO: [],
      },
      creditsPrice: undefined,
      graceDays: 7,
      offReason: undefined,
    });
    expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_a1b2c3d4e5f6' }).billing.stripe?.apiBase).toBe(
      'https://api.stripe.com',
    );
    expect(issues({ STRIPE_SECRET_KEY: 'pk_test_not_a_secret' })[0]).toMatch(/^STRIPE_SECRET_KEY:/);
  });

  it("reads each plan's Stripe price, and production refuses to start without the paid plans'", () => {
    const { billing } = loadConfig({
      STRIPE_PRICE_VENUE_STARTER: 'price_starter1',
      STRIPE_PRICE_VENUE_GROWTH: 'price_growth1',
      STRIPE_PRICE_VENUE_PRO: 'price_pro1',
      STRIPE_PRICE_DEVELOPER_PRO: 'price_devpro1',
      STRIPE_PRICE_CREDITS: 'price_credits1',
    });
    expect(billing.plans).toEqual({
      VENUE_STARTER: ['price_starter1'],
      VENUE_GROWTH: ['price_growth1'],
      VENUE_PRO: ['price_pro1'],
      DEVELOPER_FREE: null,
      DEVELOPER_PRO: ['price_devpro1'],
    });
    expect(billing.creditsPrice).toBe('price_credits1');
    expect(issues({ STRIPE_PRICE_VENUE_PRO: 'prod_not_a_price' })[0]).toMatch(/^STRIPE_PRICE_VENUE_PRO:/);
    const { STRIPE_PRICE_VENUE_GROWTH: _growth, ...withoutGrowth } = PRODUCTION_ENV;
    expect(issues({ ...withoutGrowth, METRICS_TOKEN: 'a-metrics-token-of-some-length' })).toEqual([
      'STRIPE_PRICE_VENUE_GROWTH: required in production',
    ]);
  });

  it("reads a plan's earlier prices after the one it sells, and refuses a price named for two plans", () => {
    const { billing } = loadConfig({ STRIPE_PRICE_VENUE_GROWTH: ' price_growth2027 , price_growth2026 ' });
    expect(billing.plans.VENUE_GROWTH).toEqual(['price_growth2027', 'price_growth2026']);
    expect(
      issues({
        STRIPE_PRICE_VENUE_GROWTH: 'price_growth1',
        STRIPE_PRICE_VENUE_PRO: 'price_pro1,price_growth1',
      }),
    ).toEqual(["STRIPE_PRICE_VENUE_PRO: price_growth1 is STRIPE_PRICE_VENUE_GROWTH's price too"]);
    expect(issues({ STRIPE_PRICE_VENUE_PRO: ' , ' })[0]).toMatch(/^STRIPE_PRICE_VENUE_PRO:/);
  });

  it('keeps past-due subscriptions on for BILLING_GRACE_DAYS (7 by default, 0 restricts at once)', () => {
    expect(loadConfig({}).billing.graceDays).toBe(7);
    expect(loadConfig({ BILLING_GRACE_DAYS: '14' }).billing.graceDays).toBe(14);
    expect(loadConfig({ BILLING_GRACE_DAYS: '0' }).billing.graceDays).toBe(0);
    expect(issues({ BILLING_GRACE_DAYS: '-1' })[0]).toMatch(/^BILLING_GRACE_DAYS:/);
    expect(issues({ BILLING_GRACE_DAYS: 'a week' })[0]).toMatch(/^BILLING_GRACE_DAYS:/);
  });
});
