// Test certificates made with openssl: one CA, and leaf certificates it signs
// for the names given (wildcards included), as PEM files in a folder.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestCa {
  folder: string;
  /** The CA's certificate (PEM file): what a client trusts. */
  caFile: string;
  ca: string;
  /** Signs a certificate for `names` (the first is its subject; an IPv4 address is an IP name); returns its files, relative to the folder. */
  issue(file: string, names: readonly string[], days?: number): { cert: string; key: string };
}

function openssl(folder: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: folder, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(folder: string): TestCa {
  openssl(folder, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=tenantd test CA']);
  const caFile = path.join(folder, 'ca.pem');
  return {
    folder,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(file, names, days = 30) {
      const ext = path.join(folder, `${file}.ext`);
      writeFileSync(ext, `subjectAltName=${names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(folder, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${names[0]}`]);
      openssl(folder, ['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${file}.pem`, '-days', String(days), '-extfile', ext]);
      return { cert: `${file}.pem`, key: `${file}.key` };
    },
  };
}
