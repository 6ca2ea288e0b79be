/**
 * A lookup whose calls made together are answered by one read. Every call made before the
 * process next runs its queued ticks (one synchronous loop, or the promise continuations that
 * resume in one turn) joins the same batch; `load` gets each distinct key once and answers with
 * what it found, and a key it did not find gets `absent`. A failed load fails every call of its
 * batch, and nothing is remembered between batches: each batch reads afresh.
 *
 * This is for many independent callers asking the same kind of question at once (a thousand live
 * subscribers re-checking their access after one event), where one statement for all of them
 * costs about what one costs alone.
 */
export function batchedLookup<K, V>(
  load: (keys: K[]) => Promise<ReadonlyMap<K, V>>,
  absent: V,
): (key: K) => Promise<V> {
  let waiting: Map<K, { resolve: (value: V) => void; reject: (error: unknown) => void }[]> | null = null;
  const flush = () => {
    const batch = waiting;
    waiting = null;
    if (!batch) return;
    // A load that throws at once fails its batch like one that rejects.
    Promise.resolve([...batch.keys()])
      .then(load)
      .then((found) => {
        for (const [key, callers] of batch) {
          const value = found.has(key) ? (found.get(key) as V) : absent;
          for (const caller of callers) caller.resolve(value);
        }
      })
      // A promise settles once: callers answered before a failure keep their answer.
      .catch((error) => {
        for (const callers of batch.values()) for (const caller of callers) caller.reject(error);
      });
  };
  return (key) =>
    new Promise<V>((resolve, reject) => {
      if (!waiting) {
        waiting = new Map();
        process.nextTick(flush);
      }
      const callers = waiting.get(key);
      if (callers) callers.push({ resolve, reject });
      else waiting.set(key, [{ resolve, reject }]);
    });
}
