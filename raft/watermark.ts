// A durability watermark kept outside LevelDB. LevelDB cannot tell a write-ahead log cut short by
// damage from one cut short by a crash, so a node whose log lost fsync'd writes would restart on
// the shorter log as if nothing happened: it could vote twice in a term, or forget entries it
// acknowledged (jepsen-lite's disk nemesis did exactly this). The watermark records what was
// durable — the hard state's term and vote, and the commit index — in a file of its own; a log
// found behind it at load is damage, and the node refuses to start.
//
// Cost: the record is rewritten in place after every save (one small pwrite, no fsync), which a
// process crash cannot lose: damage to a stopped node's files is caught exactly. It is fsync'd on
// every term or vote change (elections: rare), at most every WATERMARK_INTERVAL_MS otherwise, and
// on close; after a power loss, only writes of the last interval may go unnoticed (README).
// It is written only after LevelDB's sync batch returned, so it never claims more than is durable.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import type { HardState, NodeId } from './types.js';

export const WATERMARK_FILE = 'RAFTQ-DURABLE';
/** How long a recorded commit index may stay un-fsync'd. */
export const WATERMARK_INTERVAL_MS = 200;
/** The record is padded to a fixed size so an in-place rewrite never leaves a longer old tail. */
const RECORD_BYTES = 256;

export interface Watermark {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export class WatermarkError extends Error {}

export class DurabilityWatermark {
  private last: Watermark | null;
  private lastSyncMs = 0;
  private unsynced = false;
  private readonly file: string;
  private fd: number | null = null;

  constructor(
    dir: string,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.file = join(dir, WATERMARK_FILE);
    this.last = readWatermark(this.file);
  }

  get recorded(): Watermark | null {
    return this.last;
  }

  /**
   * What the log on disk must still hold: throws WatermarkError when the loaded state is behind
   * what was recorded durable. `lastIndex` is the last index the log holds (snapshot included).
   */
  check(hardState: HardState, lastIndex: number): void {
    const wm = this.last;
    if (wm === null) return;
    if (hardState.term < wm.term) {
      throw new WatermarkError(`hard state term ${hardState.term} is behind the durable term ${wm.term}: fsync'd writes were lost`);
    }
    if (hardState.term === wm.term && wm.vote !== null && hardState.vote !== wm.vote) {
      throw new WatermarkError(`the vote of term ${wm.term} was ${wm.vote} but the log says ${hardState.vote ?? 'none'}: fsync'd writes were lost`);
    }
    if (lastIndex < wm.commit) {
      throw new WatermarkError(`the log ends at ${lastIndex} but entries up to ${wm.commit} were committed here: fsync'd writes were lost`);
    }
  }

  /** Records the state after a durable save; fsyncs on a term or vote change, after the interval, or when `force`d. */
  afterSave(hardState: HardState, committed: number, force = false): void {
    const wm = this.last;
    const now = this.nowMs();
    const termOrVote = wm === null || wm.term !== hardState.term || wm.vote !== hardState.vote;
    const commitMoved = wm === null || committed > wm.commit;
    if (termOrVote || commitMoved) {
      const next: Watermark = { term: hardState.term, vote: hardState.vote, commit: Math.max(committed, wm?.commit ?? 0) };
      this.rewrite(next);
      this.last = next;
      this.unsynced = true;
    }
    if (this.unsynced && (termOrVote || force || now - this.lastSyncMs >= WATERMARK_INTERVAL_MS)) {
      fsyncSync(this.fd!);
      this.unsynced = false;
      this.lastSyncMs = now;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private rewrite(wm: Watermark): void {
    if (this.fd === null) {
      // The first record goes in with a durable rename, so the file itself exists after a power loss.
      if (!existsSync(this.file)) writeDurably(this.file, pad(wm));
      this.fd = openSync(this.file, 'r+');
    }
    const bytes = Buffer.from(pad(wm));
    writeSync(this.fd, bytes, 0, bytes.length, 0);
  }
}

function pad(wm: Watermark): string {
  const text = JSON.stringify(wm);
  if (text.length + 1 > RECORD_BYTES) throw new WatermarkError(`watermark record of ${text.length} bytes exceeds ${RECORD_BYTES}`);
  return `${text}${' '.repeat(RECORD_BYTES - text.length - 1)}\n`;
}

function readWatermark(file: string): Watermark | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  try {
    const parsed = JSON.parse(text) as Partial<Watermark>;
    if (typeof parsed.term !== 'number' || typeof parsed.commit !== 'number' || !(parsed.vote === null || typeof parsed.vote === 'string')) {
      throw new Error('missing fields');
    }
    return { term: parsed.term, vote: parsed.vote, commit: parsed.commit };
  } catch (error) {
    throw new WatermarkError(`${file} is damaged (${(error as Error).message}): ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/** Write to a temporary file, fsync it, rename over the old one, fsync the directory. */
function writeDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(join(file, '..'), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
