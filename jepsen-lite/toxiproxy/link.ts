// One direction of one proxied connection: bytes read from `source` pass through the chain of
// toxics of that direction and are written to `dest`.
//
// The chain is a linked list of entries, one per toxic, ending at the destination socket. It is
// changed while data flows (a partition must cut links already open): a new toxic is appended
// before the destination, a removed toxic first hands on whatever it holds, then is unlinked.
// Every entry resolves its successor when it emits, so a re-link takes effect at once.
//
// Backpressure: the link counts the bytes it holds (read, not yet written or dropped) and stops
// reading the source above LINK_BUFFERED_BYTES_MAX or while the destination's buffer is full, so
// a slow toxic slows the sender through TCP instead of growing the heap.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { LINK_BUFFERED_BYTES_MAX, LINK_BUFFERED_BYTES_RESUME } from './limits.js';
import type { RandomSource } from './random.js';
import { createPassStage, createStage, type EndKind, type StageOutput, type ToxicStage } from './stages.js';
import type { ToxicSpec, ToxicStream } from './toxics.js';

/** How a toxic ends the whole connection: `close` flushes and closes both sides, `reset` sends RST now. */
export type ConnectionEnd = 'close' | 'reset';

export interface LinkOptions {
  readonly stream: ToxicStream;
  readonly source: Socket;
  readonly dest: Socket;
  /** The toxics of this direction when the connection opens, in chain order. */
  readonly toxics: readonly ToxicSpec[];
  readonly random: RandomSource;
  readonly nowMs: () => number;
  readonly onConnectionEnd: (how: ConnectionEnd) => void;
}

interface ChainEntry {
  spec: ToxicSpec;
  /** This connection's draw for the toxic, made once when they meet; the toxic acts iff draw < toxicity. */
  readonly draw: number;
  active: boolean;
  stage: ToxicStage;
  readonly out: StageOutput;
  next: ChainEntry | null;
  /** The entry has emitted the end of the stream; anything that still reaches it is dropped. */
  sealed: boolean;
  /** Removed from the API but kept in the chain because it had sealed it (see removeToxic). */
  removed: boolean;
}

export class Link {
  readonly stream: ToxicStream;
  private head: ChainEntry | null = null;
  private heldBytes = 0;
  private readingPaused = false;
  private awaitingDrain = false;
  private disposed = false;
  private readonly onData = (chunk: Buffer): void => this.readChunk(chunk);
  private readonly onEnd = (): void => this.deliverEnd(this.head, 'fin');

  constructor(private readonly options: LinkOptions) {
    this.stream = options.stream;
    for (const spec of options.toxics) this.addToxic(spec);
  }

  /** Starts reading the source. Separate from the constructor so both directions exist before data flows. */
  start(): void {
    this.options.source.on('data', this.onData);
    this.options.source.on('end', this.onEnd);
    this.options.source.resume();
  }

  addToxic(spec: ToxicSpec): void {
    if (this.disposed) return;
    assert.equal(spec.stream, this.stream, 'a toxic joins only links of its own direction');
    const draw = this.options.random();
    const active = draw < spec.toxicity;
    let created: ChainEntry | undefined;
    const out = this.outputFor(() => {
      assert.ok(created !== undefined, 'stages do not emit while they are being built');
      return created;
    });
    const entry: ChainEntry = {
      spec,
      draw,
      active,
      stage: active ? createStage(spec, out) : createPassStage(out),
      out,
      next: null,
      sealed: false,
      removed: false,
    };
    created = entry;
    const tail = this.tail();
    if (tail === null) this.head = entry;
    else tail.next = entry;
  }

  updateToxic(spec: ToxicSpec): void {
    if (this.disposed) return;
    const entry = this.find(spec.name);
    assert.ok(entry !== null, `toxic ${spec.name} is on every link of its direction`);
    entry.spec = spec;
    const active = entry.draw < spec.toxicity;
    if (active === entry.active) {
      entry.stage.update(spec);
      return;
    }
    // The toxicity moved across this connection's draw: the toxic leaves or joins the link.
    entry.stage.remove();
    entry.stage.dispose();
    if (this.disposed) return; // a timeout leaving closes the connection; nothing left to build
    entry.active = active;
    entry.stage = active ? createStage(spec, entry.out) : createPassStage(entry.out);
  }

