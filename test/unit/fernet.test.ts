import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  createFernet,
  FERNET_MAX_CLOCK_SKEW_SECONDS,
  generateFernetKey,
  InvalidTokenError,
  type InvalidTokenReason,
} from '../../src/platform/fernet.ts';

// The spec's vectors (github.com/fernet/spec: generate, verify, invalid), kept as data.
const VECTORS = new URL('../fixtures/fernet/', import.meta.url);

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

function vectors<T>(name: string): T[] {
  const list = JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as T[];
  // An empty or missing file must not pass as "every vector passed".
  expect(list.length).toBeGreaterThan(0);
  return list;
}

/** The failure `fn` throws, which must be an InvalidTokenError. */
function refusal(fn: () => unknown): InvalidTokenReason {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
  throw new Error('expected the token to be refused, but it decrypted');
}

const SECONDS = 1000;
const at = (seconds: number) => new Date(seconds * SECONDS);

describe('Fernet: the spec vectors', () => {
  it('generates exactly the token of every generate.json vector', () => {
    for (const v of vectors<GenerateVector>('generate.json')) {
      const fernet = createFernet([v.secret]);
      expect(fernet.encrypt(v.src, new Date(v.now), Buffer.from(v.iv))).toBe(v.token);
    }
  });

  it('decrypts every verify.json vector at its `now` within its ttl', () => {
    for (const v of vectors<VerifyVector>('verify.json')) {
      const fernet = createFernet([v.secret]);
      const plaintext = fernet.decrypt(v.token, { ttlSeconds: v.ttl_sec, now: new Date(v.now) });
      expect(plaintext.toString('utf8')).toBe(v.src);
    }
  });

  // Each vector's description names the check that must refuse it. A new vector with a
  // description not listed here fails the test until it is given its reason.
  const expectedReason: Record<string, InvalidTokenReason> = {
    'incorrect mac': 'bad-hmac',
    'too short': 'too-short',
    'invalid base64': 'bad-base64',
    'payload size not multiple of block size': 'bad-block-size',
    'payload padding error': 'bad-padding',
    'far-future TS (unacceptable clock skew)': 'future-timestamp',
    'expired TTL': 'expired',
    'incorrect IV (causes padding error)': 'bad-padding',
  };

  it('refuses every invalid.json vector, each for its own reason', () => {
    const list = vectors<InvalidVector>('invalid.json');
    const seen = list.map((v) => {
      const fernet = createFernet([v.secret]);
      const reason = refusal(() => fernet.decrypt(v.token, { ttlSeconds: v.ttl_sec, now: new Date(v.now) }));
      return { desc: v.desc, reason };
    });
    expect(seen).toEqual(list.map((v) => ({ desc: v.desc, reason: expectedReason[v.desc] ?? 'unlisted' })));
  });
});

describe('Fernet: keys and rotation', () => {
  it('generates distinct 32-byte urlsafe keys with padding', () => {
    const a = generateFernetKey();
    const b = generateFernetKey();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
  });

  it('refuses malformed keys without echoing them', () => {
    const short = Buffer.alloc(16, 1).toString('base64url');
    expect(() => createFernet([])).toThrow(TypeError);
    expect(() => createFernet([short])).toThrow(/key #1 must be 32 bytes/);
    // Standard base64 ('+', '/') and a missing '=' are not the key format.
    const key = generateFernetKey();
    expect(() => createFernet([key.slice(0, -1)])).toThrow(TypeError);
    expect(() => createFernet([key, `${key.slice(0, 10)}+${key.slice(11)}`])).toThrow(/key #2/);
    expect(() => createFernet([key.slice(0, 43)])).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(key.slice(0, 43)) }),
    );
  });

  it('encrypts with the first key and decrypts with any of them', () => {
    const oldKey = generateFernetKey();
    const newKey = generateFernetKey();
    const oldToken = createFernet([oldKey]).encrypt('before the rotation');

    const rotated = createFernet([newKey, oldKey]);
    expect(rotated.decrypt(oldToken).toString()).toBe('before the rotation');
    // After rotation new tokens are made with the new key: the old key alone cannot read them…
    const newToken = rotated.encrypt('after the rotation');
    expect(refusal(() => createFernet([oldKey]).decrypt(newToken))).toBe('bad-hmac');
    expect(createFernet([newKey]).decrypt(newToken).toString()).toBe('after the rotation');
    // …and once the old key is dropped, its tokens are refused.
    expect(refusal(() => createFernet([newKey]).decrypt(oldToken))).toBe('bad-hmac');
  });
});

