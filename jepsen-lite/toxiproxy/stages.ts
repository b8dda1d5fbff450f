// What each toxic does to the bytes of one direction of one connection. A stage receives chunks
// (and the end of the stream) from the stage before it and hands them on through its StageOutput,
// possibly later, sliced, truncated or not at all. Stages know nothing of sockets: the link
// (link.ts) feeds them and turns their output into socket writes and closes.
//
// Time comes from `out.nowMs()` and is checked again whenever a timer fires, so data is never
// released before its due time even when a timer fires early: a latency of L ms is a lower bound.

import assert from 'node:assert/strict';
import { Fifo } from './fifo.js';
import { randomInt } from './random.js';
import type { AttributesOf, ToxicConfig, ToxicType } from './toxics.js';

/**
 * How a stream ends. `fin`: the source half-closed, pass the FIN on after the data before it.
 * `close`: a toxic ends the whole connection (Toxiproxy closes the stub): flush and close both sides.
 */
export type EndKind = 'fin' | 'close';

export interface StageOutput {
  /** Hands a chunk to the next stage (or the destination socket). */
  emit(chunk: Buffer): void;
  /** Ends the stream after everything emitted before. Nothing may be emitted afterwards. */
  end(kind: EndKind): void;
  /** Reports bytes this stage dropped, so the link's count of held bytes (its backpressure) stays exact. */
  discard(byteCount: number): void;
  /** Aborts the whole connection with TCP RST, now. */
  reset(): void;
  nowMs(): number;
  random(): number;
}

export interface ToxicStage {
  write(chunk: Buffer): void;
  end(kind: EndKind): void;
  /** New attributes for the same toxic (same type), applied to data from now on. */
  update(config: ToxicConfig): void;
  /** The toxic leaves the chain: release everything held at once, or end the connection where that is the toxic's removal behaviour. */
  remove(): void;
  /** The connection is gone: cancel timers, drop what is held. */
  dispose(): void;
}

export function createStage(config: ToxicConfig, out: StageOutput): ToxicStage {
  switch (config.type) {
    case 'latency':
      return new LatencyStage(config.attributes, out);
    case 'bandwidth':
      return new BandwidthStage(config.attributes, out);
    case 'slow_close':
      return new SlowCloseStage(config.attributes, out);
    case 'timeout':
      return new TimeoutStage(config.attributes, out);
    case 'reset_peer':
      return new ResetPeerStage(config.attributes, out);
    case 'slicer':
      return new SlicerStage(config.attributes, out);
    case 'limit_data':
      return new LimitDataStage(config.attributes, out);
  }
}

/** A toxic that did not win its toxicity draw on this connection: it passes everything through. */
export function createPassStage(out: StageOutput): ToxicStage {
  return {
    write: (chunk) => out.emit(chunk),
    end: (kind) => out.end(kind),
    update: () => {},
    remove: () => {},
    dispose: () => {},
  };
}

function attributesFor<T extends ToxicType>(config: ToxicConfig, type: T): AttributesOf<T> {
  assert.equal(config.type, type, 'a stage is only ever updated with its own toxic type');
  return config.attributes as AttributesOf<T>;
}

/** A held chunk, or the end of the stream. `dueMs` is fixed on arrival by latency; the others compute it at the head. */
type Held = { readonly chunk: Buffer; readonly dueMs: number } | { readonly chunk: null; readonly endKind: EndKind; readonly dueMs: number };

/**
 * A stage that holds data in order and releases the head when it is due, with one timer at a
 * time. Subclasses decide when the head is due; order is never changed.
 */
abstract class HoldingStage implements ToxicStage {
  protected readonly queue = new Fifo<Held>();
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;

  constructor(protected readonly out: StageOutput) {}

  abstract update(config: ToxicConfig): void;
  /** When the head may leave; -Infinity for now. */
  protected abstract releaseAtMs(head: Held): number;
  /** Called as the head leaves: `atMs` is its due time (even if now is later), or now if it had none. */
  protected released(_head: Held, _atMs: number): void {}
  /** Queues a chunk, maybe in pieces. */
  protected abstract enqueue(chunk: Buffer): void;
  protected wasIdleAt(_nowMs: number): void {}

  // Queuing behind a held head never changes when the head is due, and a non-empty queue always
  // has its timer armed, so only a write to an empty queue needs to pump: one timer per head,
  // not one per chunk.
  write(chunk: Buffer): void {
    const wasEmpty = this.queue.length === 0;
    if (wasEmpty) this.wasIdleAt(this.out.nowMs());
    this.enqueue(chunk);
    if (wasEmpty) this.pump();
  }

  end(kind: EndKind): void {
    const wasEmpty = this.queue.length === 0;
    this.queue.push({ chunk: null, endKind: kind, dueMs: this.endDueMs() });
    if (wasEmpty) this.pump();
  }

  /** The end of the stream waits for nothing of its own by default. */
  protected endDueMs(): number {
    return -Infinity;
  }

