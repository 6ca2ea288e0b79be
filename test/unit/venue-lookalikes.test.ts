import { describe, expect, it } from 'vitest';
import {
  nameSimilarity,
  namesLookAlike,
  normalizeVenueName,
  websiteHost,
} from '../../src/domain/venues/lookalikes.ts';

describe('venue lookalikes', () => {
  it('compares names without case, accents or punctuation', () => {
    expect(normalizeVenueName("  Café  D'Ouro! ")).toBe('cafe d ouro');
    expect(nameSimilarity('Café Central', 'CAFE CENTRAL')).toBe(1);
  });

  it('scores names as pg_trgm does', () => {
    // pg_trgm: similarity('harbour lights bistro', 'harbour lights') = 0.68
    expect(nameSimilarity('Harbour Lights Bistro', 'Harbour Lights')).toBeCloseTo(0.68, 2);
    expect(nameSimilarity('word', 'word')).toBe(1);
    expect(nameSimilarity('abc', 'xyz')).toBe(0);
    expect(nameSimilarity('', 'xyz')).toBe(0);
  });

  it('flags close names and a name held whole in another, not neighbours that merely share a word', () => {
    expect(namesLookAlike('Harbour Lights Bistro', 'Harbor Lights Bistro')).toBe(true);
    expect(namesLookAlike('Harbour Lights', 'The Real Harbour Lights Restaurant Lisboa')).toBe(true);
    expect(namesLookAlike('Grill do Cais', 'Tasca do Grill')).toBe(false);
    expect(namesLookAlike('Sushi Alfama', 'Sushi Bairro')).toBe(false);
    // A short name inside a longer one says little ("Bar" in "Bar Noturno").
    expect(namesLookAlike('Bar', 'Bar Noturno')).toBe(false);
  });

  it('reads a website as its host, without www', () => {
    expect(websiteHost('https://www.Harbour.pt/menu')).toBe('harbour.pt');
    expect(websiteHost('not a url')).toBeNull();
    expect(websiteHost(null)).toBeNull();
  });
});
