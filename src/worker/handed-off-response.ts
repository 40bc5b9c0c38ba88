// The response an application writes on a connection handed to its worker,
// rewritten as the proxy path rewrites it: tenantd's X-Request-Id added, and
// the headers that describe the connection (hop-by-hop, RFC 9110 §7.6.1)
// removed, with those a Connection header names: the connection is tenantd's.
import type http from 'node:http';
import { CountedResponse } from '../http/counted-response.ts';

/** Response headers that describe the connection, which is tenantd's: never the application's to set. */
const hopByHopResponse = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'trailer', 'upgrade']);

/**
 * What the application answers, with tenantd's X-Request-Id added and hop-by-hop
 * headers removed, as on the proxy path. Node calls writeHead for every
 * response (implicitly on the first write), so this one override sees them all.
 * Headers given to writeHead as an object are copied, never changed in place
 * (an application may reuse one object), and X-Request-Id joins the copy: a
 * setHeader before writeHead would take Node off its fast path for them.
 */
export class HandedOffResponse<X = unknown> extends CountedResponse {
  /** Set by the request handler before the application runs. */
  requestId = '';
  /** The request and response, while the application has them. */
  exchange: X | undefined = undefined;
  /**
   * Called once when the response closes (finished or cut), before any
   * 'close' listener: set per response, where a listener would grow the
   * response's listener list on every request.
   */
  onClose: ((response: this) => void) | undefined = undefined;
  /** The application set headers one by one (setHeader/appendHeader). */
  #progressive = false;

  override emit(event: string | symbol): boolean {
    if (event === 'close' && this.onClose !== undefined) {
      const closed = this.onClose;
      this.onClose = undefined;
      closed(this);
    }
    // Whatever arguments Node gave, passed on as they came.
    // eslint-disable-next-line prefer-rest-params
    return (super.emit as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    this.#progressive = true;
    return super.setHeader(name, value);
  }

  override appendHeader(name: string, value: string | readonly string[]): this {
    this.#progressive = true;
    return super.appendHeader(name, value);
  }

  override writeHead(...args: any[]): this {
    const at = typeof args[1] === 'string' ? 2 : 1;
    const given = args[at] as http.OutgoingHttpHeaders | http.OutgoingHttpHeader[] | undefined;
    if (this.#progressive) {
      for (const name of hopByHopResponse) if (this.hasHeader(name)) this.#remove(name);
      if (this.requestId && !this.hasHeader('x-request-id')) super.setHeader('x-request-id', this.requestId);
    }
    if (given === undefined || given === null) {
      if (!this.#progressive && this.requestId) args[at] = { 'x-request-id': this.requestId };
    } else if (!Array.isArray(given)) {
      const headers: http.OutgoingHttpHeaders = this.#progressive || !this.requestId ? {} : { 'x-request-id': this.requestId };
      let named: string[] = [];
      for (const key in given) {
        const name = key.toLowerCase();
        if (name === 'connection') named = String(given[key]).toLowerCase().split(',').map((t) => t.trim());
        if (!hopByHopResponse.has(name)) headers[key] = given[key];
      }
      for (const name of named) for (const key of Object.keys(headers)) if (key.toLowerCase() === name) delete headers[key];
      args[at] = headers;
    } else {
      // A flat array of names and values (Node's other form).
      const pairs = given as string[];
      let named: string[] = [];
      for (let i = 0; i < pairs.length; i += 2) if (String(pairs[i]).toLowerCase() === 'connection') named = String(pairs[i + 1]).toLowerCase().split(',').map((t) => t.trim());
      const kept: string[] = [];
      let hasId = this.#progressive;
      for (let i = 0; i < pairs.length; i += 2) {
        const name = String(pairs[i]).toLowerCase();
        if (hopByHopResponse.has(name) || named.includes(name)) continue;
        if (name === 'x-request-id') hasId = true;
        kept.push(pairs[i]!, pairs[i + 1]!);
      }
      if (!hasId && this.requestId) kept.push('x-request-id', this.requestId);
      args[at] = kept;
    }
    return (super.writeHead as (...a: unknown[]) => this)(...args);
  }

  /** Removes a header the application set (and those a Connection header names). */
  #remove(name: string): void {
    if (name === 'connection') {
      for (const token of String(this.getHeader(name)).split(',')) if (token.trim() && this.hasHeader(token.trim())) this.removeHeader(token.trim());
    }
    this.removeHeader(name);
    // removeHeader('connection') also stops Node writing its own Connection
    // header (it would still close, silently): keep Node's own, as for any response.
    if (name === 'connection') (this as unknown as { _removedConnection: boolean })._removedConnection = false;
  }
}