  remove(): void {
    this.cancelTimer();
    while (!this.disposed && this.queue.length > 0) this.release(this.queue.shift()!);
  }

  dispose(): void {
    this.disposed = true;
    this.cancelTimer();
    this.queue.clear();
  }

  protected pump(): void {
    this.cancelTimer();
    while (!this.disposed && this.queue.length > 0) {
      const head = this.queue.peek()!;
      const nowMs = this.out.nowMs();
      const atMs = this.releaseAtMs(head);
      if (atMs > nowMs) {
        // Timers may fire a little early; pump checks the clock again and re-arms if so.
        this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(atMs - nowMs)));
        return;
      }
      this.queue.shift();
      // Hand the due time, not now, to the clock keepers: a timer that fired late is made up
      // for by the next release, so the average rate stays exact.
      this.released(head, Number.isFinite(atMs) ? atMs : nowMs);
      this.release(head);
    }
  }

  private release(head: Held): void {
    if (head.chunk === null) this.out.end(head.endKind);
    else this.out.emit(head.chunk);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** latency: every chunk waits latency ± jitter ms after it was read, and chunks keep their order. */
class LatencyStage extends HoldingStage {
  private lastDueMs = -Infinity;

  constructor(private attributes: AttributesOf<'latency'>, out: StageOutput) {
    super(out);
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'latency');
  }

  protected enqueue(chunk: Buffer): void {
    const { latency, jitter } = this.attributes;
    const delayMs = Math.max(0, jitter > 0 ? latency + randomInt(this.out.random, -jitter, jitter) : latency);
    // A chunk never overtakes the one before it, even when jitter drew it a shorter delay.
    this.lastDueMs = Math.max(this.out.nowMs() + delayMs, this.lastDueMs);
    this.queue.push({ chunk, dueMs: this.lastDueMs });
  }

  protected override endDueMs(): number {
    return this.lastDueMs;
  }

  protected releaseAtMs(head: Held): number {
    return head.dueMs;
  }
}

/**
 * bandwidth: at most `rate` KB/s, i.e. `rate` bytes per millisecond. A virtual clock tracks when
 * the line is free again; a chunk leaves once its bytes have "been sent" at the rate, so the
 * elapsed time for B bytes is at least B / rate ms. Large chunks go in 100 ms slices, as in
 * Toxiproxy, so a slow rate still trickles instead of bursting.
 */
class BandwidthStage extends HoldingStage {
  private lineFreeAtMs = -Infinity;

  constructor(private attributes: AttributesOf<'bandwidth'>, out: StageOutput) {
    super(out);
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'bandwidth');
    this.pump();
  }

  protected override wasIdleAt(nowMs: number): void {
    // An idle line earns no credit: the next byte starts its transfer no earlier than now.
    this.lineFreeAtMs = Math.max(this.lineFreeAtMs, nowMs);
  }

  protected enqueue(chunk: Buffer): void {
    const sliceBytes = this.attributes.rate > 0 ? this.attributes.rate * 100 : chunk.length;
    for (let offset = 0; offset < chunk.length; offset += sliceBytes) {
      this.queue.push({ chunk: chunk.subarray(offset, offset + sliceBytes), dueMs: 0 });
    }
  }

  protected releaseAtMs(head: Held): number {
    const { rate } = this.attributes;
    if (head.chunk === null || rate === 0) return -Infinity;
    return this.lineFreeAtMs + head.chunk.length / rate;
  }

  protected override released(head: Held, atMs: number): void {
    if (head.chunk !== null && this.attributes.rate > 0) this.lineFreeAtMs = atMs;
  }
}

/**
 * slicer: cuts each chunk into pieces of about average_size ± size_variation bytes and releases
 * them `delay` µs apart, the way a real network fragments a write.
 */
class SlicerStage extends HoldingStage {
  private nextPieceAtMs = -Infinity;

  constructor(private attributes: AttributesOf<'slicer'>, out: StageOutput) {
    super(out);
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'slicer');
  }

  protected override wasIdleAt(nowMs: number): void {
    this.nextPieceAtMs = Math.max(this.nextPieceAtMs, nowMs);
  }

  protected enqueue(chunk: Buffer): void {
    for (const [start, end] of slicePieces(chunk.length, this.attributes, this.out.random)) {
      this.queue.push({ chunk: chunk.subarray(start, end), dueMs: 0 });
    }
  }

  protected releaseAtMs(): number {
    // The end of the stream, too, waits for the delay after the last piece.
    return this.nextPieceAtMs;
  }

  protected override released(head: Held, atMs: number): void {
    if (head.chunk !== null) this.nextPieceAtMs = atMs + this.attributes.delay / 1000;
  }
}

/**
 * Piece boundaries for a chunk of `length` bytes: halve until a piece is within size_variation of
 * average_size, moving each cut by a random amount below size_variation so pieces vary without
 * a bias towards small pieces at either end. Validation guarantees size_variation < average_size,
 * which keeps every cut strictly inside its piece, so this terminates.
 */
