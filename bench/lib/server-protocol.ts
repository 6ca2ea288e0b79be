/** The messages between the bench process and a server child (Node IPC, structured clone). */

export interface ServerSample {
  loopActiveMs: number;
  loopIdleMs: number;
  /** The longest the event loop was held up since the previous sample, ms (null at the first). */
  loopDelayMaxMs: number | null;
  /** User plus system CPU time of the whole server process; null when it is not measurable. */
  cpuMicros: number | null;
}

export type ParentMessage = { type: 'serve'; params: unknown } | { type: 'sample' } | { type: 'stop' };

export type ChildMessage =
  | { type: 'listening'; port: number }
  | { type: 'sample'; sample: ServerSample }
  | { type: 'failed'; error: string };
