// What a command may know about where it is applied: the Raft index, the leader's time stamp,
// and its position within the entry. Nothing else feeds ids, tokens or time.

import { EntryStamp } from './job-record.js';
import type { Command } from './types.js';

/** The command of one op, narrowed. */
export type Cmd<K extends Command['op']> = Extract<Command, { op: K }>;

/** Where in the log a command is applied: all it may know about time and position. */
export class EntryContext {
  /** Position of the current envelope within the entry (part of lease tokens). */
  envelopePosition = 0;
  /** Ids assigned so far in this entry (the position part of assigned ids). */
  assignedIds = 0;
  private entryStamp: EntryStamp | null = null;

  constructor(
    readonly index: number,
    readonly nowMs: number,
  ) {}

  /** The stamp every job created by this entry shares (created on first use). */
  stamp(): EntryStamp {
    return (this.entryStamp ??= new EntryStamp(this.index, this.nowMs));
  }
}
