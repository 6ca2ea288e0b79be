/**
 * Files the platform fakes serve as people's images: bytes with a content type, stated sizes that
 * may lie, answers that fail, bodies streamed without a length (recording how much was sent
 * before the reader hung up), and answers that come too late.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FakeFile {
  bytes: Buffer;
  /** The Content-Type header; null sends none. By default the image type of the bytes. */
  contentType?: string | null;
  /** Streamed without Content-Length (chunked), so only the bytes tell the size. */
  chunked?: boolean;
  /** Answer this status (and no file) instead. */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Answer 302 to this URL instead (as a CDN hands over to another host). */
  redirect?: string;
}

/** What happened when a file was served. */
export interface FileServed {
  path: string;
  /** Bytes handed to the socket before it finished or the reader went away. */
  sent: number;
  complete: boolean;
  /** The `Authorization` or `D360-API-KEY` the request carried, if any. */
  credential: string | null;
}

/** A JPEG-looking file of `size` bytes (the signature, random bytes, the end marker). */
export function jpeg(size = 2048): Buffer {
  const bytes = randomBytes(Math.max(size, 8));
  bytes.set([0xff, 0xd8, 0xff, 0xe0], 0);
  bytes.set([0xff, 0xd9], bytes.length - 2);
  return bytes;
}

/** A PNG-looking file of `size` bytes. */
export function png(size = 2048): Buffer {
  const bytes = randomBytes(Math.max(size, 16));
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  return bytes;
}

/** A WebP-looking file of `size` bytes. */
export function webp(size = 2048): Buffer {
  const bytes = randomBytes(Math.max(size, 16));
  bytes.write('RIFF', 0, 'latin1');
  bytes.writeUInt32LE(bytes.length - 8, 4);
  bytes.write('WEBP', 8, 'latin1');
  return bytes;
}

function defaultType(bytes: Buffer): string {
  if (bytes[0] === 0x89) return 'image/png';
  if (bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (bytes.subarray(0, 3).toString('latin1') === 'GIF') return 'image/gif';
  return 'image/jpeg';
}

const CHUNK = 16 * 1024;

/** Answers with the file as described, and reports what was sent. */
export async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  file: FakeFile,
): Promise<FileServed> {
  const credential = req.headers.authorization ?? (req.headers['d360-api-key'] as string | undefined) ?? null;
  if (file.delayMs) await sleep(file.delayMs);
  if (res.destroyed) return { path, sent: 0, complete: false, credential };
  if (file.redirect) {
    res.writeHead(302, { location: file.redirect });
    res.end();
    return { path, sent: 0, complete: true, credential };
  }
  if (file.status && file.status !== 200) {
    res.writeHead(file.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `HTTP ${file.status}`, code: file.status } }));
    return { path, sent: 0, complete: true, credential };
  }
  const contentType = file.contentType === undefined ? defaultType(file.bytes) : file.contentType;
  const headers: Record<string, string> = {};
  if (contentType !== null) headers['content-type'] = contentType;
  if (!file.chunked) headers['content-length'] = String(file.bytes.length);
  res.writeHead(200, headers);
  let sent = 0;
  for (let offset = 0; offset < file.bytes.length && !res.destroyed; offset += CHUNK) {
    const part = file.bytes.subarray(offset, offset + CHUNK);
    const flushed = res.write(part);
    sent += part.length;
    if (!flushed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
  const complete = !res.destroyed && sent === file.bytes.length;
  if (!res.destroyed) res.end();
  return { path, sent, complete, credential };
}