describe('Fernet: round trips and refusals', () => {
  const key = generateFernetKey();
  const fernet = createFernet([key]);

  it('round-trips text, binary, empty and multi-block plaintexts', () => {
    const cases = [
      Buffer.from('Table for 2 tomorrow at 8 pm 🍷', 'utf8'),
      Buffer.alloc(0),
      Buffer.alloc(16, 7), // a whole block: PKCS7 adds a full block of padding
      Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256)),
    ];
    for (const plaintext of cases) {
      const token = fernet.encrypt(plaintext);
      expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
      expect(token.length % 4).toBe(0);
      expect(fernet.decrypt(token).equals(plaintext)).toBe(true);
    }
    // Strings are encrypted as UTF-8.
    expect(fernet.decrypt(fernet.encrypt('olá')).toString('utf8')).toBe('olá');
  });

  it('uses a fresh IV each time, so equal plaintexts give different tokens', () => {
    expect(fernet.encrypt('same')).not.toBe(fernet.encrypt('same'));
  });

  it('stamps the time from the injected clock and checks ttl and clock skew against it', () => {
    let now = 1_800_000_000;
    const clocked = createFernet([key], { now: () => at(now) });
    const token = clocked.encrypt('hi');
    expect(Buffer.from(token, 'base64url').readBigUInt64BE(1)).toBe(BigInt(now));

    now += 60;
    // Exactly ttl seconds old is still valid; one second more is not.
    expect(clocked.decrypt(token, { ttlSeconds: 60 }).toString()).toBe('hi');
    now += 1;
    expect(refusal(() => clocked.decrypt(token, { ttlSeconds: 60 }))).toBe('expired');
    // Without a ttl the age does not matter.
    expect(clocked.decrypt(token).toString()).toBe('hi');
    // An explicit `now` overrides the clock.
    expect(clocked.decrypt(token, { ttlSeconds: 60, now: at(now - 30) }).toString()).toBe('hi');

    // Up to 60 s ahead of our clock is tolerated, more is refused.
    const stamp = 1_800_000_000;
    const ahead = clocked.encrypt('hi', at(stamp + FERNET_MAX_CLOCK_SKEW_SECONDS));
    const tooFar = clocked.encrypt('hi', at(stamp + FERNET_MAX_CLOCK_SKEW_SECONDS + 1));
    expect(clocked.decrypt(ahead, { ttlSeconds: 60, now: at(stamp) }).toString()).toBe('hi');
    expect(refusal(() => clocked.decrypt(tooFar, { ttlSeconds: 60, now: at(stamp) }))).toBe(
      'future-timestamp',
    );
  });

  it('refuses a token made with another key', () => {
    const token = createFernet([generateFernetKey()]).encrypt('secret');
    expect(refusal(() => fernet.decrypt(token))).toBe('bad-hmac');
  });

  it('refuses any flipped bit, wherever it is', () => {
    const bytes = Buffer.from(fernet.encrypt('do not touch'), 'base64url');
    // Skips byte 0: a changed version byte is refused as such, checked below.
    for (let i = 1; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i]! ^= 0x01;
      expect(refusal(() => fernet.decrypt(urlsafe(tampered)))).toBe('bad-hmac');
    }
    const otherVersion = Buffer.from(bytes);
    otherVersion[0] = 0x81;
    expect(refusal(() => fernet.decrypt(urlsafe(otherVersion)))).toBe('bad-version');
  });

  it('refuses tokens that are not strict urlsafe base64 with padding', () => {
    // A token spelling at least one of '-' and '_', to rewrite into the standard alphabet.
    let token = fernet.encrypt('x');
    while (!/[-_]/.test(token)) token = fernet.encrypt('x');
    const cases = [
      token.replace(/=+$/, ''), // padding removed
      ` ${token}`, // whitespace
      `${token.slice(0, 20)}.${token.slice(21)}`, // outside the alphabet
      `${token}====`, // too much padding
      token.replaceAll('-', '+').replaceAll('_', '/'), // the standard alphabet
    ];
    for (const bad of cases) expect(refusal(() => fernet.decrypt(bad))).toBe('bad-base64');
    // Not a string at all (e.g. from untyped JSON).
    expect(refusal(() => fernet.decrypt(42 as unknown as string))).toBe('bad-base64');
    // Nothing at all is well-formed base64, of no bytes.
    expect(refusal(() => fernet.decrypt(''))).toBe('too-short');
  });

  it('refuses a token with no ciphertext block as too short', () => {
    // Version, timestamp, IV and HMAC, but nothing to decrypt.
    const empty = Buffer.alloc(1 + 8 + 16 + 32);
    empty[0] = 0x80;
    expect(refusal(() => fernet.decrypt(urlsafe(empty)))).toBe('too-short');
    expect(refusal(() => fernet.decrypt(urlsafe(Buffer.from([0x80]))))).toBe('too-short');
  });

  it('refuses bad arguments with ordinary errors', () => {
    expect(() => fernet.encrypt('x', new Date(), Buffer.alloc(8))).toThrow(RangeError);
    expect(() => fernet.encrypt('x', new Date(Number.NaN))).toThrow(RangeError);
    expect(() => fernet.encrypt('x', new Date(-1000))).toThrow(RangeError);
    expect(() => fernet.decrypt(fernet.encrypt('x'), { ttlSeconds: -1 })).toThrow(RangeError);
  });
});

