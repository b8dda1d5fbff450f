// The write discipline both disk storages share: writes run one at a time in the order they were
// queued (each plans against the state the previous one left); a failed write leaves the disk
// state unknown, so every later one is refused; close lets the queued writes finish first.
import { invariant } from './memory-storage.js';

export class WriteQueue {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private closing: Promise<void> | null = null;
  private loaded = false;

  /** Writes are accepted from now on (after load). */
  markLoaded(): void {
    this.loaded = true;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Throws what a write queued now would be refused for. */
  checkWritable(): void {
    if (this.closing !== null) throw new Error('storage invariant: write after close');
    this.checkRunnable();
  }

  /** Queues `op` behind every write queued before it. */
  run(op: () => Promise<void>): Promise<void> {
    if (this.closing !== null) return Promise.reject(new Error('storage invariant: write after close'));
    const run = this.tail.then(() => {
      this.checkRunnable();
      return op();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Runs one disk write; if it fails, every later write is refused. */
  async guard<T>(io: () => Promise<T>): Promise<T> {
    try {
      return await io();
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  /** Lets the writes already queued finish, then runs `finish`; writes queued after this are refused. */
  close(finish: () => void | Promise<void>): Promise<void> {
    this.closing ??= this.tail.then(finish);
    return this.closing;
  }

  private checkRunnable(): void {
    invariant(this.loaded, 'write on a storage that is not loaded');
    if (this.failure !== null) throw new Error(`storage refused: an earlier write failed`, { cause: this.failure });
  }
}
