// The peer wire between broker nodes: one outbound TCP connection per peer (we only ever write
// to it), so each ordered pair of nodes has its own link — which is what lets jepsen-lite cut
// A→B while B→A still works. Frames are the client wire's (4-byte length + msgpack), coalesced
// per event-loop turn by FrameWriter.

import net from 'node:net';
import { FrameDecoder, FrameWriter } from '../src/protocol/frame.js';
import { parseHostPort } from '../src/protocol/address.js';
import type { SnapshotFileWriter } from '../raft/storage.js';
import { RELEASED_SNAPSHOT_DATA, type Message, type NodeId, type Snapshot, type SnapshotRequest } from '../raft/types.js';

/** Peer frames carry whole AppendEntries batches and snapshot chunks. */
export const PEER_FRAME_BYTES_MAX = 64 * 1024 * 1024;
/**
 * InstallSnapshot travels in chunks so no single frame (or event-loop turn) handles a whole image;
 * each goes once the socket has taken the one before (OutboundLink.sendSnapshot).
 */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Chunks of a snapshot received that may wait for the disk before the link stops being read. */
const SNAPSHOT_WRITES_WAITING_MAX = 4;
/** Frames queued for a peer whose socket is not writable; beyond it raft messages are dropped (Raft retransmits). */
export const PEER_QUEUE_BYTES_MAX = 32 * 1024 * 1024;
const RECONNECT_MS_MIN = 20;
const RECONNECT_MS_MAX = 1000;

/** What travels between nodes besides Raft: forwarded client requests and their answers. */
export type PeerPayload =
  | { t: 'raft'; m: Message }
  /** `bytes`: the whole image's size, so the receiver fills one buffer (absent from older nodes: it concatenates). */
  | { t: 'snap'; from: NodeId; to: NodeId; term: number; meta: Snapshot['meta']; seq: number; chunk: Uint8Array; last: boolean; bytes?: number }
  | { t: 'fwd'; id: number; req: unknown }
  | { t: 'fwdResp'; id: number; res: unknown }
  /** The client of a forwarded request left: the leader stops waiting for it (a long poll ends empty). */
  | { t: 'fwdCancel'; id: number };

/** The first frame on every link: who we are and where clients reach us (the address book learns it). */
export interface Hello {
  t: 'hello';
  from: NodeId;
  client: string;
  http: string;
}

export interface PeerTransportHooks {
  onHello(hello: Hello): void;
  /**
   * A snapshot being sent to this peer will not arrive whole: our link dropped, or reading it from
   * storage failed (`cause`; a damaged file fails its checksum). Raft may send it again.
   */
  onSnapshotFailed?(peer: NodeId, cause?: unknown): void;
  /**
   * Where a snapshot arriving from the leader is written as its chunks come, so no node holds a
   * whole image it receives (LogStorage.openSnapshotFile). Without it the chunks fill one buffer.
   */
  openSnapshotFile?(): Promise<SnapshotFileWriter>;
  /** A chunk of the snapshot being sent to this peer went into the socket: the delivery is alive. */
  onSnapshotProgress?(peer: NodeId): void;
  /** Our link to this peer closed (the peer died, or the network cut it). */
  onLinkDown(peer: NodeId): void;
  /** Our link to this peer is connected (again). */
  onLinkUp?(peer: NodeId): void;
  onRaft(m: Message): void;
  onForward(from: NodeId, id: number, req: unknown): void;
  onForwardResponse(from: NodeId, id: number, res: unknown): void;
  onForwardCancel(from: NodeId, id: number): void;
  onProblem(reason: string, peer: string): void;
}

/** A snapshot being received that will not be handed on: its file (if any) is removed once its writes end. */
function abandon(asm: SnapshotAssembly): void {
  const file = asm.file;
  if (file === null) return;
  void asm.written
    .catch(() => undefined)
    .then(async () => (await file).abort())
    .catch(() => undefined);
}

/** A snapshot message that will not be sent: the storage file it would have been read from is closed. */
function closeSource(m: SnapshotRequest): void {
  void m.source?.close().catch(() => undefined);
}

/** A snapshot on its way to a peer, chunk by chunk (OutboundLink.sendSnapshot). */
interface SnapshotDelivery {
  index: number;
  term: number;
  /** The sender's term: a leader elected again sends it anew, under its new term. */
  leaderTerm: number;
  /** Replaced by another snapshot, or the link dropped: send no more of it. */
  stopped: boolean;
  failed: (cause?: unknown) => void;
  progress: () => void;
}

