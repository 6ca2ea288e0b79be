/**
 * How a guest's question is filed and matched in the venue's wiki and FAQ: the same question in
 * other words finds the same key, a question about one side of a topic does not take the topic's
 * general answer, and a question tied to a day is never filed.
 */
import { describe, expect, it } from 'vitest';
import {
  feedbackKey,
  isTimeBound,
  keySimilarity,
  questionKey,
  SAME_QUESTION,
} from '../../src/domain/network/wiki-keys.ts';

describe('questionKey', () => {
  it.each([
    ['Can I bring my dog?', 'pets'],
    ['Are dogs allowed?', 'pets'],
    ['¿Puedo llevar a mi perro?', 'pets'],
    ['Posso levar o meu cão?', 'pets'],
    ['Do you have a high chair?', 'children'],
    ['Any high chairs for the baby?', 'children'],
    ['Is there parking nearby?', 'parking'],
    ['Do you have wifi?', 'wifi'],
    ["What's your phone number?", 'phone'],
  ])('%s → %s', (question, key) => {
    expect(questionKey(question)).toBe(key);
  });

  it('files a question about one side of a topic under its own words, not the topic', () => {
    expect(questionKey('Is the terrace heated?')).toBe('question:heated terrace');
    expect(questionKey('Do you have a terrace?')).toBe('outdoor');
  });

  it('files a question that names no topic under its content words, so rewordings meet', () => {
    const a = questionKey('Do you serve brunch on Sundays?')!;
    const b = questionKey('Brunch on sunday?')!;
    expect(a).toBe('question:brunch serve sunday');
    expect(keySimilarity(a, b)).toBeGreaterThanOrEqual(SAME_QUESTION);
    expect(keySimilarity(a, questionKey('Do you serve cocktails?')!)).toBeLessThan(SAME_QUESTION);
  });

  it('gives nothing to file for words that carry no meaning', () => {
    expect(questionKey('Hi, can you?')).toBeNull();
  });
});

describe('keySimilarity', () => {
  it('is 1 for one key, and 0 between a topic and anything else', () => {
    expect(keySimilarity('pets', 'pets')).toBe(1);
    expect(keySimilarity('pets', 'parking')).toBe(0);
    expect(keySimilarity('pets', 'question:dog')).toBe(0);
  });
});

describe('isTimeBound', () => {
  it('knows questions tied to a day, in the four languages', () => {
    for (const q of ['Are you open tonight?', '¿Abren hoy?', 'Estão abertos amanhã?', 'Buka hari ini?']) {
      expect(isTimeBound(q), q).toBe(true);
    }
    expect(isTimeBound('Can I bring my dog?')).toBe(false);
  });
});

describe('feedbackKey', () => {
  it('files a comment on exactly one topic, and no other', () => {
    expect(feedbackKey('They would not let our dog in.')).toBe('pets');
    expect(feedbackKey('Lovely evening, great fish.')).toBeNull();
    expect(feedbackKey('No parking and no wifi.')).toBeNull();
  });
});
