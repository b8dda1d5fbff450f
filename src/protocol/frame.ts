// Framing of the client wire: each frame is a 4-byte big-endian body length, then a msgpack body.
// The decoder is incremental and copies every byte at most once; the writer coalesces every frame
// written in one event-loop turn into one socket.write, so pipelined answers cost one syscall.

import { Packr } from 'msgpackr';
import { MsgpackWriter } from '../jobs/msgpack-writer.js';
import { FRAME_BYTES_MAX } from '../limits.js';

const HEADER_BYTES = 4;

/** msgpackr's 'auto' (number while safe, else BigInt); its type declarations omit that value. */
const INT64_SAFE_AS_NUMBER = 'auto' as unknown as 'number';

/**
 * One codec for the whole process. `useRecords: false` keeps every body self-describing plain
 * msgpack, so a body never depends on structures learned from an earlier frame (or connection).
 * 64-bit integers (how other languages' msgpack writes a time in ms) decode to numbers while they
 * are safe integers, BigInt beyond (which validation refuses as not a number).
 */
export const codec = new Packr({ useRecords: false, int64AsType: INT64_SAFE_AS_NUMBER });

/** Encoded size of one value, as it would travel in a frame body. */
export function encodedBytes(value: unknown): number {
  return codec.pack(value).length;
}

/** The stream is unusable: a bad length or a body that does not decode. The connection must close. */
export class FrameError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'FrameError';
    this.reason = reason;
  }
}

/** Reused by every frame this process encodes; grown by a large body, given back once one fits again. */
const bodyWriter = new MsgpackWriter(64 * 1024);
/** What the writer keeps between frames: answers and appends under load fit (a catch-up append is up to 4 MB). */
const BODY_WRITER_KEPT_BYTES_MAX = 1024 * 1024;

/**
 * A body's bytes, its own copy. Plain data (every message of the protocol) goes through
 * MsgpackWriter.plain, twice as fast as msgpackr's pack on a lease answer of 100 jobs; a property
 * holding undefined is left out (msgpackr would send an extension type other languages' msgpack
 * cannot read).
 */
function encodeBody(body: unknown): Buffer {
  bodyWriter.reset(BODY_WRITER_KEPT_BYTES_MAX);
  if (bodyWriter.plain(body)) return bodyWriter.copyToBuffer();
  return codec.pack(body);
}

