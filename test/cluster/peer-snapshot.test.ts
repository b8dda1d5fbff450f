// InstallSnapshot between two real PeerTransports on loopback. An image larger than what a link
// may queue (PEER_QUEUE_BYTES_MAX) must still arrive: it used to be queued all at once, its tail
// refused, and every retry again, so a follower that fell behind a snapshot of more than ~200k
// jobs never caught up.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageCorruptError } from '../../raft/memory-storage.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { PEER_QUEUE_BYTES_MAX, PeerTransport, SNAPSHOT_CHUNK_BYTES, type PeerTransportHooks } from '../../cluster/peer-transport.js';
import type { SnapshotFileWriter } from '../../raft/storage.js';
import { RELEASED_SNAPSHOT_DATA, type Message, type NodeId, type SnapshotRequest, type SnapshotSource } from '../../raft/types.js';

const open: PeerTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});


interface Events {
  raft: Message[];
  failed: NodeId[];
  progress: NodeId[];
  problems?: string[];
  causes?: unknown[];
}

function hooks(events: Events): PeerTransportHooks {
  return {
    onHello: () => undefined,
    onLinkDown: () => undefined,
    onRaft: (m) => events.raft.push(m),
    onSnapshotFailed: (peer, cause) => {
      events.failed.push(peer);
      events.causes?.push(cause);
    },
    onSnapshotProgress: (peer) => events.progress.push(peer),
    onForward: () => undefined,
    onForwardResponse: () => undefined,
    onForwardCancel: () => undefined,
    onProblem: (reason) => events.problems?.push(reason),
  };
}

