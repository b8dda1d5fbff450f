// A node's Raft snapshot data: one msgpack value `{members}` (the member address book), then the
// job state machine's image (src/jobs/snapshot.ts), written into one buffer, or in pieces that go
// to the snapshot's file as they fill (RaftDriver, LogStorage.openSnapshotFile). The image is never
// wrapped in a msgpack `bin` by msgpackr: packing it would copy it once more and leave msgpackr's
// shared encode buffer as large as the whole state for the rest of the process's life.

import { Unpackr } from 'msgpackr';
import type { NodeId } from '../raft/types.js';
import { MsgpackWriter } from '../src/jobs/msgpack-writer.js';
import { runToEnd } from '../src/jobs/snapshot.js';
import { JobStateMachine } from '../src/jobs/state-machine.js';
import type { MemberAddresses } from './members.js';

const unpackr = new Unpackr({ useRecords: false });

/** Bytes for the members value, beyond the state machine's own estimate. */
const MEMBERS_BYTES_ESTIMATE = 4096;

export function encodeNodeSnapshot(sm: JobStateMachine, members: [NodeId, MemberAddresses][]): Uint8Array {
  return runToEnd(encodeNodeSnapshotSteps(sm, members));
}

/** A piece's buffer holds the piece and what one more step writes past it, usually without growing. */
const PIECE_BUFFER_OF_PIECE = 1.25;

/**
 * encodeNodeSnapshot in steps (JobStateMachine.writeSnapshotSteps). With `pieceBytes` finite, a step
 * that filled at least that many bytes yields them: a view of the one buffer the encoder reuses, to
 * be written out before the next step; the return value is then the last piece. Otherwise no step
 * yields bytes and the return value is the whole image.
 */
export function* encodeNodeSnapshotSteps(sm: JobStateMachine, members: [NodeId, MemberAddresses][], pieceBytes = Number.POSITIVE_INFINITY): Generator<Uint8Array | undefined, Uint8Array, void> {
  const pieceBufferBytes = Math.ceil(Math.min(sm.snapshotBytesEstimate + MEMBERS_BYTES_ESTIMATE, pieceBytes * PIECE_BUFFER_OF_PIECE));
  const w = new MsgpackWriter(pieceBufferBytes);
  w.value({ members });
  const steps = sm.writeSnapshotSteps(w);
  while (!steps.next().done) {
    if (w.length < pieceBytes) {
      yield undefined;
      continue;
    }
    yield w.finish();
    // A step that wrote far more (jobs with large payloads) grew the buffer: give that back.
    w.reset(pieceBufferBytes);
  }
  return w.finish();
}

export function decodeNodeSnapshot(data: Uint8Array): { members: [NodeId, MemberAddresses][]; sm: JobStateMachine } {
  let header: { members?: [NodeId, MemberAddresses][]; sm?: unknown } | null = null;
  let imageStart = 0;
  unpackr.unpackMultiple(data, (value: unknown, _start?: number, end?: number) => {
    header = value as { members?: [NodeId, MemberAddresses][] };
    imageStart = end ?? data.byteLength;
    return false; // the rest is the state machine's image
  });
  const first = header as { members?: [NodeId, MemberAddresses][]; sm?: unknown } | null;
  // Format 1 wrapped the whole image in one `sm` bin; this build reads only the streamed format.
  if (first !== null && first.sm !== undefined) throw new Error('snapshot data of format 1 (written by an older raftq, before snapshots were streamed) cannot be read by this build');
  const members = first?.members;
  if (!Array.isArray(members)) throw new Error('invariant: node snapshot does not start with {members}');
  return { members, sm: JobStateMachine.restore(data.subarray(imageStart)) };
}
