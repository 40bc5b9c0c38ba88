// Computes a SCRAM-SHA-256 verifier on our side, so that `CREATE/ALTER ROLE ...
// PASSWORD` never sends a plaintext password that a server log could keep.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * PBKDF2 rounds. PostgreSQL's 4096 slow down guessing a password a person
 * chose; tenant passwords are 256 random bits (credentials-secret.ts), which
 * no number of rounds makes easier or harder to guess. Every round is paid
 * again by each CREATE or ALTER ROLE (PostgreSQL checks that the verifier is
 * not the empty password's: 3 ms at 4096, measured) and by each worker login.
 */
const iterations = 16;

/** With a `salt`, the verifier is the same every time: nodes that set it at once agree. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
