/**
 * The facts of a turn's system prompt, gathered at once: the person's profile, the memories that
 * matter for their message, their habits, the local time, and the weather and transport where they
 * are. Weather is a nicety: when it is slow or failing, the prompt goes without it.
 */
import type { WeatherClient } from '../../integrations/weather/open-meteo.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { MemorySearch } from '../memory/embeddings.ts';
import { memoriesForPrompt } from '../memory/memories.ts';
import { behaviourPatterns, describePatterns } from '../memory/patterns.ts';
import { profileForPrompt, profileSelect, toProfile } from '../memory/profile.ts';
import { getWeather, transportHints, weatherHint } from '../surroundings/weather-travel.ts';
import { PROMPT_BUDGETS, type TurnFacts } from './prompt.ts';

const WEATHER_WAIT_MS = 1500;

export function createFactsGatherer(deps: {
  db: Db;
  weather: WeatherClient | null;
  logger: Logger;
  /** Memories for the prompt mix in vectors when given. */
  memorySearch?: MemorySearch | undefined;
}) {
  return async (userId: string, text: string, now: Date): Promise<TurnFacts> => {
    const { db } = deps;
    const [user, memories, patterns] = await Promise.all([
      db.user.findUniqueOrThrow({ where: { id: userId }, select: profileSelect }),
      memoriesForPrompt(
        db,
        userId,
        { text, maxChars: PROMPT_BUDGETS.memories * 4 },
        { now: () => now, search: deps.memorySearch },
      ),
      behaviourPatterns(db, userId, now),
    ]);
    const profile = toProfile(user);
    const here =
      profile.latitude != null && profile.longitude != null
        ? { latitude: profile.latitude, longitude: profile.longitude }
        : null;
    let weather: Awaited<ReturnType<typeof getWeather>> | null = null;
    if (here && deps.weather) {
      try {
        weather = await getWeather(deps.weather, here, {
          now: () => now,
          signal: AbortSignal.timeout(WEATHER_WAIT_MS),
        });
      } catch (error) {
        deps.logger.debug({ err: error }, 'no weather for the prompt');
      }
    }
    // Their own zone, else the one of the place they last shared (the weather's): the turn's tools
    // read a local time they ask for in the same zone (ToolContext.timeZone).
    const timeZone = profile.timeZone ?? weather?.timeZone ?? null;
    return {
      person: {
        displayName: user.displayName,
        language: profile.language,
        profile: profileForPrompt(profile),
      },
      memories: memories.map((m) => m.content),
      patterns: describePatterns(patterns),
      now,
      timeZone: timeZone ?? 'UTC',
      timeZoneKnown: timeZone != null,
      weather: weather ? weatherHint(weather) : null,
      transport: here ? transportHints({ weather }) : null,
    };
  };
}
