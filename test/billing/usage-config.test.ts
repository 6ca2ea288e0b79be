/** Usage's configuration: defaults as the public pricing says, meters renamed, bounds checked. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('usage configuration', () => {
  it('defaults to booking.confirm at 25 US cents and 200 conversations on starter and growth', () => {
    const { usage } = loadConfig({ NODE_ENV: 'test' });
    expect(usage).toEqual({
      meters: {
        A2A_BOOKING: 'agnt_a2a_booking',
        CONVERSATION: 'agnt_conversation',
        LLM_TOKENS: 'agnt_llm_tokens',
        API_CALL: 'agnt_api_call',
        API_REQUEST: 'agnt_api_request',
      },
      conversationsIncluded: { VENUE_STARTER: 200, VENUE_GROWTH: 200, VENUE_PRO: 2000 },
      reportBatchSize: 100,
      apiCallPrice: 25,
      apiCallCurrency: 'USD',
      creditsMinPurchase: 500,
      creditsMaxPurchase: 100_000,
    });
  });

  it('takes other meter names, prices and allowances, and refuses nonsense', () => {
    const { usage } = loadConfig({
      NODE_ENV: 'test',
      STRIPE_METER_API_CALL: 'api.calls',
      API_CALL_PRICE_MINOR: '30',
      API_CALL_CURRENCY: 'eur',
      USAGE_CONVERSATIONS_VENUE_GROWTH: '0',
    });
    expect(usage.meters.API_CALL).toBe('api.calls');
    expect(usage).toMatchObject({ apiCallPrice: 30, apiCallCurrency: 'EUR' });
    expect(usage.conversationsIncluded.VENUE_GROWTH).toBe(0);

    const refused = () =>
      loadConfig({
        NODE_ENV: 'test',
        STRIPE_METER_LLM_TOKENS: 'has spaces',
        API_CALL_CURRENCY: 'dollars',
        USAGE_REPORT_BATCH_SIZE: '5000',
      });
    expect(refused).toThrow(ConfigError);
    try {
      refused();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.split(':')[0]).sort()).toEqual([
        'API_CALL_CURRENCY',
        'STRIPE_METER_LLM_TOKENS',
        'USAGE_REPORT_BATCH_SIZE',
      ]);
    }
    expect(() =>
      loadConfig({ NODE_ENV: 'test', CREDITS_MIN_PURCHASE_MINOR: '5000', CREDITS_MAX_PURCHASE_MINOR: '100' }),
    ).toThrow('CREDITS_MIN_PURCHASE_MINOR: more than CREDITS_MAX_PURCHASE_MINOR');
  });
});
