// What a worker enforces on the client connections handed to it: the router's
// limits, so that a request meets the same rules on either path.

/** The header a worker's rerouted request carries its token in. */
export const rerouteHeader = 'x-tenantd-reroute';

export interface RerouteTarget {
  /** The router's loopback port for requests a worker was given but are not its tenant's. */
  port: number;
  /** Proves a rerouted request comes from a worker (the router trusts its X-Forwarded-*). */
  token: string;
}

export interface ClientLimits {
  /** Bytes of request body; 413 above. */
  bodyLimit: number;
  /** Bytes of request head; 431 above. Fixed for a worker's life. */
  maxHeaderSize: number;
  /** ms for a client to send its request head; 408 after. */
  headersTimeout: number;
  /** ms for a client to send its whole request; 408 after. */
  requestTimeout: number;
  /** ms an idle connection stays open. */
  keepAliveTimeout: number;
  /** ms the application may take to start its response; 504 after. */
  upstreamTimeout: number;
  /** Write an access-log line per request. */
  accessLog: boolean;
  reroute: RerouteTarget;
}
