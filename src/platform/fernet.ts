/**
 * Fernet (github.com/fernet/spec) on `node:crypto`, so that what we store (chat sessions in Redis)
 * can be read by Python's `cryptography.fernet.Fernet` with the same key and the other way round.
 * The npm `fernet` package is not used: it rests on the discontinued crypto-js.
 *
 * Token = urlsafe-base64 (with padding) of
 *   version (0x80) ‖ timestamp (64-bit big-endian seconds) ‖ IV (16) ‖ AES-128-CBC/PKCS7 ciphertext ‖
 *   HMAC-SHA256 (32) over everything before it.
 * A 32-byte key is split: the first 16 bytes sign, the last 16 encrypt.
 *
 * Several keys allow rotation, as Python's `MultiFernet`: the first encrypts, any of them decrypts.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 0x80;
const BLOCK = 16;
const HMAC_LENGTH = 32;
// version + timestamp + IV
const HEADER_LENGTH = 1 + 8 + BLOCK;
/** The spec's (and Python's) tolerance for a token stamped by a clock running ahead of ours. */
export const FERNET_MAX_CLOCK_SKEW_SECONDS = 60;

/** Why a token was refused. A wrong key and a tampered token look the same: `bad-hmac`. */
export type InvalidTokenReason =
  | 'bad-base64'
  | 'too-short'
  | 'bad-version'
  | 'bad-block-size'
  | 'expired'
  | 'future-timestamp'
  | 'bad-hmac'
  | 'bad-padding';

const MESSAGES: Record<InvalidTokenReason, string> = {
  'bad-base64': 'token is not urlsafe base64 with padding',
  'too-short': 'token is too short to be a Fernet token',
  'bad-version': 'token has an unknown version byte',
  'bad-block-size': 'ciphertext is not a whole number of AES blocks',
  expired: 'token is older than its time to live',
  'future-timestamp': 'token is stamped too far in the future',
  'bad-hmac': 'token signature does not match any key (tampered, or another key)',
  'bad-padding': 'ciphertext padding is invalid',
};

/** Every refusal of `decrypt`; `reason` says which check failed. Never carries key material. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
  readonly reason: InvalidTokenReason;
  constructor(reason: InvalidTokenReason) {
    super(`Invalid Fernet token: ${MESSAGES[reason]}`);
    this.reason = reason;
  }
}

export interface FernetDecryptOptions {
  /** Refuse tokens older than this many seconds. Without it the timestamp is not checked at all. */
  ttlSeconds?: number;
  /** The time to check against; defaults to the instance's clock. */
  now?: Date;
}

export interface Fernet {
  /**
   * Encrypts with the first key. `at` (default: the clock) is the stamped time and `iv` (default:
   * 16 random bytes) exists for the spec's fixed vectors; never reuse an IV in real use.
   */
  encrypt(plaintext: Buffer | string, at?: Date, iv?: Buffer): string;
  /** Verifies with any key and decrypts, or throws `InvalidTokenError`. */
  decrypt(token: string, options?: FernetDecryptOptions): Buffer;
}

interface KeyPair {
  signing: Buffer;
  encryption: Buffer;
}

// Strict: the urlsafe alphabet only, padded to a multiple of 4. Node's own decoder would skip
// stray characters silently, so the shape is checked before decoding.
const URLSAFE_BASE64 = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;

