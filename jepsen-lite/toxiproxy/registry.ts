// The set of proxies and every operation of the API on it, with validation of proxy bodies.
// Handlers throw ApiError; the HTTP edge (server.ts) turns it into JSON.
//
// Operations that change state run one at a time (`exclusive`): listening is asynchronous, and two
// concurrent creates of one name, or an update racing a delete, must not both see the old state.

import { ApiError, badRequest, proxyNotFound, toxicNotFound, type ApiErrorJson } from './api-error.js';
import { parseHostPort, type HostPort } from './address.js';
import { PROXIES_MAX, TOXICS_PER_PROXY_MAX } from './limits.js';
import type { ToxiproxyLogger } from './logger.js';
import { Proxy, type ProxyJson } from './proxy.js';
import type { RandomSource } from './random.js';
import { checkName, isPlainObject, parseToxicCreate, parseToxicUpdate, toxicToJson, type ToxicJson } from './toxics.js';

export interface RegistryOptions {
  readonly random: RandomSource;
  readonly nowMs: () => number;
  readonly logger: ToxiproxyLogger;
}

/** A populate that failed part-way answers with the proxies it did create, as Toxiproxy does. */
export class PopulateError extends ApiError {
  constructor(cause: ApiError, readonly proxies: readonly ProxyJson[]) {
    super(cause.status, cause.message);
  }

  override toJson(): ApiErrorJson & { proxies: readonly ProxyJson[] } {
    return { ...super.toJson(), proxies: this.proxies };
  }
}

interface ProxyFields {
  readonly name: string;
  readonly listen: HostPort | undefined;
  readonly upstream: { readonly text: string; readonly address: HostPort } | undefined;
  readonly enabled: boolean | undefined;
}

/** Where a proxy created without `listen` listens: loopback, any port (not all interfaces, as Toxiproxy would). */
const LISTEN_DEFAULT: HostPort = { host: '127.0.0.1', port: 0 };
const PROXY_FIELDS = new Set(['name', 'listen', 'upstream', 'enabled']);