  removeToxic(name: string): void {
    if (this.disposed) return;
    const entry = this.find(name);
    assert.ok(entry !== null, `toxic ${name} is on every link of its direction`);
    entry.stage.remove();
    entry.stage.dispose();
    entry.removed = true;
    if (this.disposed) return; // remove() may have closed the connection
    // An entry that ended the stream while leaving (a removed timeout closes the connection)
    // stays as a sealed tombstone, so data behind it is dropped instead of overtaking the end.
    if (entry.sealed) return;
    const previous = this.previousOf(entry);
    if (previous === null) this.head = entry.next;
    else previous.next = entry.next;
  }

  /** The connection is going away: stop reading, cancel every toxic's timers, drop what is held. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.options.source.off('data', this.onData);
    this.options.source.off('end', this.onEnd);
    for (let entry = this.head; entry !== null; entry = entry.next) entry.stage.dispose();
    this.head = null;
  }

  private readChunk(chunk: Buffer): void {
    if (this.disposed) return;
    this.heldBytes += chunk.length;
    this.deliver(this.head, chunk);
    this.updateFlow();
  }

  private deliver(target: ChainEntry | null, chunk: Buffer): void {
    if (this.disposed) return;
    if (target === null) this.writeDest(chunk);
    else if (target.sealed) this.release(chunk.length);
    else target.stage.write(chunk);
  }

  private deliverEnd(target: ChainEntry | null, kind: EndKind): void {
    if (this.disposed) return;
    if (target === null) this.endDest(kind);
    else if (!target.sealed) target.stage.end(kind);
  }

  private writeDest(chunk: Buffer): void {
    const { dest } = this.options;
    this.release(chunk.length);
    if (dest.destroyed || dest.writableEnded) return;
    if (!dest.write(chunk) && !this.awaitingDrain) {
      this.awaitingDrain = true;
      dest.once('drain', () => {
        this.awaitingDrain = false;
        this.updateFlow();
      });
    }
  }

  private endDest(kind: EndKind): void {
    if (kind === 'close') {
      this.options.onConnectionEnd('close');
      return;
    }
    // Half-close: pass the FIN on and keep the other direction open, so a request-then-FIN
    // client still gets its answer (Toxiproxy closes both sides here; TCP does not).
    const { dest } = this.options;
    if (!dest.destroyed && !dest.writableEnded) dest.end();
  }

  private release(byteCount: number): void {
    this.heldBytes -= byteCount;
    assert.ok(this.heldBytes >= 0, 'a link never releases more bytes than it read');
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.disposed) return;
    const { source } = this.options;
    if (!this.readingPaused && (this.awaitingDrain || this.heldBytes >= LINK_BUFFERED_BYTES_MAX)) {
      this.readingPaused = true;
      source.pause();
    } else if (this.readingPaused && !this.awaitingDrain && this.heldBytes < LINK_BUFFERED_BYTES_RESUME) {
      this.readingPaused = false;
      source.resume();
    }
  }

  private outputFor(entryOf: () => ChainEntry): StageOutput {
    return {
      emit: (chunk) => {
        const entry = entryOf();
        if (entry.sealed) this.release(chunk.length);
        else this.deliver(entry.next, chunk);
      },
      end: (kind) => {
        const entry = entryOf();
        if (entry.sealed) return;
        entry.sealed = true;
        this.deliverEnd(entry.next, kind);
      },
      discard: (byteCount) => this.release(byteCount),
      reset: () => {
        if (!this.disposed) this.options.onConnectionEnd('reset');
      },
      nowMs: this.options.nowMs,
      random: this.options.random,
    };
  }

  private find(name: string): ChainEntry | null {
    for (let entry = this.head; entry !== null; entry = entry.next) {
      if (entry.spec.name === name && !entry.removed) return entry;
    }
    return null;
  }

  private previousOf(target: ChainEntry): ChainEntry | null {
    for (let entry = this.head; entry !== null; entry = entry.next) {
      if (entry.next === target) return entry;
    }
    return null;
  }

  private tail(): ChainEntry | null {
    let entry = this.head;
    while (entry !== null && entry.next !== null) entry = entry.next;
    return entry;
  }
}
