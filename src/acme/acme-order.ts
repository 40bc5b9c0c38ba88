// One ACME order (RFC 8555) for one host, by acme-client: the account (made at
// the first order, then reused), a new P-256 key and CSR, the challenge
// published where tenantd answers it (HTTP-01 on the plain listener,
// TLS-ALPN-01 on the TLS listener), the certificate chain. Before it, the directory is fetched once with the trust configured
// (tls.acme.caRoot): an untrusted or unreachable CA is one clear line at
// once, where acme-client would retry for half a minute and then fail with a
// TypeError.
import https from 'node:https';
import http from 'node:http';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';

/**
 * Where an order publishes what answers its challenge, and takes it down:
 * for HTTP-01 a token's key authorization, for TLS-ALPN-01 the host's
 * challenge certificate (under alpnKey(host), as JSON of its PEMs).
 */
export interface ChallengeBoard {
  put(key: string, value: string): Promise<void>;
  remove(key: string): Promise<void>;
}

/** The board's key of a host's TLS-ALPN-01 certificate (never an HTTP-01 token: those are base64url). */
export function alpnKey(host: string): string {
  return `tls-alpn-01:${host}`;
}

export interface AcmeAccount {
  /** PEM. */
  key: string;
  url: string;
}

export interface OrderOptions {
  directory: string;
  email: string | undefined;
  eab: { kid: string; hmacKey: string } | undefined;
  /** PEM of extra CAs to trust for the directory's HTTPS. */
  caRoot: string | undefined;
  /** The account to use; undefined: one is made (and returned). */
  account: AcmeAccount | undefined;
  board: ChallengeBoard;
  /** The challenge types offered, in order of preference. */
  challenges: readonly string[];
  /** acme-client's log lines. */
  debug: (message: string) => void;
}

export interface Issued {
  /** PEM chain, leaf first. */
  cert: string;
  /** PEM. */
  key: string;
  account: AcmeAccount;
}

/** One line of an error, as status and logs show it. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** GETs the directory with the trust the order uses: undefined when it answers, else why not. */
async function directoryProblem(directory: string, agent: https.Agent): Promise<string | undefined> {
  const url = new URL(directory);
  const get = url.protocol === 'http:' ? http.get : https.get;
  return new Promise((resolve) => {
    const req = get(url, url.protocol === 'https:' ? { agent } : {}, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? undefined : `the ACME directory ${directory} answered ${status}`);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const tlsTrust = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(error.code ?? '');
      resolve(`cannot reach the ACME directory ${directory}: ${error.code ? `${error.code}: ` : ''}${error.message}${tlsTrust ? ' (a private CA: trust its root with tls.acme.caRoot)' : ''}`);
    });
  });
}

/** Orders a certificate for `host`; throws with one line of what went wrong. */
export async function orderCertificate(host: string, options: OrderOptions): Promise<Issued> {
  const agent = new https.Agent({ ca: options.caRoot ? [...rootCertificates, options.caRoot] : undefined, keepAlive: true });
  const problem = await directoryProblem(options.directory, agent);
  if (problem) throw new Error(problem);
  // acme-client's requests go through its one axios instance: this order's trust.
  acme.axios.defaults.httpsAgent = agent;
  acme.setLogger(options.debug);
  const accountKey = options.account?.key ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
  const client = new acme.Client({
    directoryUrl: options.directory,
    accountKey,
    accountUrl: options.account?.url,
    externalAccountBinding: options.eab,
    // Polls of the authorization and the order: from half a second (the
    // default waits 5 s before the first look), at most 10 s apart.
    backoffAttempts: 12,
    backoffMin: 500,
    backoffMax: 10_000,
  });
  const [key, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
  try {
    const cert = await client.auto({
      csr,
      email: options.email,
      termsOfServiceAgreed: true,
      challengePriority: [...options.challenges],
      // The CA checks the challenge; acme-client would check it first through
      // this machine's own resolver, which need not see what the CA sees.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type === 'http-01') return options.board.put(challenge.token, keyAuthorization);
        if ((challenge.type as string) !== 'tls-alpn-01') throw new Error(`the CA offered none of ${options.challenges.join(', ')} for ${host}`);
        const [alpnKeyPem, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
        return options.board.put(alpnKey(host), JSON.stringify({ cert: alpnCert.toString(), key: alpnKeyPem.toString() }));
      },
      challengeRemoveFn: async (_authz, challenge) => {
        await options.board.remove((challenge.type as string) === 'tls-alpn-01' ? alpnKey(host) : challenge.token);
      },
    });
    return { cert, key: key.toString(), account: { key: accountKey, url: client.getAccountUrl() } };
  } finally {
    agent.destroy();
  }
}