export class ProxyRegistry {
  private readonly proxies = new Map<string, Proxy>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RegistryOptions) {}

  list(): Record<string, ProxyJson> {
    const result: Record<string, ProxyJson> = {};
    for (const [name, proxy] of this.proxies) result[name] = proxy.toJson();
    return result;
  }

  show(name: string): ProxyJson {
    return this.get(name).toJson();
  }

  create(body: unknown): Promise<ProxyJson> {
    return this.exclusive(async () => {
      const fields = parseProxyFields(body, null);
      if (fields.upstream === undefined) throw badRequest('missing required field: upstream');
      if (this.proxies.has(fields.name)) throw new ApiError(409, `proxy already exists: ${fields.name}`);
      if (this.proxies.size >= PROXIES_MAX) throw badRequest(`too many proxies: the limit is ${PROXIES_MAX}`);
      return (await this.add(fields, fields.upstream)).toJson();
    });
  }

  /** Creates the proxies that do not exist and updates those that do; all bodies are checked before any change. */
  populate(body: unknown): Promise<{ proxies: ProxyJson[] }> {
    return this.exclusive(async () => {
      if (!Array.isArray(body)) throw badRequest('bad request body: populate takes a JSON array of proxies');
      const batch = body.map((item, index) => {
        try {
          return parseProxyFields(item, null);
        } catch (error) {
          throw error instanceof ApiError ? badRequest(`proxy ${index + 1}: ${error.message}`) : error;
        }
      });
      const names = new Set<string>();
      for (const [index, fields] of batch.entries()) {
        if (names.has(fields.name)) throw badRequest(`proxy ${index + 1}: name ${fields.name} appears twice`);
        names.add(fields.name);
        if (!this.proxies.has(fields.name) && fields.upstream === undefined) {
          throw badRequest(`proxy ${index + 1}: missing required field: upstream`);
        }
      }
      const newCount = batch.filter((fields) => !this.proxies.has(fields.name)).length;
      if (this.proxies.size + newCount > PROXIES_MAX) throw badRequest(`too many proxies: the limit is ${PROXIES_MAX}`);
      const done: ProxyJson[] = [];
      for (const fields of batch) {
        try {
          const existing = this.proxies.get(fields.name);
          const proxy = existing ?? (await this.add(fields, fields.upstream!));
          if (existing !== undefined) await existing.update(changeOf(fields));
          done.push(proxy.toJson());
        } catch (error) {
          throw error instanceof ApiError ? new PopulateError(error, done) : error;
        }
      }
      return { proxies: done };
    });
  }

  update(name: string, body: unknown): Promise<ProxyJson> {
    return this.exclusive(async () => {
      const proxy = this.get(name);
      const fields = parseProxyFields(body, name);
      await proxy.update(changeOf(fields));
      return proxy.toJson();
    });
  }

  remove(name: string): Promise<void> {
    return this.exclusive(async () => {
      const proxy = this.get(name);
      this.proxies.delete(name);
      await proxy.stop();
    });
  }

  /** Enables every proxy and removes every toxic; proxies stay. */
  reset(): Promise<void> {
    return this.exclusive(async () => {
      for (const proxy of this.proxies.values()) {
        proxy.removeAllToxics();
        await proxy.start();
      }
    });
  }

  listToxics(proxyName: string): ToxicJson[] {
    return this.get(proxyName).toxicList().map(toxicToJson);
  }

  showToxic(proxyName: string, toxicName: string): ToxicJson {
    const toxic = this.get(proxyName).getToxic(toxicName);
    if (toxic === undefined) throw toxicNotFound(proxyName, toxicName);
    return toxicToJson(toxic);
  }

  createToxic(proxyName: string, body: unknown): Promise<ToxicJson> {
    return this.exclusive(async () => {
      const proxy = this.get(proxyName);
      const spec = unwrap(parseToxicCreate(body));
      if (proxy.getToxic(spec.name) !== undefined) throw new ApiError(409, `toxic already exists: ${spec.name}`);
      if (proxy.toxicCount >= TOXICS_PER_PROXY_MAX) throw badRequest(`too many toxics on proxy ${proxyName}: the limit is ${TOXICS_PER_PROXY_MAX}`);
      proxy.addToxic(spec);
      return toxicToJson(spec);
    });
  }

  updateToxic(proxyName: string, toxicName: string, body: unknown): Promise<ToxicJson> {
    return this.exclusive(async () => {
      const proxy = this.get(proxyName);
      const existing = proxy.getToxic(toxicName);
      if (existing === undefined) throw toxicNotFound(proxyName, toxicName);
      const spec = unwrap(parseToxicUpdate(existing, body));
      proxy.replaceToxic(spec);
      return toxicToJson(spec);
    });
  }

  removeToxic(proxyName: string, toxicName: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.get(proxyName).removeToxic(toxicName)) throw toxicNotFound(proxyName, toxicName);
    });
  }

  /** Stops every proxy (dropping its connections) and forgets them all. */
  closeAll(): Promise<void> {
    return this.exclusive(async () => {
      const proxies = [...this.proxies.values()];
      this.proxies.clear();
      await Promise.all(proxies.map((proxy) => proxy.stop()));
    });
  }

  private get(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw proxyNotFound(name);
    return proxy;
  }

  private async add(fields: ProxyFields, upstream: { readonly text: string; readonly address: HostPort }): Promise<Proxy> {
    const proxy = new Proxy({
      name: fields.name,
      listen: fields.listen ?? LISTEN_DEFAULT,
      upstreamText: upstream.text,
      upstream: upstream.address,
      random: this.options.random,
      nowMs: this.options.nowMs,
      logger: this.options.logger,
    });
    // Toxiproxy registers a proxy only once it listens (when asked to be enabled).
    if (fields.enabled ?? true) await proxy.start();
    this.proxies.set(fields.name, proxy);
    return proxy;
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function changeOf(fields: ProxyFields): Parameters<Proxy['update']>[0] {
  return {
    ...(fields.listen !== undefined && { listen: fields.listen }),
    ...(fields.upstream !== undefined && { upstreamText: fields.upstream.text, upstream: fields.upstream.address }),
    ...(fields.enabled !== undefined && { enabled: fields.enabled }),
  };
}

/**
 * Checks a proxy body. For an update (`pathName` given) every field is optional and `name`, if
 * present, must be the proxy's own: a proxy is renamed by deleting and creating it.
 */
function parseProxyFields(body: unknown, pathName: string | null): ProxyFields {
  if (!isPlainObject(body)) throw badRequest('bad request body: a proxy must be a JSON object');
  for (const key of Object.keys(body)) {
    if (key === 'toxics') throw badRequest('toxics cannot be set in a proxy body; add them with POST /proxies/{name}/toxics');
    if (!PROXY_FIELDS.has(key)) throw badRequest(`unknown proxy field: ${key}`);
  }
  let name: string;
  if (pathName === null) {
    name = unwrap(checkName(body.name, 'name'));
  } else {
    if (body.name !== undefined && body.name !== pathName) throw badRequest(`a proxy cannot be renamed (${pathName}); delete it and create a new one`);
    name = pathName;
  }
  let listen: HostPort | undefined;
  if (body.listen !== undefined) {
    if (typeof body.listen !== 'string') throw badRequest('listen must be a "host:port" string');
    listen = unwrapAddress(parseHostPort(body.listen, 0, true));
  }
  let upstream: ProxyFields['upstream'];
  if (body.upstream !== undefined) {
    if (typeof body.upstream !== 'string' || body.upstream.length === 0) throw badRequest('missing required field: upstream (a "host:port" string)');
    upstream = { text: body.upstream, address: unwrapAddress(parseHostPort(body.upstream, 1, false)) };
  }
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean') throw badRequest('enabled must be true or false');
  return { name, listen, upstream, enabled: body.enabled };
}

function unwrap<T>(value: T | ApiError): T {
  if (value instanceof ApiError) throw value;
  return value;
}

function unwrapAddress(result: ReturnType<typeof parseHostPort>): HostPort {
  if (!result.ok) throw badRequest(result.error);
  return result.value;
}
