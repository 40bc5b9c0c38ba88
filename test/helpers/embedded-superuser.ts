// The embedded cluster's superuser, for the test runner only: read from the
// cluster's secrets file, never offered by the production EmbeddedServer.
import { readFileSync } from 'node:fs';
import type { EmbeddedServer } from '../../src/db/embedded/embedded-server.ts';
import { secretsFile, type ClusterSecrets } from '../../src/db/embedded/cluster.ts';

export function superUrlOf(server: EmbeddedServer, dataDir: string): string {
  const secrets = JSON.parse(readFileSync(secretsFile(dataDir), 'utf8')) as ClusterSecrets;
  return `postgres://postgres:${encodeURIComponent(secrets.superPassword)}@127.0.0.1:${server.port}/postgres`;
}
