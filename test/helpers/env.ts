// Where the tests find their services. Tests read process.env only here, never in src/.
export function testServerUrl(): string {
  return (process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432').replace(/\/$/, '');
}

export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}