function encodeUrlsafe(bytes: Buffer): string {
  // Node's 'base64url' drops the padding, which the spec and Python's decoder require.
  return bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

function decodeUrlsafe(text: string): Buffer | null {
  if (!URLSAFE_BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  // Refuse non-canonical spellings (non-zero unused bits in the last character), so a token has
  // exactly one textual form.
  return encodeUrlsafe(bytes) === text ? bytes : null;
}

function parseKey(key: string, index: number): KeyPair {
  const bytes = typeof key === 'string' ? decodeUrlsafe(key) : null;
  if (bytes?.length !== 32) {
    // The key itself stays out of the message: it may end up in logs.
    throw new TypeError(`Fernet key #${index + 1} must be 32 bytes in urlsafe base64 with padding`);
  }
  return { signing: bytes.subarray(0, 16), encryption: bytes.subarray(16) };
}

/** A fresh random key in the form both this module and Python's `Fernet.generate_key()` use. */
export function generateFernetKey(): string {
  return encodeUrlsafe(randomBytes(32));
}

function toSeconds(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('Fernet time must be a valid Date');
  return Math.floor(ms / 1000);
}

function sign(key: KeyPair, signed: Buffer): Buffer {
  return createHmac('sha256', key.signing).update(signed).digest();
}

export function createFernet(keys: readonly string[], options: { now?: () => Date } = {}): Fernet {
  if (keys.length === 0) throw new TypeError('Fernet needs at least one key');
  const pairs = keys.map(parseKey);
  const primary = pairs[0]!;
  const clock = options.now ?? (() => new Date());

  function encrypt(plaintext: Buffer | string, at: Date = clock(), iv: Buffer = randomBytes(BLOCK)): string {
    if (iv.length !== BLOCK) throw new RangeError(`Fernet IV must be ${BLOCK} bytes`);
    const seconds = toSeconds(at);
    if (seconds < 0) throw new RangeError('Fernet timestamps cannot be before 1970');
    const header = Buffer.alloc(HEADER_LENGTH);
    header[0] = VERSION;
    header.writeBigUInt64BE(BigInt(seconds), 1);
    iv.copy(header, 9);
    // OpenSSL's default padding is PKCS7, as the spec asks.
    const cipher = createCipheriv('aes-128-cbc', primary.encryption, iv);
    const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
    return encodeUrlsafe(Buffer.concat([body, sign(primary, body)]));
  }

  function decrypt(token: string, decryptOptions: FernetDecryptOptions = {}): Buffer {
    // Checks in the spec's order: shape, version, age, signature, then decryption.
    const data = typeof token === 'string' ? decodeUrlsafe(token) : null;
    if (!data) throw new InvalidTokenError('bad-base64');
    if (data.length <= HEADER_LENGTH + HMAC_LENGTH) throw new InvalidTokenError('too-short');
    if (data[0] !== VERSION) throw new InvalidTokenError('bad-version');
    const ciphertextLength = data.length - HEADER_LENGTH - HMAC_LENGTH;
    if (ciphertextLength % BLOCK !== 0) throw new InvalidTokenError('bad-block-size');

    const { ttlSeconds } = decryptOptions;
    // As in Python and Go, the time is only checked when a lifetime is asked for; without one a
    // token of any age (and stamp) is accepted.
    if (ttlSeconds !== undefined) {
      if (!(ttlSeconds >= 0)) throw new RangeError('Fernet ttlSeconds must be a non-negative number');
      const now = toSeconds(decryptOptions.now ?? clock());
      // Beyond 2^53 precision is lost, but such a stamp is far in the future either way.
      const stamped = Number(data.readBigUInt64BE(1));
      // Exactly `ttlSeconds` old is still valid, as in the reference implementations.
      if (stamped + ttlSeconds < now) throw new InvalidTokenError('expired');
      if (now + FERNET_MAX_CLOCK_SKEW_SECONDS < stamped) throw new InvalidTokenError('future-timestamp');
    }

    const body = data.subarray(0, data.length - HMAC_LENGTH);
    const mac = data.subarray(data.length - HMAC_LENGTH);
    // Constant-time comparison, so the time taken tells an attacker nothing about how much of a
    // forged signature was right. Each key is tried; rotation keeps old tokens readable.
    const key = pairs.find((pair) => timingSafeEqual(sign(pair, body), mac));
    if (!key) throw new InvalidTokenError('bad-hmac');

    const iv = data.subarray(1 + 8, HEADER_LENGTH);
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, iv);
    // Unpadded by hand rather than by OpenSSL, so a bad padding is recognised by its rule and not
    // by an OpenSSL error message. The token is authentic by now, so this is no padding oracle.
    decipher.setAutoPadding(false);
    const padded = Buffer.concat([
      decipher.update(data.subarray(HEADER_LENGTH, body.length)),
      decipher.final(),
    ]);
    const pad = padded[padded.length - 1]!;
    if (pad < 1 || pad > BLOCK) throw new InvalidTokenError('bad-padding');
    for (let i = padded.length - pad; i < padded.length; i++) {
      if (padded[i] !== pad) throw new InvalidTokenError('bad-padding');
    }
    return padded.subarray(0, padded.length - pad);
  }

  return { encrypt, decrypt };
}