class OutboundLink {
  private socket: net.Socket | null = null;
  private writer: FrameWriter | null = null;
  private delivery: SnapshotDelivery | null = null;
  private connecting = false;
  private reconnectMs = RECONNECT_MS_MIN;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  connectedOnce = false;

  constructor(
    private readonly hello: Hello,
    public address: string,
    private readonly onProblem: (reason: string) => void,
    private readonly onDown: () => void,
    private readonly onUp: () => void,
  ) {}

  get connected(): boolean {
    return this.writer !== null;
  }

  send(payload: PeerPayload): boolean {
    if (this.writer === null) {
      this.connect();
      return false;
    }
    if (this.writer.queuedBytes > PEER_QUEUE_BYTES_MAX) return false;
    this.writer.write(payload);
    return true;
  }

  connect(): void {
    if (this.closed || this.connecting || this.socket !== null || this.timer !== null) return;
    const hp = parseHostPort(this.address);
    if (!hp) {
      this.onProblem(`bad peer address ${this.address}`);
      return;
    }
    this.connecting = true;
    const socket = net.connect({ host: hp.host, port: hp.port });
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.connecting = false;
      this.socket = socket;
      this.reconnectMs = RECONNECT_MS_MIN;
      this.connectedOnce = true;
      const writer = new FrameWriter(socket, { frameBytesMax: PEER_FRAME_BYTES_MAX });
      writer.write(this.hello);
      this.writer = writer;
      this.onUp();
    });
    // We never expect data back on an outbound link; reading keeps the socket from stalling.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const wasConnected = this.writer !== null;
      this.connecting = false;
      this.socket = null;
      this.writer?.close();
      this.writer = null;
      this.stopDelivery(true);
      if (wasConnected) this.onDown();
      this.scheduleReconnect();
    });
  }

  /**
   * Sends a snapshot in chunks, each once the socket has taken the ones before, so an image of any
   * size goes through with one chunk in memory beside it (queued all at once, an image larger
   * than PEER_QUEUE_BYTES_MAX never arrived: its tail was refused, and every retry again). The
   * snapshot already on its way is not started over when Raft asks again (its timeout may fire
   * while a large image is still travelling); another snapshot replaces it. `failed` runs if the
   * link drops before the last chunk, `progress` after each chunk. False: not connected.
   */
  sendSnapshot(m: SnapshotRequest, failed: (cause?: unknown) => void, progress: () => void): boolean {
    if (this.writer === null) {
      closeSource(m);
      this.connect();
      return false;
    }
    const { index, term } = m.snapshot.meta;
    const current = this.delivery;
    if (current !== null && current.index === index && current.term === term && current.leaderTerm === m.term) {
      closeSource(m);
      return true;
    }
    this.stopDelivery(false);
    const delivery: SnapshotDelivery = { index, term, leaderTerm: m.term, stopped: false, failed, progress };
    this.delivery = delivery;
    void this.deliver(delivery, m, this.writer);
    return true;
  }

  /** Sends the chunks, from memory or read one by one from storage (m.source), which it closes. */
  private async deliver(delivery: SnapshotDelivery, m: SnapshotRequest, writer: FrameWriter): Promise<void> {
    const source = m.source;
    const bytes = source?.bytes ?? m.snapshot.data.byteLength;
    const count = Math.max(1, Math.ceil(bytes / SNAPSHOT_CHUNK_BYTES));
    try {
      for (let seq = 0; seq < count; seq++) {
        const from = seq * SNAPSHOT_CHUNK_BYTES;
        const length = Math.min(bytes, from + SNAPSHOT_CHUNK_BYTES) - from;
        // A source checks the image's checksum as it reads the last chunk: a damaged image never
        // reaches the follower whole, so it is never installed.
        const chunk = source !== undefined ? await source.read(length) : m.snapshot.data.subarray(from, from + length);
        if (delivery.stopped) return;
        writer.write({ t: 'snap', from: m.from, to: m.to, term: m.term, meta: m.snapshot.meta, seq, chunk, last: seq === count - 1, bytes });
        await writer.drained();
        if (delivery.stopped) return;
        delivery.progress();
      }
      if (this.delivery === delivery) this.delivery = null;
    } catch (err) {
      this.onProblem(`snapshot ${m.snapshot.meta.index} not sent: ${(err as Error).message}`);
      if (this.delivery === delivery) this.stopDelivery(true, err);
    } finally {
      await source?.close().catch(() => undefined);
    }
  }

  private stopDelivery(failed: boolean, cause?: unknown): void {
    const delivery = this.delivery;
    if (delivery === null) return;
    delivery.stopped = true;
    this.delivery = null;
    if (failed) delivery.failed(cause);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, this.reconnectMs);
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MS_MAX);
  }

  /** Drops the current connection (e.g. the address changed); it reconnects on the next send. */
  reset(): void {
    this.socket?.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopDelivery(false);
    this.socket?.destroy();
  }
}