async function pair(): Promise<{ leader: PeerTransport; follower: PeerTransport; sent: Events; received: Events }> {
  const sent: Events = { raft: [], failed: [], progress: [] };
  const received: Events = { raft: [], failed: [], progress: [] };
  const follower = new PeerTransport({ t: 'hello', from: 'n2', client: '', http: '' }, hooks(received));
  const leader = new PeerTransport({ t: 'hello', from: 'n1', client: '', http: '' }, hooks(sent));
  open.push(leader, follower);
  const port = await follower.listen('127.0.0.1:0');
  leader.setPeer('n2', `127.0.0.1:${port}`);
  await until('the link is up', () => leader.isConnected('n2'));
  return { leader, follower, sent, received };
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function snapshotMessage(index: number, bytes: number, term = 1): SnapshotRequest {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = (i / 4096 + index) & 0xff;
  return { type: 'snapshot', from: 'n1', to: 'n2', term, snapshot: { meta: { index, term, config: { voters: ['n1', 'n2'] } }, data } };
}

const receivedSnapshots = (events: Events): SnapshotRequest[] => events.raft.filter((m): m is SnapshotRequest => m.type === 'snapshot');

describe('PeerTransport: a snapshot larger than a link may queue', () => {
  it('arrives whole, one chunk in the socket at a time, and is not started over when Raft asks again meanwhile', async () => {
    const { leader, sent, received } = await pair();
    const bytes = PEER_QUEUE_BYTES_MAX + 16 * SNAPSHOT_CHUNK_BYTES + 12345;
    const m = snapshotMessage(7, bytes);
    expect(leader.sendRaft([m]).snapshotsFailed).toEqual([]);
    // Raft's timeout fires while the image is on its way: the same snapshot again is the same delivery.
    await until('a few chunks out', () => sent.progress.length >= 3);
    expect(leader.sendRaft([m]).snapshotsFailed).toEqual([]);
    await until('the snapshot arrived', () => receivedSnapshots(received).length === 1);
    const got = receivedSnapshots(received)[0]!;
    expect(got.snapshot.meta.index).toBe(7);
    expect(Buffer.from(got.snapshot.data).equals(Buffer.from(m.snapshot.data))).toBe(true);
    expect(sent.progress).toHaveLength(Math.ceil(bytes / SNAPSHOT_CHUNK_BYTES));
    expect(sent.failed).toEqual([]);
    // Delivered: asked again, it is sent again (the follower may have lost it).
    leader.sendRaft([m]);
    await until('the second copy arrived', () => receivedSnapshots(received).length === 2);
  });

  it('a newer snapshot replaces one on its way; a link that drops reports the delivery failed', async () => {
    const { leader, follower, sent, received } = await pair();
    leader.sendRaft([snapshotMessage(7, 24 * SNAPSHOT_CHUNK_BYTES)]);
    await until('a few chunks out', () => sent.progress.length >= 2);
    const newer = snapshotMessage(9, 3 * SNAPSHOT_CHUNK_BYTES);
    leader.sendRaft([newer]);
    await until('the newer snapshot arrived', () => receivedSnapshots(received).length === 1);
    expect(receivedSnapshots(received).map((m) => m.snapshot.meta.index)).toEqual([9]);

    const before = sent.progress.length;
    leader.sendRaft([snapshotMessage(11, 64 * SNAPSHOT_CHUNK_BYTES)]);
    await until('a few chunks out', () => sent.progress.length >= before + 2);
    await follower.close();
    await until('the delivery reported failed', () => sent.failed.length === 1);
    expect(sent.failed).toEqual(['n2']);
    expect(receivedSnapshots(received)).toHaveLength(1);
  });
});

/** A snapshot's data handed out in pieces, as storage would (openSnapshotSource); `failAtLast`: a checksum mismatch. */
class PiecesSource implements SnapshotSource {
  closed = 0;
  private offset = 0;
  constructor(
    private readonly message: SnapshotRequest,
    private readonly failAtLast = false,
  ) {}
  get meta(): SnapshotRequest['snapshot']['meta'] {
    return this.message.snapshot.meta;
  }
  get bytes(): number {
    return this.message.snapshot.data.byteLength;
  }
  async read(length: number): Promise<Uint8Array> {
    const piece = this.message.snapshot.data.subarray(this.offset, this.offset + length);
    this.offset += piece.byteLength;
    if (this.failAtLast && this.offset === this.bytes) throw new StorageCorruptError('checksum mismatch');
    return piece;
  }
  async close(): Promise<void> {
    this.closed += 1;
  }
}

describe('PeerTransport: a snapshot read from storage as it is sent', () => {
  it('arrives whole and the source is closed; a source that fails its checksum at the last piece never completes the image', async () => {
    const { leader, sent, received } = await pair();
    const whole = snapshotMessage(7, 5 * SNAPSHOT_CHUNK_BYTES + 99);
    const good = new PiecesSource(whole);
    expect(leader.sendRaft([{ ...whole, snapshot: { meta: whole.snapshot.meta, data: RELEASED_SNAPSHOT_DATA }, source: good }]).snapshotsFailed).toEqual([]);
    await until('the snapshot arrived', () => receivedSnapshots(received).length === 1);
    expect(Buffer.from(receivedSnapshots(received)[0]!.snapshot.data).equals(Buffer.from(whole.snapshot.data))).toBe(true);
    await until('the source closed', () => good.closed === 1);

    sent.causes = [];
    const damaged = snapshotMessage(8, 3 * SNAPSHOT_CHUNK_BYTES);
    const bad = new PiecesSource(damaged, true);
    leader.sendRaft([{ ...damaged, snapshot: { meta: damaged.snapshot.meta, data: RELEASED_SNAPSHOT_DATA }, source: bad }]);
    await until('the delivery reported failed', () => sent.failed.length === 1);
    // With its cause, so the node can replace a damaged snapshot file.
    expect(sent.causes[0]).toBeInstanceOf(StorageCorruptError);
    await until('the source closed', () => bad.closed === 1);
    // The first chunks went, the last never did: a good snapshot sent after it on the same link
    // (which keeps order) arrives, and nothing came before it.
    const next = snapshotMessage(9, SNAPSHOT_CHUNK_BYTES + 1);
    leader.sendRaft([{ ...next, snapshot: { meta: next.snapshot.meta, data: RELEASED_SNAPSHOT_DATA }, source: new PiecesSource(next) }]);
    await until('the good snapshot arrived', () => receivedSnapshots(received).length === 2);
    expect(receivedSnapshots(received).map((m) => m.snapshot.meta.index)).toEqual([7, 9]);
  });
});

describe('PeerTransport: receiving a snapshot', () => {
  /** A raw link to `port` that says hello as n1, for frames a PeerTransport of this build would not send. */
  async function rawLink(port: number): Promise<net.Socket> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(Buffer.concat(encodeFrame({ t: 'hello', from: 'n1', client: '', http: '' })));
    return socket;
  }

  function chunkFrames(index: number, parts: Uint8Array[], bytes?: number): Buffer {
    const meta = { index, term: 1, config: { voters: ['n1', 'n2'] } };
    return Buffer.concat(parts.flatMap((chunk, seq) => encodeFrame({ t: 'snap', from: 'n1', to: 'n2', term: 1, meta, seq, chunk, last: seq === parts.length - 1, ...(bytes === undefined ? {} : { bytes }) })));
  }

  it('assembles chunks from a sender that does not tell the size (an older node), and drops an image that ends short of the size told', async () => {
    const received: Events = { raft: [], failed: [], progress: [], problems: [] };
    const follower = new PeerTransport({ t: 'hello', from: 'n2', client: '', http: '' }, hooks(received));
    open.push(follower);
    const port = await follower.listen('127.0.0.1:0');
    const socket = await rawLink(port);
    const parts = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(10, 3)];
    socket.write(chunkFrames(4, parts));
    await until('the snapshot without a size arrived', () => receivedSnapshots(received).length === 1);
    expect(Buffer.from(receivedSnapshots(received)[0]!.snapshot.data).equals(Buffer.concat(parts))).toBe(true);

    socket.write(chunkFrames(5, parts, 5000));
    socket.write(chunkFrames(6, parts, 2010));
    await until('the next snapshot arrived', () => receivedSnapshots(received).length === 2);
    expect(receivedSnapshots(received).map((m) => m.snapshot.meta.index)).toEqual([4, 6]);
    expect(received.problems).toEqual(['snapshot from n1 ended at 2010 of 5000 bytes']);
    socket.destroy();
  });

  it('keeps an image per connection: one cut short dies with its connection, and chunks of another term never join it', async () => {
    const received: Events = { raft: [], failed: [], progress: [], problems: [] };
    const follower = new PeerTransport({ t: 'hello', from: 'n2', client: '', http: '' }, hooks(received));
    open.push(follower);
    const port = await follower.listen('127.0.0.1:0');
    const parts = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(10, 3)];
    const frames = (index: number, term = 1): Buffer[] => {
      const meta = { index, term: 1, config: { voters: ['n1', 'n2'] } };
      return parts.map((chunk, seq) => Buffer.concat(encodeFrame({ t: 'snap', from: 'n1', to: 'n2', term, meta, seq, chunk, last: seq === parts.length - 1, bytes: 2010 })));
    };
    const cut = await rawLink(port);
    cut.write(Buffer.concat(frames(4).slice(0, 2)));
    // The next connection of the same peer starts another image while the first is still open.
    const next = await rawLink(port);
    next.write(frames(5)[0]!);
    cut.destroy();
    next.write(Buffer.concat(frames(5).slice(1)));
    await until('the second connection\'s image arrived', () => receivedSnapshots(received).length === 1);
    expect(receivedSnapshots(received)[0]!.snapshot.meta.index).toBe(5);
    expect(Buffer.from(receivedSnapshots(received)[0]!.snapshot.data).equals(Buffer.concat(parts))).toBe(true);

    // A chunk sent under another leader term does not complete an image begun under this one.
    const [first, , last] = frames(6);
    next.write(Buffer.concat([first!, frames(6, 2)[1]!, last!]));
    next.write(Buffer.concat(frames(7)));
    await until('the next whole image arrived', () => receivedSnapshots(received).length === 2);
    expect(receivedSnapshots(received).map((m) => m.snapshot.meta.index)).toEqual([5, 7]);
    next.destroy();
  });
});

