// Stops an HTTP server the way an operator expects: no new connections, every
// request in flight finishes, then the connections close. Node's server.close()
// leaves a keep-alive connection open after its last response, so the idle ones
// are closed as they appear; what remains after `timeout` ms is cut.
import type http from 'node:http';

export async function closeGracefully(server: http.Server, timeout: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 25);
  const force = setTimeout(() => server.closeAllConnections(), timeout);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(force);
  }
}
