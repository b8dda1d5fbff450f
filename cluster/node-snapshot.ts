// A node's Raft snapshot data: one msgpack value `{members}` (the member address book), then the
// job state machine's image (src/jobs/snapshot.ts), written into one buffer. The image is never
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

/** encodeNodeSnapshot in steps (JobStateMachine.writeSnapshotSteps); the data is the generator's return value. */
export function* encodeNodeSnapshotSteps(sm: JobStateMachine, members: [NodeId, MemberAddresses][]): Generator<void, Uint8Array, void> {
  const w = new MsgpackWriter(sm.snapshotBytesEstimate + MEMBERS_BYTES_ESTIMATE);
  w.value({ members });
  yield* sm.writeSnapshotSteps(w);
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