/** A snapshot file in memory: what LogStorage.openSnapshotFile hands the transport. */
class MemoryFile implements SnapshotFileWriter {
  readonly parts: Uint8Array[] = [];
  aborted = 0;
  /** Writes from this one on fail, as a full disk's would. */
  failFromWrite = Number.POSITIVE_INFINITY;
  get bytes(): number {
    return this.parts.reduce((n, p) => n + p.byteLength, 0);
  }
  async write(chunk: Uint8Array): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // a write takes a while, as a disk's does
    if (this.parts.length >= this.failFromWrite) throw new Error('ENOSPC: no space left on device');
    this.parts.push(Buffer.from(chunk));
  }
  async abort(): Promise<void> {
    this.aborted += 1;
  }
}

/** A leader and a follower whose snapshots received go to MemoryFiles (`failFromWrite` for each), listed in `files`. */
async function pairWithFiles(failFromWrite = Number.POSITIVE_INFINITY): Promise<{ leader: PeerTransport; received: Events; files: MemoryFile[]; port: number }> {
  const received: Events = { raft: [], failed: [], progress: [], problems: [] };
  const files: MemoryFile[] = [];
  const follower = new PeerTransport({ t: 'hello', from: 'n2', client: '', http: '' }, {
    ...hooks(received),
    openSnapshotFile: async () => {
      const file = new MemoryFile();
      file.failFromWrite = failFromWrite;
      files.push(file);
      return file;
    },
  });
  const leader = new PeerTransport({ t: 'hello', from: 'n1', client: '', http: '' }, hooks({ raft: [], failed: [], progress: [] }));
  open.push(leader, follower);
  const port = await follower.listen('127.0.0.1:0');
  leader.setPeer('n2', `127.0.0.1:${port}`);
  await until('the link is up', () => leader.isConnected('n2'));
  return { leader, received, files, port };
}

