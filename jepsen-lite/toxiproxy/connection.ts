// One client connection through a proxy: the accepted client socket, the socket we open to the
// upstream, and the two links between them (client → upstream is the `upstream` stream, upstream →
// client the `downstream` one, in Toxiproxy's words).
//
// Ending, from gentlest to hardest:
// - a FIN from either side travels through its link and half-closes the other side; when both
//   directions have ended, Node destroys each socket by itself;
// - a toxic that closes (timeout, limit_data, removing a timeout) ends both sides with FIN after
//   flushing what was already written, and destroys them if the peers do not finish in time;
// - reset_peer aborts both sides with RST;
// - an error or abort on one side, or disabling the proxy, destroys both.

import net, { type Socket } from 'node:net';
import type { HostPort } from './address.js';
import { CLOSE_FLUSH_MS_MAX, UPSTREAM_CONNECT_MS_MAX } from './limits.js';
import { Link, type ConnectionEnd } from './link.js';
import type { ToxiproxyLogger } from './logger.js';
import type { RandomSource } from './random.js';
import type { ToxicSpec, ToxicStream } from './toxics.js';

export interface ConnectionOptions {
  readonly proxyName: string;
  readonly client: Socket;
  readonly upstream: HostPort;
  /** The proxy's toxics at the moment the upstream answers; later changes arrive through add/update/removeToxic. */
  readonly currentToxics: () => readonly ToxicSpec[];
  readonly random: RandomSource;
  readonly nowMs: () => number;
  readonly logger: ToxiproxyLogger;
  readonly onClosed: (connection: Connection) => void;
}

type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

export class Connection {
  private readonly client: Socket;
  private readonly upstream: Socket;
  private links: Record<ToxicStream, Link> | null = null;
  private state: ConnectionState = 'connecting';
  private flushTimer: NodeJS.Timeout | null = null;
  private closedSockets = 0;

  constructor(private readonly options: ConnectionOptions) {
    this.client = options.client;
    this.upstream = net.connect({ host: options.upstream.host, port: options.upstream.port, allowHalfOpen: true });
    // A connect that hangs (a blackholed upstream) must not hold the client forever.
    this.upstream.setTimeout(UPSTREAM_CONNECT_MS_MAX, () => {
      if (this.state === 'connecting') this.upstream.destroy(new Error(`connect timed out after ${UPSTREAM_CONNECT_MS_MAX} ms`));
    });
    this.upstream.once('connect', () => this.onUpstreamConnected());
    for (const socket of [this.client, this.upstream]) {
      socket.on('error', (error) => this.onSocketError(socket, error));
      socket.once('close', (hadError) => this.onSocketClosed(socket, hadError));
    }
  }

  addToxic(spec: ToxicSpec): void {
    this.links?.[spec.stream].addToxic(spec);
  }

  updateToxic(spec: ToxicSpec): void {
    this.links?.[spec.stream].updateToxic(spec);
  }

  removeToxic(spec: ToxicSpec): void {
    this.links?.[spec.stream].removeToxic(spec.name);
  }

  /** The proxy is going down: drop both sides at once. */
  destroy(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.disposeLinks();
    this.client.destroy();
    this.upstream.destroy();
  }

  private onUpstreamConnected(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.upstream.setTimeout(0);
    const toxics = this.options.currentToxics();
    const linkFor = (stream: ToxicStream, source: Socket, dest: Socket): Link =>
      new Link({
        stream,
        source,
        dest,
        toxics: toxics.filter((toxic) => toxic.stream === stream),
        random: this.options.random,
        nowMs: this.options.nowMs,
        onConnectionEnd: (how) => this.end(how),
      });
    this.links = {
      upstream: linkFor('upstream', this.client, this.upstream),
      downstream: linkFor('downstream', this.upstream, this.client),
    };
    this.links.upstream.start();
    this.links.downstream.start();
  }

  private end(how: ConnectionEnd): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.disposeLinks();
    if (how === 'reset') {
      for (const socket of [this.client, this.upstream]) if (!socket.destroyed) socket.resetAndDestroy();
      return;
    }
    for (const socket of [this.client, this.upstream]) {
      // Keep reading and dropping: unread bytes in the kernel would turn our FIN into an RST.
      socket.on('data', () => {});
      socket.resume();
      if (!socket.destroyed) socket.end();
    }
    this.flushTimer = setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, CLOSE_FLUSH_MS_MAX);
  }

  private onSocketError(socket: Socket, error: Error): void {
    const side = socket === this.client ? 'client' : 'upstream';
    if (this.state === 'connecting' && side === 'upstream') {
      this.options.logger.warn({ proxy: this.options.proxyName, upstream: this.options.upstream, err: error.message }, 'upstream connect failed');
    }
  }

  private onSocketClosed(socket: Socket, hadError: boolean): void {
    this.closedSockets += 1;
    const other = socket === this.client ? this.upstream : this.client;
    // A clean close means both directions of that socket ended and the FINs are on their way
    // through the links; anything else (an error, an RST, a failed connect) takes the pair down.
    if (hadError || this.state === 'connecting') {
      this.disposeLinks();
      other.destroy();
    }
    if (this.closedSockets === 2) this.finish();
  }

  private finish(): void {
    this.state = 'closed';
    this.disposeLinks();
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.options.onClosed(this);
  }

  private disposeLinks(): void {
    this.links?.upstream.dispose();
    this.links?.downstream.dispose();
  }
}
