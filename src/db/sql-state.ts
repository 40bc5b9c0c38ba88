// PostgreSQL's refusals carry a five-character SQLSTATE in `code`; Node's own
// errors carry names such as ECONNREFUSED there. One test tells them apart.

/** The SQLSTATE of a server's refusal, if `error` is one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