describe('PeerTransport: receiving a snapshot into a file', () => {
  it('writes each chunk to the file as it comes and hands on the snapshot once all are written; drops and removes the file of an image cut short', async () => {
    const { leader, received, files, port } = await pairWithFiles();
    const m = snapshotMessage(7, 6 * SNAPSHOT_CHUNK_BYTES + 321);
    leader.sendRaft([m]);
    await until('the snapshot arrived', () => receivedSnapshots(received).length === 1);
    const got = receivedSnapshots(received)[0]!;
    expect(got.snapshot.meta.index).toBe(7);
    expect(got.snapshot.data).toBe(RELEASED_SNAPSHOT_DATA);
    expect(got.file).toBe(files[0]);
    expect(Buffer.concat(files[0]!.parts).equals(Buffer.from(m.snapshot.data))).toBe(true);
    expect(files[0]!.aborted).toBe(0);

    // Cut short: the link drops halfway, and the half-written file is removed.
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(Buffer.concat(encodeFrame({ t: 'hello', from: 'n1', client: '', http: '' })));
    const meta = { index: 9, term: 1, config: { voters: ['n1', 'n2'] } };
    socket.write(Buffer.concat(encodeFrame({ t: 'snap', from: 'n1', to: 'n2', term: 1, meta, seq: 0, chunk: Buffer.alloc(1000, 1), last: false, bytes: 3000 })));
    await until('its file was opened', () => files.length === 2);
    socket.destroy();
    await until('its file was removed', () => files[1]!.aborted === 1);
    expect(receivedSnapshots(received)).toHaveLength(1);
  });
});

describe('PeerTransport: a snapshot file that cannot be written', () => {
  it('drops the image, reports it and removes the file, with no rejection left unhandled', async () => {
    const { leader, received, files } = await pairWithFiles(1);
    leader.sendRaft([snapshotMessage(7, 4 * SNAPSHOT_CHUNK_BYTES)]);
    await until('the failure reported and the file removed', () => received.problems!.length === 1 && files[0]?.aborted === 1);
    expect(received.problems![0]).toMatch(/snapshot from n1 could not be written: ENOSPC/);
    expect(receivedSnapshots(received)).toEqual([]);
  });
});
