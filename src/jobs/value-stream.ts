// msgpack values read from bytes that arrive in pieces (a snapshot read from its file): each piece
// yields the values it completes, and a value cut by a piece's end waits for the next piece.

import { Unpackr } from 'msgpackr';

const unpackr = new Unpackr({ useRecords: false });

export class ValueStream {
  /** The start of a value the last piece ended inside of. */
  private pending: Uint8Array | null = null;

  /** Calls `onValue` for each value `piece` completes, in order. Pieces go in the stream's order. */
  push(piece: Uint8Array, onValue: (value: unknown) => void): void {
    const bytes = this.pending === null ? piece : Buffer.concat([this.pending, piece]);
    this.pending = null;
    if (bytes.byteLength === 0) return;
    try {
      unpackr.unpackMultiple(bytes, (value: unknown) => onValue(value));
    } catch (err) {
      // msgpackr marks a read past the end `incomplete` and names where that value began; an
      // error thrown by onValue carries no such mark and goes to the caller.
      const cut = err as { incomplete?: boolean; lastPosition?: number };
      if (cut.incomplete !== true || cut.lastPosition === undefined) throw err;
      // A copy: a view would keep the whole piece allocated until the next one.
      this.pending = Uint8Array.prototype.slice.call(bytes, cut.lastPosition);
    }
  }

  /** Bytes of a value begun and not finished: 0 when the stream ended between two values. */
  get pendingBytes(): number {
    return this.pending?.byteLength ?? 0;
  }
}
