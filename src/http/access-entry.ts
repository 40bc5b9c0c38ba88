// One finished request, as the access log writes it and the metrics count it,
// whether the router proxied it or a worker served it on a handed-off connection.

export interface AccessEntry {
  /** The tenant's schema; null when the request matched no tenant. */
  tenant: string | null;
  method: string;
  /** The path, without the query. */
  path: string;
  /** 499: the client went away before the response was complete. */
  status: number;
  /** Body bytes sent. */
  bytes: number;
  durationMs: number;
  requestId: string;
  /** The client's address: what a trusted front's PROXY header gave, else the connection's peer. */
  client?: string | undefined;
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '';
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}
