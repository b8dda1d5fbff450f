// Errors as the HTTP API answers them: `{"error": "...", "status": N}`, the shape Toxiproxy uses,
// so clients written against it (toxiproxy-node-client, toxiproxy-go) understand ours.

export type ApiStatus = 400 | 403 | 404 | 405 | 409 | 413 | 500;

export interface ApiErrorJson {
  readonly error: string;
  readonly status: ApiStatus;
}

/** Thrown by request handlers and turned into a JSON answer at the HTTP edge, never further. */
export class ApiError extends Error {
  readonly status: ApiStatus;

  constructor(status: ApiStatus, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }

  toJson(): ApiErrorJson {
    return { error: this.message, status: this.status };
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const proxyNotFound = (name: string): ApiError => new ApiError(404, `proxy not found: ${name}`);
export const toxicNotFound = (proxy: string, toxic: string): ApiError =>
  new ApiError(404, `toxic not found: ${toxic} (proxy ${proxy})`);
