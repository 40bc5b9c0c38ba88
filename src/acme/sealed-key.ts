// Private keys as the database keeps them: sealed with AES-256-GCM under a key
// derived from the credentials secret, so that the database (or a copy of it)
// alone does not give them away, and every node with the secret opens them.
// After a rotation of the secret, what the old line sealed still opens.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CredentialsSecret } from '../db/credentials-secret.ts';

const version = 1;
const purpose = 'acme private keys';

/** `plain` sealed: a version byte, the 12-byte nonce, the 16-byte tag, the ciphertext. */
export function seal(secret: CredentialsSecret, plain: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret.derive(purpose).subarray(0, 32), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(version), iv, cipher.getAuthTag(), body]);
}

/** What seal() sealed; throws when no line of the secret opens it. */
export function open(secret: CredentialsSecret, sealed: Buffer): string {
  if (sealed[0] !== version || sealed.length < 29) throw new Error('not a sealed key');
  for (const key of secret.deriveEach(purpose)) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.subarray(0, 32), sealed.subarray(1, 13));
      decipher.setAuthTag(sealed.subarray(13, 29));
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]).toString('utf8');
    } catch {
      // The next line of the secret may have sealed it.
    }
  }
  throw new Error('no line of the credentials secret opens it (was the secret replaced rather than rotated?)');
}