interface SnapshotAssembly {
  term: number;
  meta: Snapshot['meta'];
  /** The image's size as its first chunk told it (undefined: an older sender, which does not). */
  bytes: number | undefined;
  /** The image's buffer, filled chunk by chunk, when the sender told its size and no file takes it; else the chunks. */
  image: Buffer | null;
  /** The file the chunks are written to, in order, when the sender told the image's size (hooks.openSnapshotFile). */
  file: Promise<SnapshotFileWriter> | null;
  /** The writes of the chunks so far, into `file`, and how many of them have not ended. */
  written: Promise<void>;
  writesWaiting: number;
  filledBytes: number;
  chunks: Uint8Array[];
  nextSeq: number;
}

export class PeerTransport {
  private readonly links = new Map<NodeId, OutboundLink>();
  private readonly inbound = new Set<net.Socket>();
  /** Per inbound connection: a sender's chunks all travel on its one link, and die with it. */
  private readonly assemblies = new Map<net.Socket, SnapshotAssembly>();
  private server: net.Server | null = null;

  private readonly selfId: NodeId;

  constructor(
    private readonly hello: Hello,
    private readonly hooks: PeerTransportHooks,
  ) {
    this.selfId = hello.from;
  }

  async listen(address: string): Promise<number> {
    const hp = parseHostPort(address) ?? { host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) };
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(hp.port, hp.host, () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.selfId) return;
    const existing = this.links.get(id);
    if (existing && existing.address === address) return;
    if (existing) {
      existing.address = address;
      existing.reset();
      return;
    }
    const link = new OutboundLink(
      this.hello,
      address,
      (reason) => this.hooks.onProblem(reason, id),
      () => this.hooks.onLinkDown(id),
      () => this.hooks.onLinkUp?.(id),
    );
    this.links.set(id, link);
    link.connect();
  }

  removePeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  /** Whether our link to this peer is connected now. */
  isConnected(id: NodeId): boolean {
    return this.links.get(id)?.connected ?? false;
  }

  peers(): Map<NodeId, { address: string; connected: boolean }> {
    const out = new Map<NodeId, { address: string; connected: boolean }>();
    for (const [id, link] of this.links) out.set(id, { address: link.address, connected: link.connected });
    return out;
  }

  /** Sends Raft messages; a message to an unknown or unreachable peer is dropped (Raft retransmits). */
  sendRaft(messages: Message[]): { snapshotsFailed: NodeId[] } {
    const snapshotsFailed: NodeId[] = [];
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (!link) {
        if (m.type === 'snapshot') closeSource(m);
        continue;
      }
      if (m.type === 'snapshot') {
        const sent = link.sendSnapshot(
          m,
          (cause) => this.hooks.onSnapshotFailed?.(m.to, cause),
          () => this.hooks.onSnapshotProgress?.(m.to),
        );
        if (!sent) snapshotsFailed.push(m.to);
      } else {
        link.send({ t: 'raft', m });
      }
    }
    return { snapshotsFailed };
  }

  sendForward(to: NodeId, payload: Extract<PeerPayload, { t: 'fwd' | 'fwdResp' | 'fwdCancel' }>): boolean {
    const link = this.links.get(to);
    return link ? link.send(payload) : false;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.inbound.add(socket);
    const decoder = new FrameDecoder({ frameBytesMax: PEER_FRAME_BYTES_MAX });
    let from: NodeId | null = null;
    socket.on('data', (chunk: Buffer) => {
      let bodies: unknown[];
      try {
        bodies = decoder.push(chunk);
      } catch (error) {
        this.hooks.onProblem(`bad peer frame: ${(error as Error).message}`, from ?? socket.remoteAddress ?? '?');
        socket.destroy();
        return;
      }
      for (const body of bodies) {
        if (from === null) {
          const hello = body as Partial<Hello>;
          if (hello.t !== 'hello' || typeof hello.from !== 'string') {
            this.hooks.onProblem('peer connection did not start with hello', socket.remoteAddress ?? '?');
            socket.destroy();
            return;
          }
          from = hello.from;
          this.hooks.onHello({ t: 'hello', from: hello.from, client: String(hello.client ?? ''), http: String(hello.http ?? '') });
          continue;
        }
        this.dispatch(from, socket, body as PeerPayload);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.inbound.delete(socket);
      this.dropAssembly(socket);
    });
  }

  private dispatch(from: NodeId, socket: net.Socket, p: PeerPayload): void {
    switch (p.t) {
      case 'raft':
        this.hooks.onRaft(p.m);
        return;
      case 'snap':
        this.onSnapshotChunk(from, socket, p);
        return;
      case 'fwd':
        this.hooks.onForward(from, p.id, p.req);
        return;
      case 'fwdResp':
        this.hooks.onForwardResponse(from, p.id, p.res);
        return;
      case 'fwdCancel':
        this.hooks.onForwardCancel(from, p.id);
        return;
      default:
        this.hooks.onProblem(`unknown peer payload`, from);
    }
  }

  private onSnapshotChunk(from: NodeId, socket: net.Socket, p: Extract<PeerPayload, { t: 'snap' }>): void {
    let asm = this.assemblies.get(socket);
    if (p.seq === 0) {
      // The image replaced goes first: two of them at once could double the memory (or the disk).
      this.dropAssembly(socket);
      const sized = typeof p.bytes === 'number' && Number.isSafeInteger(p.bytes) && p.bytes >= 0;
      const file = sized && this.hooks.openSnapshotFile !== undefined ? this.hooks.openSnapshotFile() : null;
      // One buffer of the image's size: chunks kept and then concatenated would need twice that.
      const image = sized && file === null ? Buffer.allocUnsafeSlow(p.bytes as number) : null;
      asm = { term: p.term, meta: p.meta, bytes: sized ? (p.bytes as number) : undefined, image, file, written: Promise.resolve(), writesWaiting: 0, filledBytes: 0, chunks: [], nextSeq: 0 };
      this.assemblies.set(socket, asm);
    }
    const size = asm?.bytes;
    const fits = asm !== undefined && (size === undefined ? p.bytes === undefined : p.bytes === size && asm.filledBytes + p.chunk.byteLength <= size);
    if (!asm || !fits || asm.nextSeq !== p.seq || asm.term !== p.term || asm.meta.index !== p.meta.index || asm.meta.term !== p.meta.term) {
      this.dropAssembly(socket); // a chunk went missing: drop it, the leader resends after its timeout
      return;
    }
    const file = asm.file;
    if (file !== null) {
      const chunk = p.chunk;
      const receiving = asm;
      // Chunks arrive faster than a disk takes them: past a few waiting, stop reading the link.
      receiving.writesWaiting += 1;
      if (receiving.writesWaiting > SNAPSHOT_WRITES_WAITING_MAX) socket.pause();
      receiving.written = receiving.written
        .then(async () => (await file).write(chunk))
        .finally(() => {
          receiving.writesWaiting -= 1;
          if (receiving.writesWaiting <= 1 && socket.isPaused()) socket.resume();
        });
      // Handled where the image ends or is dropped; until then a failed write must not go unhandled.
      receiving.written.catch(() => undefined);
    } else if (asm.image !== null) asm.image.set(p.chunk, asm.filledBytes);
    else asm.chunks.push(p.chunk);
    asm.filledBytes += p.chunk.byteLength;
    asm.nextSeq++;
    if (!p.last) return;
    this.assemblies.delete(socket);
    if (size !== undefined && asm.filledBytes !== size) {
      this.hooks.onProblem(`snapshot from ${from} ended at ${asm.filledBytes} of ${size} bytes`, from);
      abandon(asm);
      return;
    }
    const m = { type: 'snapshot', from: p.from, to: p.to, term: p.term } as const;
    if (file === null) {
      const data = asm.image ?? (asm.chunks.length === 1 ? asm.chunks[0]! : Buffer.concat(asm.chunks));
      this.hooks.onRaft({ ...m, snapshot: { meta: p.meta, data } });
      return;
    }
    // Handed on once every chunk is written; the runtime saves the file with the snapshot or aborts
    // it. Only a failed write is handled here: what onRaft throws is the node's, as on any message.
    asm.written
      .then(() => file)
      .then(
        (written) => this.hooks.onRaft({ ...m, snapshot: { meta: p.meta, data: RELEASED_SNAPSHOT_DATA }, file: written }),
        (err: unknown) => {
          this.hooks.onProblem(`snapshot from ${from} could not be written: ${(err as Error).message}`, from);
          abandon(asm);
        },
      );
  }

  /** Forgets the snapshot being received on `socket`, removing its file if it had one. */
  private dropAssembly(socket: net.Socket): void {
    const asm = this.assemblies.get(socket);
    if (asm === undefined) return;
    this.assemblies.delete(socket);
    abandon(asm);
  }

  async close(): Promise<void> {
    for (const link of this.links.values()) link.close();
    for (const socket of this.inbound) socket.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