// Python's `cryptography` is the reference the stored sessions must stay readable by. It is
// installed on the development and CI machine image; if it is missing this fails, by design.
const PYTHON = process.env.PYTHON ?? 'python3';
const HELPER = fileURLToPath(new URL('../helpers/fernet_interop.py', import.meta.url));

function python(request: Record<string, unknown>): Record<string, unknown> {
  const result = spawnSync(PYTHON, [HELPER], { input: JSON.stringify(request), encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `Cannot run ${PYTHON} (${result.error.message}); the Fernet interop test needs Python 3 ` +
        `with the 'cryptography' package (apt-get install python3-cryptography)`,
    );
  }
  if (result.status !== 0) {
    throw new Error(`${PYTHON} ${HELPER} failed (exit ${result.status}): ${result.stderr.trim()}`);
  }
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("Fernet: interoperates with Python's cryptography.fernet", () => {
  it('has the reference library available', () => {
    expect(python({ op: 'version' }).version).toMatch(/^\d+\./);
  });

  it('decrypts a token Python made, and Python decrypts ours, with a fresh key', () => {
    const key = String(python({ op: 'generate_key' }).key);
    const fernet = createFernet([key]);
    const text = 'Chat history: {"role":"user","content":"mesa para 2 amanhã às 20h"}';

    const fromPython = String(python({ op: 'encrypt', keys: [key], plaintext_b64: b64(text) }).token);
    expect(fernet.decrypt(fromPython, { ttlSeconds: 60 }).toString('utf8')).toBe(text);

    const ours = fernet.encrypt(text);
    expect(python({ op: 'decrypt', keys: [key], token: ours, ttl: 60 })).toEqual({
      plaintext_b64: b64(text),
    });
  });

  it('agrees with Python on timestamps, ttl and skew', () => {
    const key = generateFernetKey();
    const fernet = createFernet([key]);
    const stamp = 1_700_000_000;

    // Python stamps at a fixed time: same byte layout, so the same verdicts at the same `now`.
    const fromPython = String(
      python({ op: 'encrypt', keys: [key], plaintext_b64: b64('t'), at: stamp }).token,
    );
    expect(Buffer.from(fromPython, 'base64url').readBigUInt64BE(1)).toBe(BigInt(stamp));
    expect(fernet.decrypt(fromPython, { ttlSeconds: 10, now: at(stamp + 10) }).toString()).toBe('t');
    expect(refusal(() => fernet.decrypt(fromPython, { ttlSeconds: 10, now: at(stamp + 11) }))).toBe(
      'expired',
    );

    const ours = fernet.encrypt('t', at(stamp));
    const pyDecrypt = (now: number) => python({ op: 'decrypt', keys: [key], token: ours, ttl: 10, now });
    expect(pyDecrypt(stamp + 10)).toEqual({ plaintext_b64: b64('t') });
    expect(pyDecrypt(stamp + 11)).toEqual({ invalid: true });
    expect(pyDecrypt(stamp - 60)).toEqual({ plaintext_b64: b64('t') });
    expect(pyDecrypt(stamp - 61)).toEqual({ invalid: true });
  });

  it('rotates keys the same way as MultiFernet, in both directions', () => {
    const oldKey = generateFernetKey();
    const newKey = generateFernetKey();

    // Ours, made with the old key, read by Python's MultiFernet([new, old]) but not by [new].
    const ours = createFernet([oldKey]).encrypt('old session');
    expect(python({ op: 'decrypt', keys: [newKey, oldKey], token: ours })).toEqual({
      plaintext_b64: b64('old session'),
    });
    expect(python({ op: 'decrypt', keys: [newKey], token: ours })).toEqual({ invalid: true });

    // Python's MultiFernet encrypts with its first key: we read it with that key alone.
    const fromPython = String(
      python({ op: 'encrypt', keys: [newKey, oldKey], plaintext_b64: b64('new session') }).token,
    );
    expect(createFernet([newKey]).decrypt(fromPython).toString()).toBe('new session');
    expect(refusal(() => createFernet([oldKey]).decrypt(fromPython))).toBe('bad-hmac');
  });

  it('is refused by Python when tampered, as by us', () => {
    const key = generateFernetKey();
    const bytes = Buffer.from(createFernet([key]).encrypt('intact'), 'base64url');
    bytes[30]! ^= 0x80;
    const tampered = urlsafe(bytes);
    expect(python({ op: 'decrypt', keys: [key], token: tampered })).toEqual({ invalid: true });
    expect(refusal(() => createFernet([key]).decrypt(tampered))).toBe('bad-hmac');
  });
});

/** Urlsafe base64 with padding, the token format (Node's 'base64url' leaves the padding out). */
function urlsafe(bytes: Buffer): string {
  return bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
