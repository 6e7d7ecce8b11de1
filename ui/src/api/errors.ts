// Errors as people read them: the server's envelope message (or the desktop
// command's `{code, message}`), plus what to do about it. Never raw JSON,
// never a debug string.

/** An error from either transport. `message` is already fit to show. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number | null;
  readonly retryable: boolean;
  readonly requestId: string | null;
  /** Crema's finer distinction within `code` (envelope extension), e.g. `upload_incomplete`. */
  readonly reason: string | null;

  constructor(
    code: string,
    message: string,
    opts: { status?: number | null; retryable?: boolean; requestId?: string | null; reason?: string | null } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = opts.status ?? null;
    this.retryable = opts.retryable ?? false;
    this.requestId = opts.requestId ?? null;
    this.reason = opts.reason ?? null;
  }
}

/** What to do, per error code, after the reason. */
const ADVICE: Record<string, string> = {
  unauthorized: 'Log in again with an API key (create one with `crema keys create NAME`).',
  forbidden: 'This key or path is not allowed here; ask whoever runs the server.',
  source_invalid: 'Check that it is a video file that plays; try another file.',
  source_unsupported: 'This server cannot encode that file; try another file or profile.',
  output_persistence_failed: 'The server could not store the output; free space or check its storage, then retry.',
  rate_limited: 'Wait a moment and try again.',
  capacity_exceeded: 'The server is busy: try again in a moment.',
  internal_error: 'Try again; if it keeps happening, look at the server log.',
  network: 'Check that the Crema server is running and reachable, then try again.',
  disk_full: 'Free some disk space on the server, then retry.',
  output_not_writable: 'Pick an output folder you can write to, then retry.',
};

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(first) ? first : first + '.';
}

/** A readable message for anything thrown: the reason, then what to do. */
export function humanMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const advice = ADVICE[err.code];
    const reason = sentence(err.message);
    return advice && !reason.includes(advice) ? `${reason} ${advice}` : reason;
  }
  if (err instanceof DOMException && err.name === 'AbortError') return 'Canceled.';
  if (err instanceof TypeError) {
    // fetch's network failure ("Failed to fetch", "NetworkError …", "Load failed").
    return `Cannot reach the server. ${ADVICE.network}`;
  }
  if (err instanceof Error) return sentence(err.message) || 'Something went wrong.';
  if (typeof err === 'string') return sentence(err);
  if (err && typeof err === 'object' && 'message' in err && typeof (err as { message: unknown }).message === 'string') {
    return sentence((err as { message: string }).message);
  }
  return 'Something went wrong.';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'the request was not accepted',
  401: 'you are not logged in',
  403: 'this is not allowed',
  404: 'it was not found',
  408: 'the request took too long',
  409: 'it is not possible in the current state',
  413: 'it is too large',
  422: 'the request was not valid',
  429: 'too many requests',
  500: 'the server failed',
  502: 'a proxy could not reach the server',
  503: 'the server is unavailable',
  504: 'a proxy timed out waiting for the server',
};

/** Turns an HTTP error response body into an [`ApiError`]; `body` may be anything. */
export function errorFromResponse(status: number, body: unknown, requestId: string | null = null): ApiError {
  const env = body && typeof body === 'object' && 'error' in body ? (body as { error: unknown }).error : null;
  if (env && typeof env === 'object' && typeof (env as { message?: unknown }).message === 'string') {
    const e = env as { code?: unknown; message: string; retryable?: unknown; request_id?: unknown; reason?: unknown };
    return new ApiError(typeof e.code === 'string' ? e.code : 'error', e.message, {
      status,
      reason: typeof e.reason === 'string' ? e.reason : null,
      retryable: e.retryable === true,
      requestId: typeof e.request_id === 'string' ? e.request_id : requestId,
    });
  }
  const what = STATUS_TEXT[status] ?? 'the request failed';
  const code = status === 401 ? 'unauthorized' : status >= 500 ? 'internal_error' : 'error';
  return new ApiError(code, `The server answered ${status}: ${what}`, { status, retryable: status >= 500 || status === 429, requestId });
}

/** A desktop command's error: `{code, message}`, or a plain string from older shells. */
export function errorFromInvoke(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
    const e = err as { code?: unknown; message: string; retryable?: unknown };
    return new ApiError(typeof e.code === 'string' ? e.code : 'error', e.message, { retryable: e.retryable === true });
  }
  if (typeof err === 'string') return new ApiError('error', err);
  return new ApiError('error', 'The desktop app could not do that');
}

/** A random UUID. `crypto.randomUUID` exists only in secure contexts (HTTPS or
 * localhost); a browser on the LAN over plain HTTP gets one made from
 * `crypto.getRandomValues`, which works everywhere. */
export function uuid(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
