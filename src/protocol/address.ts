// Node addresses are "host:port" strings everywhere (CLI, RAFTQ_NODES, hello, admin requests).

import { ADDRESS_LENGTH_MAX } from './messages.js';

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PATTERN = /^[A-Za-z0-9._-]+$/;
const IPV6_PATTERN = /^[0-9A-Fa-f:.]+$/;
const PORT_PATTERN = /^[0-9]{1,5}$/;

/** Parses "host:port" or "[ipv6]:port"; null when it is not one. Port 0 is refused (not dialable). */
export function parseHostPort(address: string): HostPort | null {
  if (address.length === 0 || address.length > ADDRESS_LENGTH_MAX) return null;
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!PORT_PATTERN.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!IPV6_PATTERN.test(host) || !host.includes(':')) return null;
    return { host, port };
  }
  return HOST_PATTERN.test(host) ? { host, port } : null;
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
