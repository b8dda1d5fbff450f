// A node's Raft snapshot data: one msgpack value `{members}` (the member address book), then the
// job state machine's image (src/jobs/snapshot.ts), written into one buffer, or in pieces that go
// to the snapshot's file as they fill (RaftDriver, LogStorage.openSnapshotFile). The image is never
// wrapped in a msgpack `bin` by msgpackr: packing it would copy it once more and leave msgpackr's
// shared encode buffer as large as the whole state for the rest of the process's life.

import type { NodeId, SnapshotSource } from '../raft/types.js';
import { MsgpackWriter } from '../src/jobs/msgpack-writer.js';
import { runToEnd, SnapshotDecoder } from '../src/jobs/snapshot.js';
import { ValueStream } from '../src/jobs/value-stream.js';
import { JobStateMachine } from '../src/jobs/state-machine.js';
import type { MemberAddresses } from './members.js';


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
  const decoder = new NodeSnapshotDecoder();
  decoder.push(data);
  return decoder.finish();
}

/**
 * A stored snapshot decoded as it is read, `pieceBytes` at a time: a restart never holds the whole
 * image beside the state it builds. The source checks the data against its checksum as the last
 * piece is read, so a value that does not decode is first read to the end: damage is reported as
 * the source's StorageCorruptError, and only data that passes it as a decoding error.
 */
export async function readNodeSnapshot(source: SnapshotSource, pieceBytes: number): Promise<{ members: [NodeId, MemberAddresses][]; sm: JobStateMachine }> {
  const decoder = new NodeSnapshotDecoder();
  let decodeError: unknown = null;
  try {
    for (let read = 0; read < source.bytes; ) {
      const piece = await source.read(pieceBytes);
      read += piece.byteLength;
      if (decodeError !== null) continue;
      try {
        decoder.push(piece);
      } catch (err) {
        decodeError = err;
      }
    }
  } finally {
    await source.close();
  }
  if (decodeError !== null) throw decodeError;
  return decoder.finish();
}

/** decodeNodeSnapshot for data read piece by piece (a snapshot file at restart), never whole. */
export class NodeSnapshotDecoder {
  private members: [NodeId, MemberAddresses][] | null = null;
  private readonly stream = new ValueStream();
  private readonly image = new SnapshotDecoder();

  push(piece: Uint8Array): void {
    this.stream.push(piece, (value) => (this.members === null ? this.takeMembers(value) : this.image.take(value)));
  }

  finish(): { members: [NodeId, MemberAddresses][]; sm: JobStateMachine } {
    if (this.stream.pendingBytes > 0) throw new Error(`invariant: snapshot ends inside a value (${this.stream.pendingBytes} bytes of it)`);
    if (this.members === null) throw new Error('invariant: node snapshot does not start with {members}');
    return { members: this.members, sm: JobStateMachine.restoreDecoded(this.image.finish()) };
  }

  private takeMembers(value: unknown): void {
    const header = value as { members?: unknown; sm?: unknown } | null;
    // Format 1 wrapped the whole image in one `sm` bin; this build reads only the streamed format.
    if (header?.sm !== undefined) throw new Error('snapshot data of format 1 (written by an older raftq, before snapshots were streamed) cannot be read by this build');
    if (!Array.isArray(header?.members)) throw new Error('invariant: node snapshot does not start with {members}');
    this.members = header.members as [NodeId, MemberAddresses][];
  }
}
