// The router's options: the `router` config keys (a reload may change all but
// maxHeaderSize), and the parts the service plugs in.
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { AccessEntry } from '../http/access-entry.ts';
import type { Forwarder } from './forwarder.ts';

/** The router's config keys a reload may change (maxHeaderSize is fixed for the server's life), and whether it writes access lines. */
export type RouterLimits = Omit<Config['router'], 'maxHeaderSize'> & { accessLog: boolean };

export interface RouterOptions extends RouterLimits {
  /** Bytes of request head; fixed for the server's life. */
  maxHeaderSize: number;
  forwarder: Forwarder;
  log: Logger;
  /** Called once per request the router answers (metrics). */
  onResponse?: (entry: AccessEntry) => void;
}
