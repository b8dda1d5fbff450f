// "host:port" strings as Toxiproxy writes them: IPv6 hosts in brackets, port last.

export interface HostPort {
  /** Empty for "all interfaces" (listen only). */
  readonly host: string;
  readonly port: number;
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const PORT_PATTERN = /^[0-9]{1,5}$/;
const PORT_MAX = 65_535;

/**
 * Parses "host:port", "[v6]:port" or ":port". `portMin` is 0 for listen addresses (an ephemeral
 * port) and 1 for upstreams, which must name a real port.
 */
export function parseHostPort(text: string, portMin: 0 | 1, allowEmptyHost: boolean): ParseResult<HostPort> {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return fail(text, 'an IPv6 host must look like [::1]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail(text, 'expected host:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail(text, 'an IPv6 host must be written in brackets, as [::1]:port');
  }
  if (host.length === 0 && !allowEmptyHost) return fail(text, 'the host is missing');
  if (/[\s/]/.test(host)) return fail(text, 'the host contains a space or a slash');
  if (!PORT_PATTERN.test(portText)) return fail(text, 'the port must be a number');
  const port = Number(portText);
  if (port < portMin || port > PORT_MAX) return fail(text, `the port must be in ${portMin}..${PORT_MAX}`);
  return { ok: true, value: { host, port } };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Whether a requested listen address names the socket already bound at `bound`. "localhost"
 * matches the loopback address it resolved to; port 0 never matches, because it asks for a new
 * ephemeral port (Toxiproxy restarts the proxy in that case too).
 */
export function sameListenAddress(requested: HostPort, bound: HostPort): boolean {
  if (requested.port !== bound.port) return false;
  if (requested.host === bound.host) return true;
  const loopback = new Set(['127.0.0.1', '::1']);
  return requested.host === 'localhost' && loopback.has(bound.host);
}

function fail(text: string, why: string): ParseResult<never> {
  return { ok: false, error: `bad address ${JSON.stringify(text)}: ${why}` };
}
