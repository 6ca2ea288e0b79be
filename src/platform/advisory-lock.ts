import type pg from 'pg';

/**
 * Runs `work` while holding a PostgreSQL advisory lock on `key`, on a connection of its own, or
 * returns `{ locked: false }` at once when another session holds it. If this process dies, its
 * connection closes and the lock goes with it, so a crashed worker never leaves a key locked.
 * `pool` is `Database.locks`, not the pool `work` queries through: lock holders that took every
 * query connection would each wait for another forever.
 */
export async function withAdvisoryLock<T>(
  pool: pg.Pool,
  key: string,
  work: () => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
      [key],
    );
    if (!rows[0]?.locked) return { locked: false };
    try {
      return { locked: true, value: await work() };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
    }
  } finally {
    client.release();
  }
}
