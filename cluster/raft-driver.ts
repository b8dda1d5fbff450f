// Drives the pure Raft core with real time, real storage and a real network. One Ready at a time:
// persist (one fsync'd write batch) → send → apply → advance. Everything that arrives while a
// Ready is being persisted accumulates in the core and goes out with the next one, which is how
// proposal batching and group commit fall out of the loop without extra machinery.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { invariant, StorageCorruptError } from '../raft/memory-storage.js';
import { RaftNode } from '../raft/raft.js';
import type { LogStorage, PersistBatch, SnapshotFileWriter } from '../raft/storage.js';
import { isReleasedEntry, RELEASED_SNAPSHOT_DATA } from '../raft/types.js';
import type { ClusterConfig, ConfigChange, Entry, Message, NodeId, ProposeResult, RaftOptions, RaftStatus, ReadState, Snapshot, SnapshotMeta, SnapshotSource, SoftState } from '../raft/types.js';

export interface DriverApp {
  /** Committed entries, in order, exactly once per process lifetime. */
  applyEntries(entries: Entry[]): void;
  /** A snapshot from the leader replaces the whole application state. */
  installSnapshot(snapshot: Snapshot): void;
  /** The same for a snapshot whose data went straight to storage as it arrived: read from `source` (which the app closes). */
  installSnapshotFrom?(meta: SnapshotMeta, source: SnapshotSource): Promise<void>;
  /** The application's image at the applied index, for log compaction. */
  snapshotData(): Uint8Array;
  /**
   * The same image in steps, so that Raft traffic goes on between them; nothing is applied until it
   * is done. Without it, snapshotData blocks the node for as long as the encoding takes. A step that
   * filled `pieceBytes` or more yields them (a view the next step may overwrite: the driver writes
   * it to the snapshot's file first), and the return value is the last piece; with `pieceBytes`
   * Infinity no step yields bytes and the return value is the whole image.
   */
  snapshotDataSteps?(pieceBytes: number): Generator<Uint8Array | undefined, Uint8Array, void>;
  onSoftState(soft: SoftState): void;
  onReadStates(states: ReadState[]): void;
  /** `asLeader`: whether this node led when the image was taken (its clients waited for it). */
  onSnapshotTaken?(snapshot: Snapshot, bytes: number, asLeader: boolean): void;
  /** The stored snapshot failed its checks when read back to send it: a new one is being taken to replace it. */
  onSnapshotDamaged?(error: StorageCorruptError): void;
  /** A due snapshot waits while leadership goes to `to` (handingOff). */
  onSnapshotHandoff?(to: NodeId): void;
  /**
   * Entries to apply between snapshots at the least, given the state's size: a snapshot costs time
   * in proportion to the state, so spacing them in proportion too keeps the cost per entry bounded.
   */
  snapshotSpacingEntries?(): number;
  /** How long encoding a snapshot of the state as it is now would pause applies, roughly. */
  snapshotPauseEstimateMs?(): number;
  onPersistSeconds?(seconds: number, entries: number): void;
}

export interface DriverOptions {
  raft: Omit<RaftOptions, 'id'>;
  tickMs: number;
  /** Take a snapshot and compact the log once this many entries were applied since the last one. */
  snapshotEveryEntries: number;
  /**
   * Or once the entries applied since the last one hold this many bytes of data, and at least the
   * last snapshot's size: a million batched jobs are a thousand entries, far below any entry
   * count, and their log would otherwise grow on disk (and be replayed at restart) without bound;
   * a snapshot, whose cost grows with the state, is taken at most once per its own size of new
   * log, so its cost per applied byte stays bounded. (Memory does not depend on it: applied
   * entries' data is released, see entryBytesKeptInMemory.)
   */
  snapshotEveryBytes: number;
  /**
   * Bytes of the newest applied entries whose data stays in memory (a follower a little behind is
   * served without a storage read); older ones are read back from storage when a peer needs them.
   */
  entryBytesKeptInMemory: number;
  /**
   * A leader whose due snapshot would pause its applies (and so every client's answers) for longer
   * than this hands leadership to a follower first, one that has a fresher snapshot and is not
   * taking one, and takes its own as a follower. 0: a leader always takes its own.
   */
  leaderSnapshotPauseMaxMs: number;
  /** How long a leader waits for a follower fit to take over before it takes a due snapshot itself. */
  snapshotHandoffWaitMs: number;
  /** Encoding a snapshot, the longest the event loop runs it before it lets messages through. */
  snapshotTurnMs: number;
}

