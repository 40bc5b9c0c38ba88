// Certificates from files (tls.certificates): each read, its key checked against
// it, its names taken from its subjectAltName; then each tenant given only the
// certificates that cover one of its hosts. A bad file is one line naming it.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { errors } from '../base/errors.ts';

/** One certificate as a worker gets it: PEM text of the chain and of its key. */
export interface CertificatePem {
  cert: string;
  key: string;
}

export interface LoadedCertificate extends CertificatePem {
  /** Where it came from (the config's path), for messages. */
  source: string;
  /** Its DNS names, lower-cased; `*.example.com` for a wildcard. */
  names: readonly string[];
  /** When it became valid, and when it expires (ms since the epoch). */
  notBefore: number;
  notAfter: number;
}

/** Reads and checks every configured pair; paths are relative to `folder` (the config file's). */
export function loadCertificates(pairs: readonly { cert: string; key: string }[], folder: string): LoadedCertificate[] {
  return pairs.map((pair) => {
    const certFile = path.resolve(folder, pair.cert);
    const keyFile = path.resolve(folder, pair.key);
    const read = (file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (error) {
        throw new errors.CertificateInvalid(file, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message);
      }
    };
    return parseCertificate(read(certFile), read(keyFile), certFile, keyFile);
  });
}

/**
 * A certificate and its key from PEM text, checked: `certName` and `keyName`
 * say where they came from in messages (files, or the database for ACME's).
 */
export function parseCertificate(cert: string, key: string, certName: string, keyName = certName): LoadedCertificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new errors.CertificateInvalid(certName, `not a PEM certificate (${(error as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new errors.CertificateInvalid(keyName, `not a PEM private key (${(error as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new errors.CertificateInvalid(keyName, `not the key of ${certName}`);
  const names = namesOf(x509);
  if (names.length === 0) throw new errors.CertificateInvalid(certName, 'it names no DNS host (subjectAltName)');
  return { cert, key, source: certName, names, notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo) };
}

/** The DNS names of a certificate's subjectAltName, lower-cased. */
export function namesOf(x509: X509Certificate): string[] {
  const san = x509.subjectAltName ?? '';
  return san.split(/,\s*/).filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4).toLowerCase());
}

/**
 * Whether certificate name `name` covers host `host` (RFC 6125 §6.4.3: a
 * wildcard stands for one whole left-most label). A configured wildcard host
 * is covered by the same wildcard only.
 */
export function covers(name: string, host: string): boolean {
  if (name === host) return true;
  if (!name.startsWith('*.') || host.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}

/** The certificate for `host`: an exact name first, then a wildcard, the one expiring last among equals (the primary's choice and the worker's alike). */
export function certificateFor<C extends Pick<LoadedCertificate, 'names' | 'notAfter'>>(certificates: readonly C[], host: string): C | undefined {
  let best: C | undefined;
  let bestExact = false;
  for (const c of certificates) {
    const exact = c.names.includes(host);
    if (!exact && !c.names.some((n) => covers(n, host))) continue;
    if (!best || (exact && !bestExact) || (exact === bestExact && c.notAfter > best.notAfter)) {
      best = c;
      bestExact = exact;
    }
  }
  return best;
}

/** What one tenant's workers get: the certificates of its hosts, each once. */
export function certificatesOf(certificates: readonly LoadedCertificate[], hosts: readonly string[]): CertificatePem[] {
  const chosen = new Set<LoadedCertificate>();
  for (const host of hosts) {
    const c = certificateFor(certificates, host);
    if (c) chosen.add(c);
  }
  return [...chosen].map(({ cert, key }) => ({ cert, key }));
}
