// ACME's TLS-ALPN-01 challenge (RFC 8737) on the TLS listener: a ClientHello
// that offers only the `acme-tls/1` protocol is a CA validating a host, not a
// client of a tenant. It is answered here, with the self-signed certificate
// the order made for that host (its key authorization in an extension), and
// closed once the handshake is done: no request is ever read on it. Any name
// the service has a challenge for is answered, configured yet or not, as
// HTTP-01's challenges are.
import type { Socket } from 'node:net';
import tls from 'node:tls';

export const acmeTlsProtocol = 'acme-tls/1';

/** The certificate of a TLS-ALPN-01 challenge, PEM. */
export interface AlpnCertificate {
  cert: string;
  key: string;
}

/** Whether a ClientHello's ALPN list is a CA's TLS-ALPN-01 validation. */
export function isAlpnChallenge(alpn: readonly string[]): boolean {
  return alpn.length === 1 && alpn[0] === acmeTlsProtocol;
}

export class AlpnChallengeResponder {
  readonly #server: tls.Server;

  /** `lookup`: the challenge certificate of a host, when an order has one. */
  constructor(lookup: (host: string) => AlpnCertificate | undefined | Promise<AlpnCertificate | undefined>, handshakeTimeout: number) {
    this.#server = tls.createServer({
      minVersion: 'TLSv1.2',
      ALPNProtocols: [acmeTlsProtocol],
      handshakeTimeout,
      SNICallback: (name, done) => {
        Promise.resolve(lookup(name.toLowerCase())).then(
          (found) => done(null, found ? tls.createSecureContext({ cert: found.cert, key: found.key, minVersion: 'TLSv1.2' }) : undefined),
          (error: Error) => done(error),
        );
      },
    }, (socket) => socket.end());
    this.#server.on('tlsClientError', (_error, socket) => socket.destroy());
  }

  /** Answers the handshake of `socket`, `hello` being the bytes read of it already. */
  answer(socket: Socket, hello: Buffer): void {
    socket.unshift(hello);
    this.#server.emit('connection', socket);
  }
}
