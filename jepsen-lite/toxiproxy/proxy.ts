// One proxy: a listening socket, the connections it accepted, and the toxics that apply to them.
// Enabled means listening; disabling ("down" in Toxiproxy) stops listening and drops every
// connection, and enabling listens again on the same address (the bound one, if it was port 0).

import net from 'node:net';
import { ApiError } from './api-error.js';
import { formatHostPort, sameListenAddress, type HostPort } from './address.js';
import { Connection } from './connection.js';
import { CONNECTIONS_PER_PROXY_MAX } from './limits.js';
import type { ToxiproxyLogger } from './logger.js';
import type { RandomSource } from './random.js';
import { TOXIC_STREAMS, toxicToJson, type ToxicJson, type ToxicSpec } from './toxics.js';

/** The API's JSON for a proxy. `listen` is the bound address once the proxy has listened. */
export interface ProxyJson {
  readonly name: string;
  readonly listen: string;
  readonly upstream: string;
  readonly enabled: boolean;
  readonly toxics: readonly ToxicJson[];
}

export interface ProxyOptions {
  readonly name: string;
  readonly listen: HostPort;
  /** As the client wrote it, and echoed back as such (Toxiproxy resolves it only to connect). */
  readonly upstreamText: string;
  readonly upstream: HostPort;
  readonly random: RandomSource;
  readonly nowMs: () => number;
  readonly logger: ToxiproxyLogger;
}

export interface ProxyChange {
  readonly listen?: HostPort;
  readonly upstreamText?: string;
  readonly upstream?: HostPort;
  readonly enabled?: boolean;
}

export class Proxy {
  readonly name: string;
  private listenAddress: HostPort;
  private upstreamText: string;
  private upstreamAddress: HostPort;
  private server: net.Server | null = null;
  private readonly connections = new Set<Connection>();
  /** In insertion order, which is chain order within each direction. */
  private readonly toxics = new Map<string, ToxicSpec>();

  constructor(private readonly options: ProxyOptions) {
    this.name = options.name;
    this.listenAddress = options.listen;
    this.upstreamText = options.upstreamText;
    this.upstreamAddress = options.upstream;
  }

  get enabled(): boolean {
    return this.server !== null;
  }

  get toxicCount(): number {
    return this.toxics.size;
  }

  get openConnectionCount(): number {
    return this.connections.size;
  }

  /** Listens; a no-op when already listening. Throws a 500 ApiError when the address cannot be bound. */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenAddress.port, this.listenAddress.host === '' ? undefined : this.listenAddress.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ApiError(500, `proxy ${this.name}: cannot listen on ${formatHostPort(this.listenAddress)}: ${reason}`);
    });
    // After listening, errors are per-connection; keep one listener so none is ever unhandled.
    server.on('error', (error) => this.options.logger.warn({ proxy: this.name, err: error.message }, 'proxy listener error'));
    const bound = server.address();
    if (bound !== null && typeof bound === 'object') this.listenAddress = { host: bound.address, port: bound.port };
    this.server = server;
    this.options.logger.info({ proxy: this.name, listen: formatHostPort(this.listenAddress), upstream: this.upstreamText }, 'proxy started');
  }

  /** Stops listening and drops every connection; resolves once the port is released. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.connections) connection.destroy();
    await closed;
    this.options.logger.info({ proxy: this.name }, 'proxy stopped');
  }

  /**
   * Toxiproxy's update: a new listen address or upstream restarts the proxy (dropping its
   * connections); then `enabled` is applied, defaulting to the state before the update.
   */
  async update(change: ProxyChange): Promise<void> {
    const wasEnabled = this.enabled;
    const listenChanged = change.listen !== undefined && !sameListenAddress(change.listen, this.listenAddress);
    const upstreamChanged = change.upstreamText !== undefined && change.upstreamText !== this.upstreamText;
    if (listenChanged || upstreamChanged) {
      await this.stop();
      if (change.listen !== undefined && listenChanged) this.listenAddress = change.listen;
      if (change.upstreamText !== undefined && change.upstream !== undefined) {
        this.upstreamText = change.upstreamText;
        this.upstreamAddress = change.upstream;
      }
    }
    const enabled = change.enabled ?? wasEnabled;
    if (enabled) await this.start();
    else await this.stop();
  }

  getToxic(name: string): ToxicSpec | undefined {
    return this.toxics.get(name);
  }

  /** Adds a toxic to the proxy and to every open connection of its direction. The name must be free. */
  addToxic(spec: ToxicSpec): void {
    if (this.toxics.has(spec.name)) throw new ApiError(409, `toxic already exists: ${spec.name}`);
    this.toxics.set(spec.name, spec);
    for (const connection of this.connections) connection.addToxic(spec);
  }

  replaceToxic(spec: ToxicSpec): void {
    if (!this.toxics.has(spec.name)) throw new ApiError(404, `toxic not found: ${spec.name}`);
    this.toxics.set(spec.name, spec);
    for (const connection of this.connections) connection.updateToxic(spec);
  }

  /** Returns false when there is no such toxic. */
  removeToxic(name: string): boolean {
    const spec = this.toxics.get(name);
    if (spec === undefined) return false;
    this.toxics.delete(name);
    for (const connection of this.connections) connection.removeToxic(spec);
    return true;
  }

  removeAllToxics(): void {
    for (const name of [...this.toxics.keys()]) this.removeToxic(name);
  }

  /** Toxics in Toxiproxy's listing order: the upstream chain, then the downstream chain. */
  toxicList(): ToxicSpec[] {
    const all = [...this.toxics.values()];
    return TOXIC_STREAMS.flatMap((stream) => all.filter((toxic) => toxic.stream === stream));
  }

  toJson(): ProxyJson {
    return {
      name: this.name,
      listen: formatHostPort(this.listenAddress),
      upstream: this.upstreamText,
      enabled: this.enabled,
      toxics: this.toxicList().map(toxicToJson),
    };
  }

  private accept(client: net.Socket): void {
    if (this.connections.size >= CONNECTIONS_PER_PROXY_MAX) {
      this.options.logger.warn({ proxy: this.name, limit: CONNECTIONS_PER_PROXY_MAX }, 'connection limit reached, closing new client');
      client.on('error', () => {});
      client.destroy();
      return;
    }
    const connection = new Connection({
      proxyName: this.name,
      client,
      upstream: this.upstreamAddress,
      currentToxics: () => this.toxicList(),
      random: this.options.random,
      nowMs: this.options.nowMs,
      logger: this.options.logger,
      onClosed: (closed) => this.connections.delete(closed),
    });
    this.connections.add(connection);
  }
}
