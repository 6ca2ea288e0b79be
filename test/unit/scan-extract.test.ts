/** What the scan reads out of HTML, without a network: structured data, hours, prices, handles, scores. */
import { describe, expect, it } from 'vitest';
import { businessFacts, hoursFromSpecification, hoursFromText } from '../../src/domain/scan/business.ts';
import { extractPage } from '../../src/domain/scan/extract.ts';
import { buildDraft, priceLevelOf, scoreScan, socialHandles } from '../../src/domain/scan/report.ts';

const page = (head: string, body = '') =>
  `<!doctype html><html><head>${head}</head><body>${body}</body></html>`;
const jsonLd = (data: unknown) => `<script type="application/ld+json">${JSON.stringify(data)}</script>`;

describe('structured data', () => {
  it('prefers the most specific business node of a top-level array over the LocalBusiness that publishes it', () => {
    const facts = extractPage(
      page(
        jsonLd([
          { '@context': 'https://schema.org', '@type': 'LocalBusiness', name: 'Holding Ltd' },
          { '@context': 'https://schema.org', '@type': ['BarOrPub', 'Restaurant'], name: 'The Crown' },
        ]),
      ),
      'https://crown.example/',
    );
    expect(facts.business).toMatchObject({ source: 'json-ld', node: { name: 'The Crown' } });
  });

  it('counts JSON-LD that does not parse, and falls back to microdata', () => {
    const facts = extractPage(
      page(
        '<script type="application/ld+json">{ "@type": "Restaurant", name: oops }</script>',
        '<div itemscope itemtype="http://schema.org/Restaurant"><span itemprop="name">Oops Diner</span></div>',
      ),
      'https://oops.example/',
    );
    expect(facts.brokenJsonLd).toBe(1);
    expect(facts.business).toMatchObject({ source: 'microdata', node: { name: 'Oops Diner' } });
    const scores = scoreScan(businessFacts([facts]), facts.brokenJsonLd);
    expect(scores[2]!.suggestions[0]).toBe(
      'Fix the JSON-LD on your site: 1 block is not valid JSON and is ignored',
    );
  });

  it('keeps a nested microdata item’s properties apart from its parent’s', () => {
    const facts = extractPage(
      page(
        '',
        `<div itemscope itemtype="https://schema.org/Restaurant">
          <span itemprop="name">Casa</span>
          <div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">
            <span itemprop="name">Not the restaurant</span><span itemprop="addressLocality">Lisboa</span>
          </div>
        </div>`,
      ),
      'https://casa.example/',
    );
    expect(facts.business?.node).toMatchObject({
      name: 'Casa',
      address: { name: 'Not the restaurant', addressLocality: 'Lisboa' },
    });
  });

  it('falls back to OpenGraph and the meta description, and reads tel:, mailto: and menu links', () => {
    const facts = extractPage(
      page(
        '<title>Home</title><meta property="og:site_name" content="Bistro Nord"><meta name="description" content="Small plates.">',
        `<a href="tel:+45%2033%2012%2034%2056">Call</a> <a href="mailto:Hej@Bistro.example?subject=Table">Mail</a>
         <a href="/carte">La carte</a> <a href="https://cdn.example/x/drinks-2026.pdf">Wine list</a>
         <a href="https://www.instagram.com/bistronord/">IG</a> <a href="/about-us">About</a>`,
      ),
      'https://bistro.example/',
    );
    expect(facts.phones).toEqual(['+4533123456']);
    expect(facts.emails).toEqual(['hej@bistro.example']);
    expect(facts.menuLinks).toEqual([
      'https://bistro.example/carte',
      'https://cdn.example/x/drinks-2026.pdf',
    ]);
    expect(facts.socialLinks).toEqual(['https://www.instagram.com/bistronord/']);
    expect(facts.nextPages).toEqual(['https://bistro.example/about-us']);
    const business = businessFacts([facts]);
    expect(business).toMatchObject({
      structuredSource: null,
      name: 'Bistro Nord',
      description: 'Small plates.',
    });
  });

  it('reads links whose escapes are not UTF-8, or stray, instead of failing the page', () => {
    const facts = extractPage(
      page(
        '<title>Hôtel</title>',
        '<a href="mailto:r%E9servation@hotel.example">Mail</a> <a href="tel:+33%201%2042%2068%2053%2000%">Call</a>',
      ),
      'https://hotel.example/',
    );
    expect(facts.emails).toEqual(['réservation@hotel.example']);
    expect(facts.phones).toEqual(['+33142685300']);
  });
});

