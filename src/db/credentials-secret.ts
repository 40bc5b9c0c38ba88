// Tenant role passwords derived from a secret the nodes share, so that every
// tenantd node on one database, and every restart, computes the same password
// and the same SCRAM verifier (a node that starts never locks the others out).
//
// The secret file holds one secret per line. The first sets the roles'
// passwords; workers also try the others, which is how a secret rotates with
// no failed request (docs/operations.md, "Rotating the credentials secret").
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errors } from '../base/errors.ts';
import { scramVerifier } from './scram-verifier.ts';

/** Bytes of a generated secret. */
const secretBytes = 32;

export class CredentialsSecret {
  readonly #secrets: readonly string[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('a credentials secret needs at least one line');
    this.#secrets = secrets;
  }

  /**
   * Reads `file`; creates it with a random secret (mode 0600) when it does not
   * exist and `create` is set (the first start of the first node).
   */
  static read(file: string, create: boolean): CredentialsSecret {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || !create) throw new errors.ConfigUnreadable(file, `${code ?? error}: the tenant credentials secret (database.secretFile)`);
      text = randomBytes(secretBytes).toString('base64url');
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // wx: two nodes creating it at once keep the first.
      try {
        writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
      } catch {
        text = readFileSync(file, 'utf8');
      }
    }
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
    if (lines.length === 0) throw new errors.ConfigUnreadable(file, 'empty: expected one secret per line (database.secretFile)');
    if (lines.some((l) => l.length < 16)) throw new errors.ConfigUnreadable(file, 'a secret is shorter than 16 characters (database.secretFile)');
    return new CredentialsSecret(lines);
  }

  /** Every password `role` may have, the one provisioning sets first. */
  passwords(database: string, role: string): string[] {
    return this.#secrets.map((secret) => createHmac('sha256', secret).update(`password\0${database}\0${role}`).digest('base64url'));
  }

  /** The SCRAM verifier provisioning sets: the same on every node, so concurrent starts agree. */
  verifier(database: string, role: string): string {
    const salt = createHmac('sha256', this.#secrets[0]!).update(`salt\0${database}\0${role}`).digest().subarray(0, 16);
    return scramVerifier(this.passwords(database, role)[0]!, salt);
  }

  /** 64 bytes for `purpose`, the same on every node with this secret (TLS session ticket keys). */
  derive(purpose: string): Buffer {
    return this.deriveEach(purpose)[0]!;
  }

  /** derive(purpose) from each secret line, the first line's first (what was sealed before a rotation opens with a later one). */
  deriveEach(purpose: string): Buffer[] {
    return this.#secrets.map((secret) => createHmac('sha512', secret).update(`derive\0${purpose}`).digest());
  }

  equals(other: CredentialsSecret): boolean {
    return this.#secrets.join('\n') === other.#secrets.join('\n');
  }
}