/** Encodes one frame (header + body) as two buffers, to be written together. */
export function encodeFrame(body: unknown, frameBytesMax: number = FRAME_BYTES_MAX): Buffer[] {
  const encoded = encodeBody(body);
  if (encoded.length > frameBytesMax) {
    throw new FrameError(`frame body of ${encoded.length} bytes exceeds ${frameBytesMax}`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(encoded.length, 0);
  return [header, encoded];
}

/**
 * Incremental decoder. Chunks are kept in a list (never concatenated as they arrive); a body is
 * sliced out of one chunk without copying when it lies inside it, else copied once into its own
 * buffer. After a FrameError the decoder is poisoned: the caller must drop the connection.
 */
export class FrameDecoder {
  private readonly frameBytesMax: number;
  private chunks: Buffer[] = [];
  /** Index of the first unread chunk (no Array.shift: tiny chunks of a big frame would make it quadratic). */
  private head = 0;
  /** Read position inside chunks[head]. */
  private offset = 0;
  private bufferedBytes = 0;
  /** Length of the body whose header has been consumed, or -1 while waiting for a header. */
  private bodyBytes = -1;
  private failed: FrameError | null = null;

  constructor(options: { frameBytesMax?: number } = {}) {
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
  }

  /** Bytes received but not yet returned as a body. */
  get pendingBytes(): number {
    return this.bufferedBytes + (this.bodyBytes >= 0 ? HEADER_BYTES : 0);
  }

  /** Feeds one chunk; returns every body it completes, in order. Throws FrameError. */
  push(chunk: Buffer): unknown[] {
    if (this.failed !== null) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const bodies: unknown[] = [];
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.bufferedBytes < HEADER_BYTES) break;
        this.bodyBytes = this.take(HEADER_BYTES).readUInt32BE(0);
        if (this.bodyBytes > this.frameBytesMax) {
          this.fail(`frame length ${this.bodyBytes} exceeds ${this.frameBytesMax}`);
        }
        if (this.bodyBytes === 0) this.fail('frame length 0');
      }
      if (this.bufferedBytes < this.bodyBytes) break;
      const raw = this.take(this.bodyBytes);
      this.bodyBytes = -1;
      bodies.push(this.decode(raw));
    }
    return bodies;
  }

  private decode(raw: Buffer): unknown {
    try {
      return codec.unpack(raw);
    } catch (error) {
      return this.fail(`undecodable frame body: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private fail(reason: string): never {
    this.failed = new FrameError(reason);
    this.chunks = [];
    this.head = 0;
    this.bufferedBytes = 0;
    throw this.failed;
  }

  /** Removes `n` buffered bytes from the front. Precondition: n <= bufferedBytes. */
  private take(n: number): Buffer {
    const first = this.chunks[this.head]!;
    if (first.length - this.offset >= n) {
      const slice = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return slice;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(n - copied, chunk.length - this.offset);
      chunk.copy(out, copied, this.offset, this.offset + count);
      copied += count;
      this.advance(count);
    }
    return out;
  }

  private advance(n: number): void {
    this.offset += n;
    this.bufferedBytes -= n;
    if (this.offset < this.chunks[this.head]!.length) return;
    this.offset = 0;
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head); // amortized O(1) per chunk
      this.head = 0;
    }
  }
}

/** The part of a socket the writer needs (a net.Socket fits). */
export interface FrameSink {
  write(data: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  readonly destroyed: boolean;
}

/**
 * Coalescing writer. Frames written during one event-loop turn go out as one socket.write at
 * setImmediate (after the poll phase, so every answer resolved by this turn's I/O is included).
 * While the socket's buffer is above its high-water mark the writer holds frames back; the
 * owner reads `backedUp` to stop reading requests, and gets `onDrain` when it may resume.
 */
export class FrameWriter {
  private readonly sink: FrameSink;
  private readonly frameBytesMax: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private waitingDrain = false;
  private closed = false;
  private drainWaiters: (() => void)[] = [];
  onDrain: (() => void) | null = null;

  constructor(sink: FrameSink, options: { frameBytesMax?: number } = {}) {
    this.sink = sink;
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
  }

  /** True while frames wait for the socket to drain. */
  get backedUp(): boolean {
    return this.waitingDrain;
  }

  /** Bytes encoded but not yet handed to the socket. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Resolves once every frame queued so far is in the socket and the socket is below its
   * high-water mark, or once the writer is closed: a sender of many large frames waits on it
   * between them instead of queueing them all.
   */
  drained(): Promise<void> {
    if (this.closed || (this.pendingBytes === 0 && !this.waitingDrain)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The socket is gone: frames still queued are dropped, and drained() waits no more. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.settleDrainWaiters();
  }

  /** Queues one frame. Throws FrameError (and queues nothing) when the body is too large. */
  write(body: unknown): void {
    const [header, encoded] = encodeFrame(body, this.frameBytesMax);
    this.pending.push(header!, encoded!);
    this.pendingBytes += header!.length + encoded!.length;
    if (!this.scheduled && !this.waitingDrain) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0 || this.sink.destroyed) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.sink.write(data)) {
      this.settleDrainWaiters();
      return;
    }
    this.waitingDrain = true;
    this.sink.once('drain', () => {
      this.waitingDrain = false;
      this.flush();
      if (this.waitingDrain) return;
      this.onDrain?.();
      this.settleDrainWaiters();
    });
  }

  private settleDrainWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    if (!this.closed && (this.pendingBytes > 0 || this.waitingDrain)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