/** A snapshot is due by bytes once the log since the last one holds at least this fraction of its size. */
const SNAPSHOT_SPACING_OF_LAST_SIZE = 1;
/**
 * A snapshot encoded in steps goes to its file in pieces of about this size (when the storage
 * takes one: LogStorage.openSnapshotFile), so a node holds one piece of its image, not all of it.
 */
export const SNAPSHOT_PIECE_BYTES = 1 << 20;

/** A snapshot being encoded in steps (applies paused), then, once done, until the loop saves it. */
interface SnapshotEncoding {
  aborted: boolean;
  /** The image once encoded: RELEASED_SNAPSHOT_DATA when it went to `file`. */
  data: Uint8Array | null;
  /** Where the pieces go, when the storage takes them. */
  file: SnapshotFileWriter | null;
}

export class RaftDriver {
  readonly core: RaftNode;
  private ticker: NodeJS.Timeout | null = null;
  private running = false;
  private scheduled = false;
  private stopped = false;
  private lastSnapshotIndex: number;
  /** Bytes of entry data applied since the last snapshot, and that snapshot's size. */
  private appliedBytesSinceSnapshot = 0;
  private lastSnapshotBytes: number;
  private snapshotRequested = false;
  /** The stored snapshot is damaged: take one even at its own index (reportSnapshotDamaged). */
  private snapshotReplacing = false;
  /** Since when a due snapshot waits for leadership to move (Date.now()), or null. */
  private handoffSinceMs: number | null = null;
  private encoding: SnapshotEncoding | null = null;
  /** The encoding's run, or the removal of its file once dropped: stop waits for it. */
  private encodingWork: Promise<void> | null = null;
  /** A snapshot being written to storage, off the loop: Readies go on meanwhile. */
  private snapshotSave: Promise<void> | null = null;
  /** The index of the snapshot snapshotSave writes. */
  private snapshotSaveIndex = 0;
  /** Per peer: messages waiting for a read from storage (sendMessages), the first one being read. */
  private readonly waitingForStorage = new Map<NodeId, Message[]>();
  private idleWaiters: (() => void)[] = [];
  /** The file holding the data of the snapshot the core waits to install (keepReceivedFile). */
  private receivedFile: { snapshot: Snapshot; file: SnapshotFileWriter } | null = null;

  constructor(
    readonly id: NodeId,
    private readonly storage: LogStorage,
    private readonly send: (messages: Message[]) => void,
    private readonly app: DriverApp,
    private readonly opts: DriverOptions,
    initial: { hardState: import('../raft/types.js').HardState; snapshot: Snapshot | null; entries: Entry[]; config: ClusterConfig; snapshotBytes?: number },
  ) {
    this.core = new RaftNode(
      { ...opts.raft, id },
      {
        hardState: initial.hardState,
        snapshot: initial.snapshot,
        entries: initial.entries,
        bootstrapConfig: initial.config,
        applied: initial.snapshot?.meta.index ?? 0,
      },
    );
    this.lastSnapshotIndex = initial.snapshot?.meta.index ?? 0;
    // Its data may have stayed on disk (read piece by piece at restart): its size then comes apart.
    this.lastSnapshotBytes = initial.snapshotBytes ?? initial.snapshot?.data.byteLength ?? 0;
    // It is on disk; the core keeps the metadata (the caller restores the state from its own reference).
    this.core.releaseSnapshotData();
  }

  start(): void {
    this.ticker = setInterval(() => {
      this.core.tick();
      this.kick();
    }, this.opts.tickMs);
    this.kick();
  }

  step(m: Message): void {
    if (this.stopped) {
      if (m.type === 'snapshot') void m.file?.abort().catch(() => undefined);
      return;
    }
    this.core.step(m);
    if (m.type === 'snapshot' && m.file !== undefined) this.keepReceivedFile(m.snapshot, m.file);
    this.kick();
  }

  /**
   * A snapshot whose data went to a file as it arrived: saved with the snapshot if the core took
   * it (the next Ready hands it out), else removed; so is one the core replaced with a newer one.
   */
  private keepReceivedFile(snapshot: Snapshot, file: SnapshotFileWriter): void {
    if (!this.core.holdsPendingSnapshot(snapshot)) {
      void file.abort().catch(() => undefined);
      return;
    }
    const replaced = this.receivedFile;
    this.receivedFile = { snapshot, file };
    if (replaced !== null) void replaced.file.abort().catch(() => undefined);
  }

