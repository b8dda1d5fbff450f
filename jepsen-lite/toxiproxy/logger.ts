// The little the proxy logs: proxies starting and stopping, upstreams that refuse, requests that
// fail. A pino logger fits this shape; tests pass nothing and get silence.

export interface ToxiproxyLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export const silentLogger: ToxiproxyLogger = {
  info: () => {},
  warn: () => {},
};