export function slicePieces(
  length: number,
  attributes: AttributesOf<'slicer'>,
  random: () => number,
): Array<readonly [number, number]> {
  const { average_size: averageBytes, size_variation: variationBytes } = attributes;
  const pieces: Array<readonly [number, number]> = [];
  const pending: Array<readonly [number, number]> = [[0, length]];
  while (pending.length > 0) {
    const [start, end] = pending.pop()!;
    if (end - start - averageBytes <= variationBytes) {
      if (end > start) pieces.push([start, end]);
      continue;
    }
    let middle = start + Math.floor((end - start) / 2);
    if (variationBytes > 0) middle += randomInt(random, -variationBytes, variationBytes);
    assert.ok(middle > start && middle < end, 'a slicer cut stays inside its piece');
    pending.push([middle, end], [start, middle]); // the left half is popped first: order kept
  }
  return pieces;
}

/** slow_close: data flows; the end of the stream is held back `delay` ms. */
class SlowCloseStage implements ToxicStage {
  private pendingEnd: EndKind | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private attributes: AttributesOf<'slow_close'>, private readonly out: StageOutput) {}

  write(chunk: Buffer): void {
    this.out.emit(chunk);
  }

  end(kind: EndKind): void {
    this.pendingEnd = kind;
    this.arm();
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'slow_close');
    if (this.pendingEnd !== null) this.arm(); // Toxiproxy restarts the wait with the new delay
  }

  remove(): void {
    this.dispose();
    if (this.pendingEnd !== null) this.out.end(this.pendingEnd);
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.dispose();
    const kind = this.pendingEnd;
    assert.ok(kind !== null);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.out.end(kind);
    }, this.attributes.delay);
  }
}

/**
 * timeout: nothing gets through; data is dropped, not buffered. With timeout > 0 the connection
 * is closed after that many ms; with 0 it stays open. Removing the toxic closes the connection
 * (Toxiproxy's Cleanup does the same): a peer that lost data must not carry on as if nothing
 * happened, which is what makes this toxic a network partition.
 */
class TimeoutStage implements ToxicStage {
  private timer: NodeJS.Timeout | null = null;

  constructor(private attributes: AttributesOf<'timeout'>, private readonly out: StageOutput) {
    this.arm();
  }

  write(chunk: Buffer): void {
    this.out.discard(chunk.length);
  }

  end(kind: EndKind): void {
    this.dispose();
    this.out.end(kind);
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'timeout');
    this.arm(); // the new timeout counts from the update, as Toxiproxy restarts the toxic
  }

  remove(): void {
    this.dispose();
    this.out.end('close');
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.dispose();
    if (this.attributes.timeout === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.out.end('close');
    }, this.attributes.timeout);
  }
}

/**
 * reset_peer: on the first data (or end) after the toxic meets the connection, wait `timeout` ms
 * and then abort both sides with RST. Like Toxiproxy, an idle connection is left alone. Data that
 * arrives meanwhile is held, not forwarded, and released if the toxic is removed in time.
 */
class ResetPeerStage implements ToxicStage {
  private readonly held = new Fifo<Buffer>();
  private heldEnd: EndKind | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private attributes: AttributesOf<'reset_peer'>, private readonly out: StageOutput) {}

  write(chunk: Buffer): void {
    this.held.push(chunk);
    this.trigger();
  }

  end(kind: EndKind): void {
    this.heldEnd = kind;
    this.trigger();
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'reset_peer');
  }

  remove(): void {
    this.cancel();
    while (this.held.length > 0) this.out.emit(this.held.shift()!);
    if (this.heldEnd !== null) this.out.end(this.heldEnd);
  }

  dispose(): void {
    this.cancel();
    this.held.clear();
  }

  private trigger(): void {
    if (this.timer !== null) return;
    // Always through a timer, also for timeout 0: the reset then happens outside the write that
    // caused it, so no caller finds the connection torn down under its feet.
    this.timer = setTimeout(() => this.out.reset(), this.attributes.timeout);
  }

  private cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** limit_data: passes the first `bytes` bytes, then closes the connection. The count survives updates. */
class LimitDataStage implements ToxicStage {
  private transmittedBytes = 0;

  constructor(private attributes: AttributesOf<'limit_data'>, private readonly out: StageOutput) {}

  write(chunk: Buffer): void {
    const remainingBytes = Math.max(0, this.attributes.bytes - this.transmittedBytes);
    const passed = chunk.length <= remainingBytes ? chunk : chunk.subarray(0, remainingBytes);
    if (passed.length < chunk.length) this.out.discard(chunk.length - passed.length);
    if (passed.length > 0) this.out.emit(passed);
    this.transmittedBytes += passed.length;
    if (this.transmittedBytes >= this.attributes.bytes) this.out.end('close');
  }

  end(kind: EndKind): void {
    this.out.end(kind);
  }

  update(config: ToxicConfig): void {
    this.attributes = attributesFor(config, 'limit_data');
  }

  remove(): void {}

  dispose(): void {}
}