  propose(data: Uint8Array): ProposeResult {
    const r = this.core.propose(data);
    this.kick();
    return r;
  }

  proposeConfigChange(change: ConfigChange): ProposeResult {
    const r = this.core.proposeConfigChange(change);
    this.kick();
    return r;
  }

  readIndex(ctx: number): boolean {
    const ok = this.core.readIndex(ctx);
    this.kick();
    return ok;
  }

  transferLeader(to: NodeId): boolean {
    const ok = this.core.transferLeader(to);
    this.kick();
    return ok;
  }

  reportSnapshotFailure(to: NodeId): void {
    this.core.reportSnapshotFailure(to);
  }

  reportSnapshotProgress(to: NodeId): void {
    this.core.reportSnapshotProgress(to);
  }

  /**
   * Reading the stored snapshot back failed its checks (to send it, here or in the transport):
   * every follower that needs it would be refused it again and again, so a new snapshot is taken,
   * whose file replaces the damaged one (at the same index, if nothing was applied since). The
   * state it is taken from is in memory, unharmed.
   */
  reportSnapshotDamaged(error: StorageCorruptError): void {
    if (this.stopped) return;
    this.app.onSnapshotDamaged?.(error);
    this.snapshotReplacing = true;
    void this.requestSnapshot();
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** Takes a snapshot at the next quiet point of the loop. */
  requestSnapshot(): Promise<void> {
    this.snapshotRequested = true;
    const done = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.kick();
    return done;
  }

  kick(): void {
    if (this.scheduled || this.running || this.stopped) return;
    this.scheduled = true;
    // setImmediate: let every message and request of this event-loop turn land in the core first,
    // so one Ready (one fsync) carries all of them.
    setImmediate(() => {
      this.scheduled = false;
      void this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && this.core.hasReady()) {
        await this.handleReady();
      }
      if (!this.stopped) this.maybeSnapshot();
    } finally {
      this.running = false;
    }
    const waiters = this.idleWaiters;
    if (!this.snapshotRequested && this.encoding === null && this.snapshotSave === null && waiters.length > 0) {
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    if (!this.stopped && this.core.hasReady()) this.kick();
  }

  private async handleReady(): Promise<void> {
    const rd = this.core.ready();
    // The core hands out the snapshot it waits to install, if any: a file kept for another is stale.
    const received = this.receivedFile;
    this.receivedFile = null;
    if (received !== null && received.snapshot !== rd.snapshot) void received.file.abort().catch(() => undefined);
    // A snapshot from the leader replaces the state our own is being read from: drop ours.
    if (rd.snapshot && this.encoding !== null) this.abortEncoding();
    // A leader's own messages acknowledge nothing of its disk: send them before the fsync so the
    // followers write in parallel with the leader (dissertation §10.2.1). The leader still counts
    // itself toward a quorum only after its write (advance). Responses and vote requests wait.
    const early = rd.messages.filter(isLeaderMessage);
    const late = early.length === rd.messages.length ? [] : rd.messages.filter((m) => !isLeaderMessage(m));
    if (early.length > 0) this.sendMessages(early);
    const batch: PersistBatch = {};
    if (rd.snapshot) {
      batch.snapshot = rd.snapshot;
      batch.config = rd.snapshot.meta.config;
      if (received?.snapshot === rd.snapshot) batch.snapshotFile = received.file;
    }
    if (rd.entries.length > 0) batch.entries = rd.entries;
    if (rd.hardState) batch.hardState = rd.hardState;
    if (batch.snapshot || batch.entries || batch.hardState) {
      const startedNs = process.hrtime.bigint();
      await this.storage.save(batch);
      this.app.onPersistSeconds?.(Number(process.hrtime.bigint() - startedNs) / 1e9, rd.entries.length);
      if (this.stopped) return;
    }
    if (late.length > 0) this.sendMessages(late);
    if (rd.snapshot) {
      this.lastSnapshotBytes = batch.snapshotFile !== undefined ? await this.installStored(rd.snapshot.meta) : rd.snapshot.data.byteLength;
      if (!batch.snapshotFile) this.app.installSnapshot(rd.snapshot);
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.appliedBytesSinceSnapshot = 0;
      if (this.stopped) return;
    }
    if (rd.committed.length > 0) {
      this.app.applyEntries(rd.committed);
      for (const e of rd.committed) this.appliedBytesSinceSnapshot += e.data.byteLength;
    }
    this.core.advance(rd);
    // An installed snapshot is durable and applied now: its data need not stay in memory. Nor
    // need entries that are applied and durable (a peer that needs them gets them from disk).
    if (rd.snapshot) this.core.releaseSnapshotData();
    if (rd.committed.length > 0) this.core.releaseEntryData(this.opts.entryBytesKeptInMemory);
    if (rd.softState) this.app.onSoftState(rd.softState);
    if (rd.readStates.length > 0) this.app.onReadStates(rd.readStates);
  }

  /** Starts a snapshot that is due (encoding in steps, then a save off the loop); never waits for one. */
  private maybeSnapshot(): void {
    if (this.snapshotSave !== null) return;
    const encoding = this.encoding;
    if (encoding !== null) {
      if (encoding.data !== null) this.saveEncodedSnapshot(encoding);
      return;
    }
    const applied = this.core.appliedIndex;
    const since = applied - this.lastSnapshotIndex;
    const dueByEntries = since >= this.opts.snapshotEveryEntries && since >= (this.app.snapshotSpacingEntries?.() ?? 0);
    const bytes = this.appliedBytesSinceSnapshot;
    const dueByBytes = bytes >= this.opts.snapshotEveryBytes && bytes >= this.lastSnapshotBytes * SNAPSHOT_SPACING_OF_LAST_SIZE;
    if (!dueByEntries && !dueByBytes && !this.snapshotRequested) {
      this.handoffSinceMs = null;
      return;
    }
    if (applied <= this.lastSnapshotIndex && !this.snapshotReplacing) {
      this.snapshotRequested = false;
      return;
    }
    if (this.handingOff()) return;
    this.snapshotRequested = false;
    this.snapshotReplacing = false;
    if (this.app.snapshotDataSteps !== undefined) {
      this.encodeInSteps();
      return;
    }
    this.saveSnapshot(this.core.createSnapshot(this.app.snapshotData()), null);
  }

  /**
   * True while a leader's due snapshot waits for leadership to move: the image holds applies still
   * while it is encoded, which on a leader holds every client's answer (2.5 s at a million jobs),
   * and on a follower holds nobody's. The follower taken over must have a snapshot fresher than
   * ours (so it is not due itself, and leadership does not bounce back at once) and not be taking
   * one. Waits at most snapshotHandoffWaitMs, then the leader takes its own.
   */
  private handingOff(): boolean {
    if (!this.core.isLeader || this.opts.leaderSnapshotPauseMaxMs <= 0) {
      this.handoffSinceMs = null;
      return false;
    }
    if ((this.app.snapshotPauseEstimateMs?.() ?? 0) <= this.opts.leaderSnapshotPauseMaxMs) return false;
    // One transfer at a time: two followers told to campaign at once could split the vote.
    if (this.core.transferring) return true;
    const status = this.core.status();
    const followers = status.config.voters.filter((id) => id !== this.id);
    if (followers.length === 0) return false;
    const nowMs = Date.now();
    this.handoffSinceMs ??= nowMs;
    if (nowMs - this.handoffSinceMs >= this.opts.snapshotHandoffWaitMs) {
      this.handoffSinceMs = null;
      return false;
    }
    let best: NodeId | null = null;
    let bestIndex = this.lastSnapshotIndex;
    for (const id of followers) {
      const pr = status.progress[id];
      // Caught up to the commit: the transfer, which refuses proposals until it ends, is one round.
      if (pr === undefined || pr.applyPaused || pr.lastContactTicks > this.opts.raft.heartbeatTicks || pr.match < status.commit) continue;
      // A snapshot asked for (not due by the thresholds) may go to a follower as fresh as we are: it is not due either.
      if (pr.snapshotIndex > bestIndex || (this.snapshotRequested && pr.snapshotIndex === bestIndex && best === null)) {
        best = id;
        bestIndex = pr.snapshotIndex;
      }
    }
    if (best !== null && this.transferLeader(best)) this.app.onSnapshotHandoff?.(best);
    return true;
  }

  /**
   * Encodes the snapshot in turns of at most snapshotTurnMs with applies paused: between turns the
   * loop keeps persisting and sending (a leader keeps its heartbeats, a follower its acks) while
   * the image is written. Its pieces go to the snapshot's file as they fill, when the storage takes
   * them. When it is done, the loop's next quiet point saves it (saveEncodedSnapshot).
   */
  private encodeInSteps(): void {
    const encoding: SnapshotEncoding = { aborted: false, data: null, file: null };
    this.encoding = encoding;
    this.core.pauseApply(true);
    const previous = this.encodingWork;
    this.encodingWork = (async () => {
      // A dropped encoding's file may still be on its way out, and storage stages one at a time.
      await previous?.catch(() => undefined);
      await this.runEncoding(encoding);
    })();
    void this.encodingWork.catch((err: unknown) => {
      if (this.stopped) return; // storage closed under it at shutdown
      throw err; // a failed write fails the node, as in the loop
    });
  }

  private async runEncoding(encoding: SnapshotEncoding): Promise<void> {
    if (encoding.aborted) return;
    const file = this.storage.openSnapshotFile === undefined ? null : await this.storage.openSnapshotFile();
    encoding.file = file;
    try {
      const steps = (this.app.snapshotDataSteps as NonNullable<DriverApp['snapshotDataSteps']>)(file === null ? Number.POSITIVE_INFINITY : SNAPSHOT_PIECE_BYTES);
      for (;;) {
        await nextTurn();
        if (encoding.aborted) return await file?.abort();
        const endMs = performance.now() + this.opts.snapshotTurnMs;
        let piece: Uint8Array | undefined;
        let last: Uint8Array | null = null;
        for (;;) {
          const next = steps.next();
          if (next.done) last = next.value;
          else piece = next.value;
          if (last !== null || piece !== undefined || performance.now() >= endMs) break;
        }
        // Written before the next step, which reuses the piece's memory.
        if (piece !== undefined) await (file as SnapshotFileWriter).write(piece);
        if (last === null) continue;
        if (file !== null) await file.write(last);
        if (encoding.aborted) return await file?.abort();
        encoding.data = file === null ? last : RELEASED_SNAPSHOT_DATA;
        this.kick();
        return;
      }
    } catch (err) {
      await file?.abort().catch(() => undefined);
      throw err;
    }
  }

  private abortEncoding(): void {
    const encoding = this.encoding;
    if (encoding !== null) {
      encoding.aborted = true;
      // Encoded and waiting for its save: runEncoding has returned, so its file is ours to remove.
      if (encoding.data !== null && encoding.file !== null) this.encodingWork = encoding.file.abort();
    }
    this.encoding = null;
    this.core.pauseApply(false);
  }

  private saveEncodedSnapshot(encoding: SnapshotEncoding): void {
    // Nothing was applied since the encoding began: the applied index is the image's.
    const snap = this.core.createSnapshot(encoding.data as Uint8Array);
    this.encoding = null;
    this.core.pauseApply(false);
    this.saveSnapshot(snap, encoding.file);
  }

  /**
   * Writes the snapshot without holding the loop: storage stages a snapshot of our own between
   * the log's saves (WalStorage and LevelStorage saveSnapshotStaged), so heartbeats and acks go on
   * meanwhile. The core already holds it (createSnapshot): with its data in memory until it is on
   * disk, or, when `file` holds the data, with none (a send waits for this save, withStoredData).
   */
  private saveSnapshot(snap: Snapshot, file: SnapshotFileWriter | null): void {
    const asLeader = this.core.isLeader;
    const bytes = file === null ? snap.data.byteLength : file.bytes;
    // Applies resume now: what they bring counts toward the next snapshot.
    this.lastSnapshotIndex = snap.meta.index;
    this.lastSnapshotBytes = bytes;
    this.appliedBytesSinceSnapshot = 0;
    const save = (async () => {
      try {
        await this.storage.save(file === null ? { snapshot: snap, config: snap.meta.config } : { snapshot: snap, snapshotFile: file, config: snap.meta.config });
      } catch (err) {
        if (this.stopped) return; // storage closed under it at shutdown
        throw err; // a failed write fails the node, as in the loop
      }
      this.core.releaseSnapshotData();
      this.app.onSnapshotTaken?.(snap, bytes, asLeader);
    })();
    this.snapshotSave = save;
    this.snapshotSaveIndex = snap.meta.index;
    void save.finally(() => {
      this.snapshotSave = null;
      this.kick();
    });
  }

  /**
   * Sends messages. One that carries data the core released from memory (a snapshot's, or log
   * entries') is read back from storage first; later messages to the same peer wait behind it, so
   * each peer still gets its messages in order. A snapshot read from storage as it is sent (a
   * SnapshotSource) is handed over once opened: the transport streams its chunks, and messages
   * after it may overtake them, which Raft allows (the follower answers each on its own).
   */
  private sendMessages(messages: Message[]): void {
    const now: Message[] = [];
    for (const m of messages) {
      const waiting = this.waitingForStorage.get(m.to);
      if (waiting !== undefined) waiting.push(m);
      else if (needsStorage(m)) {
        this.waitingForStorage.set(m.to, [m]);
        void this.sendFromStorage(m.to);
      } else now.push(m);
    }
    if (now.length > 0) this.send(now);
  }

  private async sendFromStorage(to: NodeId): Promise<void> {
    const queue = this.waitingForStorage.get(to) as Message[];
    while (queue.length > 0 && !this.stopped) {
      const m = queue[0] as Message;
      const ready = needsStorage(m) ? await this.withStoredData(m) : m;
      if (this.stopped) {
        if (ready?.type === 'snapshot') await ready.source?.close();
        return;
      }
      queue.shift();
      if (ready !== null) this.send([ready]);
      else {
        // Compacted or replaced meanwhile: let the core probe again (it then sends what it holds now).
        if (m.type === 'snapshot') this.core.reportSnapshotFailure(m.to);
        else this.core.reportAppendFailure(m.to);
        this.kick();
      }
    }
    this.waitingForStorage.delete(to);
  }

  /** The message with its released data read back from storage; null when storage no longer holds it. */
  private async withStoredData(m: Message): Promise<Message | null> {
    try {
      if (m.type === 'snapshot') {
        // Ours, taken just now and held only by its file: storage names it once the save is done
        // (until then storage would open the previous image, only to find it stale).
        const saving = this.snapshotSave;
        if (saving !== null && this.snapshotSaveIndex === m.snapshot.meta.index) await saving.catch(() => undefined);
        const fresh = (meta: Snapshot['meta']): boolean => meta.index === m.snapshot.meta.index && meta.term === m.snapshot.meta.term;
        if (this.storage.openSnapshotSource !== undefined) {
          // Read piece by piece as the transport sends it: the image is never whole in memory here.
          const source = await this.storage.openSnapshotSource();
          if (source !== null && fresh(source.meta)) return { ...m, source };
          await source?.close();
          return null;
        }
        const stored = await this.storage.loadSnapshot();
        if (stored === null || !fresh(stored.meta)) return null;
        return { ...m, snapshot: stored };
      }
      if (m.type !== 'append') return m;
      const released = m.entries.filter(isReleasedEntry);
      const lo = released[0]!.index;
      const stored = await this.storage.loadEntries(lo, released[released.length - 1]!.index);
      const entries = m.entries.map((e) => {
        if (!isReleasedEntry(e)) return e;
        const found = stored[e.index - lo];
        if (found === undefined || found.term !== e.term) throw new Error(`stored entry ${e.index} is not the one released`);
        return found;
      });
      return { ...m, entries };
    } catch (err) {
      if (m.type === 'snapshot' && err instanceof StorageCorruptError) this.reportSnapshotDamaged(err);
      return null;
    }
  }

  get snapshotIndex(): number {
    return this.lastSnapshotIndex;
  }

  /** Installs the snapshot just saved from its file, decoded as it is read; answers its size. */
  private async installStored(meta: SnapshotMeta): Promise<number> {
    invariant(this.app.installSnapshotFrom !== undefined && this.storage.openSnapshotSource !== undefined, 'a snapshot saved from a file is installed from its file');
    const source = await this.storage.openSnapshotSource();
    invariant(source !== null, 'a snapshot just saved is stored');
    // The core takes only snapshots past its commit index, so none of ours saved meanwhile is newer.
    if (source.meta.index !== meta.index || source.meta.term !== meta.term) {
      await source.close();
      invariant(false, `the snapshot stored is at ${source.meta.index} (term ${source.meta.term}), not the one just saved at ${meta.index} (term ${meta.term})`);
    }
    await this.app.installSnapshotFrom(meta, source);
    return source.bytes;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.receivedFile !== null) void this.receivedFile.file.abort().catch(() => undefined);
    this.receivedFile = null;
    if (this.encoding !== null) this.abortEncoding();
    if (this.ticker) clearInterval(this.ticker);
    while (this.running) await new Promise((r) => setImmediate(r));
    // Its file is closed and removed before the storage is.
    await this.encodingWork?.catch(() => undefined);
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** A message carrying data the core released from memory (see sendMessages). */
function needsStorage(m: Message): boolean {
  if (m.type === 'snapshot') return m.snapshot.data === RELEASED_SNAPSHOT_DATA;
  return m.type === 'append' && m.entries.some(isReleasedEntry);
}

/** Messages only a leader sends, which carry its log or commit index but vouch for nothing on its disk. */
function isLeaderMessage(m: Message): boolean {
  return m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'timeoutNow';
}
