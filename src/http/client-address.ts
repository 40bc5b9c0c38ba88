// Who the client is, on a connection a front passed on: the address a trusted
// front's PROXY header gave (kept on the socket), else the socket's peer; and
// whether the peer is a trusted front whose X-Forwarded-* headers are kept.
import type { Socket } from 'node:net';

/** On a socket: what the router learned of its client. */
const clientOf = Symbol.for('tenantd.client');

export interface ClientInfo {
  /** The client's address from a PROXY header; undefined: the socket's peer is the client. */
  address?: string | undefined;
  /** The peer is one of router.trustedProxies sending HTTP: its X-Forwarded-For and -Proto are kept (and appended to). */
  trusted?: boolean | undefined;
}

type Marked = { [clientOf]?: ClientInfo; remoteAddress?: string | undefined };

/** The client's address on `socket`. */
export function clientAddress(socket: Socket | Marked | null | undefined): string {
  const marked = socket as Marked | null | undefined;
  return marked?.[clientOf]?.address ?? marked?.remoteAddress ?? '';
}

/** Whether the peer is a trusted front whose forwarded headers are kept. */
export function trustedFront(socket: Socket | Marked | null | undefined): boolean {
  return (socket as Marked | null | undefined)?.[clientOf]?.trusted === true;
}

/** What the router learned of `socket`'s client, to pass on with it (to a worker, to the TLS socket that wraps it). */
export function clientInfoOf(socket: Socket | Marked | null | undefined): ClientInfo | undefined {
  return (socket as Marked | null | undefined)?.[clientOf];
}

/** Records what the router learned of `socket`'s client (nothing: left unmarked). */
export function markClient(socket: Socket, info: ClientInfo | undefined): void {
  if (info && (info.address !== undefined || info.trusted)) (socket as Marked)[clientOf] = info;
}
