// What a worker enforces on the client connections handed to it: the router's
// limits, so that a request meets the same rules on either path.
import type { Config } from '../config/config.ts';

/** The header a worker's rerouted request carries its token in. */
export const rerouteHeader = 'x-tenantd-reroute';

export interface RerouteTarget {
  /** The router's loopback port for requests a worker was given but are not its tenant's. */
  port: number;
  /** Proves a rerouted request comes from a worker (the router trusts its X-Forwarded-*). */
  token: string;
}

/** The router's limits a worker enforces, and where it sends another tenant's request. */
export type ClientLimits = Pick<Config['router'], 'bodyLimit' | 'maxHeaderSize' | 'maxHeaderLineSize' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'upstreamTimeout'> & {
  /** Write an access-log line per request. */
  accessLog: boolean;
  reroute: RerouteTarget;
};
