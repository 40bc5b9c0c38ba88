// TLS for the connections the router hands to this worker from the TLS
// listener: a TLS server that never listens, given each raw socket with the
// ClientHello the router read of it, terminating with this tenant's
// certificates and session ticket keys only. Each decrypted connection goes to
// the same HTTP server as the plain ones (handed-off.ts).
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { certificateFor, namesOf } from '../tls/certificates.ts';
import { serverOptions, type TenantTls } from '../tls/tenant-tls.ts';

interface Context {
  names: readonly string[];
  notAfter: number;
  context: tls.SecureContext;
}

export class TlsTerminator {
  readonly #schema: string;
  readonly #server: tls.Server;
  readonly #log: Logger;
  #contexts: Context[] = [];
  /** What the primary sent last. */
  config: TenantTls;

  constructor(schema: string, config: TenantTls, secure: (socket: tls.TLSSocket) => void, log: Logger) {
    this.#schema = schema;
    this.#log = log;
    this.config = config;
    this.#server = tls.createServer({
      ...serverOptions(schema, config),
      // Only asked when the client names a host: its certificate among this tenant's.
      SNICallback: (name, done) => done(null, this.#contextFor(name)),
    }, (socket) => {
      // TLS 1.2 renegotiation is refused (1.3 has none).
      socket.disableRenegotiation();
      secure(socket);
    });
    // A handshake that fails or times out: that connection only.
    this.#server.on('tlsClientError', (error, socket) => {
      this.#log.debug({ err: error }, 'TLS handshake failed');
      socket.destroy();
    });
    this.update(config);
  }

  /** New certificates or ticket keys (a reload, a renewal, the rotation): connections from now on use them. */
  update(config: TenantTls): void {
    this.config = config;
    const options = serverOptions(this.#schema, config);
    this.#contexts = config.certificates.map((pem) => {
      const x509 = new X509Certificate(pem.cert);
      return { names: namesOf(x509), notAfter: Date.parse(x509.validTo), context: tls.createSecureContext({ ...options, cert: pem.cert, key: pem.key }) };
    });
    const first = config.certificates[0];
    // The first certificate answers a client that names no host.
    if (first) this.#server.setSecureContext({ ...options, cert: first.cert, key: first.key });
    this.#server.setTicketKeys(Buffer.from(config.ticketKeys, 'base64'));
  }

  /** Takes a raw connection, `head` being the bytes the router read of it. */
  accept(socket: Socket, head: Buffer): void {
    if (head.length > 0) socket.unshift(head);
    this.#server.emit('connection', socket);
  }

  /** Whether one of this tenant's certificates covers `hostname`. */
  covers(hostname: string): boolean {
    return certificateFor(this.#contexts, hostname) !== undefined;
  }

  /** The certificate for a server name, as the primary chose them; the first for a name none covers (the default tenant's). */
  #contextFor(name: string): tls.SecureContext | undefined {
    return (certificateFor(this.#contexts, name.toLowerCase()) ?? this.#contexts[0])?.context;
  }
}
