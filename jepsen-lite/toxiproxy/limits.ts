// Every bound the fault-injection proxy enforces, in one place. A request beyond one is refused
// with a 400 (or 413 for bodies) naming the limit, so a harness bug shows up as a clear error
// instead of an unbounded buffer or a timer that silently overflows.

/** Proxies one server holds. */
export const PROXIES_MAX = 1024;
/** Toxics one proxy holds, both directions together. */
export const TOXICS_PER_PROXY_MAX = 32;
/** Open client connections per proxy; further clients are closed on accept. */
export const CONNECTIONS_PER_PROXY_MAX = 4096;
/** Largest HTTP request body the API reads; larger requests get 413. */
export const HTTP_BODY_BYTES_MAX = 1024 * 1024;
/** How long the API waits for a whole request before dropping the socket. */
export const HTTP_REQUEST_MS_MAX = 15_000;
/** Proxy and toxic names: length bound (the characters are checked by NAME_PATTERN). */
export const NAME_LENGTH_MAX = 256;

/**
 * Bytes one direction of one connection may hold between reading its source and writing its
 * destination (inside toxics such as latency or bandwidth, and in the destination's send buffer).
 * Beyond it the proxy stops reading the source, so TCP backpressure reaches the sender instead of
 * the proxy's heap growing. With latency L this caps throughput at about this / L per link.
 */
export const LINK_BUFFERED_BYTES_MAX = 4 * 1024 * 1024;
/** Reading resumes once the held bytes fall below this (hysteresis, so we do not flap). */
export const LINK_BUFFERED_BYTES_RESUME = LINK_BUFFERED_BYTES_MAX / 2;

/** Upstream connect attempts give up after this; the client connection is then closed. */
export const UPSTREAM_CONNECT_MS_MAX = 10_000;
/** A graceful close waits this long for written bytes to drain before destroying the sockets. */
export const CLOSE_FLUSH_MS_MAX = 5_000;

/**
 * Time attributes (latency, jitter, delays, timeouts) in milliseconds. Node's timers overflow
 * above 2^31-1 ms (about 24.8 days) and then fire after 1 ms, so one day is a safe, useful cap.
 */
export const TOXIC_TIME_MS_MAX = 24 * 60 * 60 * 1000;
/** Slicer delay is in microseconds; same cap as the other times. */
export const TOXIC_TIME_US_MAX = TOXIC_TIME_MS_MAX * 1000;
/** Bandwidth rate in KB/s (1 KB = 1000 bytes, as Toxiproxy counts); 10 GB/s is beyond any loopback. */
export const BANDWIDTH_KBPS_MAX = 10_000_000;
/** Slicer average_size and size_variation in bytes. */
export const SLICER_SIZE_BYTES_MAX = 1024 * 1024;
/** limit_data bytes: anything a JavaScript number counts exactly. */
export const LIMIT_DATA_BYTES_MAX = Number.MAX_SAFE_INTEGER;