describe('opening hours', () => {
  it('reads openingHours text, ranges wrapping the week and lists', () => {
    expect(hoursFromText(['Fr-Mo 18:00-02:00', 'We 12:00-15:00'])).toEqual([
      { weekday: 0, opensAt: '18:00', closesAt: '02:00' },
      { weekday: 1, opensAt: '18:00', closesAt: '02:00' },
      { weekday: 3, opensAt: '12:00', closesAt: '15:00' },
      { weekday: 5, opensAt: '18:00', closesAt: '02:00' },
      { weekday: 6, opensAt: '18:00', closesAt: '02:00' },
    ]);
    expect(hoursFromText('Mo,We 9:00-17:30; nonsense')).toEqual([
      { weekday: 1, opensAt: '09:00', closesAt: '17:30' },
      { weekday: 3, opensAt: '09:00', closesAt: '17:30' },
    ]);
  });

  it('does not read a line far longer than hours are (a page crafted to stall the pattern)', () => {
    // A million spaces took the pattern minutes (it backtracked over them): past the test's timeout.
    const hostile = `Mo${' '.repeat(1_000_000)}x`;
    expect(hoursFromText([hostile, 'Tu 12:00-15:00'])).toEqual([
      { weekday: 2, opensAt: '12:00', closesAt: '15:00' },
    ]);
  });

  it('reads openingHoursSpecification with seconds and schema.org day URLs, skipping what is not a time', () => {
    expect(
      hoursFromSpecification([
        { dayOfWeek: 'http://schema.org/Sunday', opens: '10:00:00', closes: '14:00:00' },
        { dayOfWeek: 'Monday', opens: 'noon', closes: '14:00' },
      ]),
    ).toEqual([{ weekday: 0, opensAt: '10:00', closesAt: '14:00' }]);
  });
});

describe('the draft and scores', () => {
  it('turns price symbols into a level, and figures into none', () => {
    expect(priceLevelOf('€€€')).toBe(3);
    expect(priceLevelOf('$')).toBe(1);
    expect(priceLevelOf('€10-20')).toBeNull();
    expect(priceLevelOf(null)).toBeNull();
  });

  it('finds one handle per network from profile links', () => {
    expect(
      socialHandles([
        'https://www.facebook.com/casa.lisboa',
        'https://twitter.com/casalisboa',
        'https://www.tiktok.com/@casalisboa',
        'https://www.facebook.com/other',
        'https://example.com/casa',
      ]),
    ).toEqual([
      { network: 'facebook', handle: '@casa.lisboa' },
      { network: 'x', handle: '@casalisboa' },
      { network: 'tiktok', handle: '@casalisboa' },
    ]);
  });

  it('leaves out of the draft what a venue would refuse (a local phone number, a country name)', () => {
    const facts = businessFacts([
      extractPage(
        page(
          jsonLd({
            '@type': 'Restaurant',
            name: 'Casa',
            telephone: '21 234 5678',
            address: { '@type': 'PostalAddress', addressCountry: 'Portugal', addressLocality: 'Lisboa' },
          }),
        ),
        'https://casa.example/',
      ),
    ]);
    const fields = buildDraft(facts, 'https://casa.example/', null).map((d) => d.field);
    expect(fields).toEqual(['name', 'category', 'city', 'website']);
  });
});
