// A request a worker was handed that is for another tenant (a load balancer in
// front may reuse one connection for many hosts): sent on to the router's
// loopback reroute listener, which routes it as any request, and its answer
// relayed. The caller closes the client's connection after it.
import http from 'node:http';
import type { Logger } from 'pino';
import { rerouteHeader, type RerouteTarget } from '../http/client-limits.ts';
import { refuse } from '../http/client-rules.ts';
import { stripHopByHop } from '../http/hop-by-hop.ts';

export function reroute(req: http.IncomingMessage, res: http.ServerResponse, target: RerouteTarget, agent: http.Agent, log: Logger): void {
  const upstream = http.request({
    host: '127.0.0.1',
    port: target.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, [rerouteHeader]: target.token },
    agent,
    setHost: false,
  }, (answer) => {
    const headers = { ...answer.headers };
    stripHopByHop(headers);
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
    answer.pipe(res);
    answer.once('error', () => res.destroy());
  });
  upstream.once('error', (error) => {
    // The client went away meanwhile (its close destroys the upstream request):
    // nothing failed that anyone should look at.
    if (res.destroyed || req.destroyed) return log.debug({ reason: error.message }, 'a client went away while its request was rerouted');
    log.warn({ err: error }, 'rerouting a request for another tenant failed');
    refuse(res, { status: 502, message: 'router unavailable' });
  });
  res.once('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
