// The client side of exactly-once requests (Raft dissertation §6.3). Every mutating request gets
// the next seq of this client; a retry reuses it. The state machine keeps only the last
// SESSION_RESULTS_MAX results of a client, so a seq must never fall that far behind the newest
// one while its answer is still outstanding: this window holds new requests back until it fits.

import { RaftqError } from '../errors.js';

interface Waiter {
  resolve(seq: number): void;
  reject(error: RaftqError): void;
}

export class SessionWindow {
  private readonly windowSize: number;
  private nextSeq = 1;
  /** Seqs handed out and not yet released; a Set iterates in insertion (= seq) order. */
  private readonly outstanding = new Set<number>();
  private readonly waiters: Waiter[] = [];
  private closedError: RaftqError | null = null;

  constructor(windowSize: number) {
    this.windowSize = windowSize;
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }

  /** The oldest seq still awaiting its answer (every smaller one has been answered). */
  get floor(): number {
    const oldest = this.outstanding.values().next();
    return oldest.done === true ? this.nextSeq : oldest.value;
  }

  /** Resolves with a fresh seq once it is within the window of the oldest outstanding one. */
  acquire(): Promise<number> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (this.waiters.length === 0 && this.fits()) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The request with this seq got its final answer (or was given up on). */
  release(seq: number): void {
    this.outstanding.delete(seq);
    while (this.waiters.length > 0 && this.fits()) this.waiters.shift()!.resolve(this.take());
  }

  close(error: RaftqError): void {
    this.closedError = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private fits(): boolean {
    const oldest = this.outstanding.values().next();
    return oldest.done === true || this.nextSeq - oldest.value < this.windowSize;
  }

  private take(): number {
    const seq = this.nextSeq++;
    this.outstanding.add(seq);
    return seq;
  }
}
