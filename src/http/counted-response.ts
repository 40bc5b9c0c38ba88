// A ServerResponse that counts the body bytes it is given, for the access log.
// Node keeps no such count (socket.bytesWritten includes headers and chunk
// framing, and is shared by every response on a keep-alive connection), so the
// class counts in write() and end(): one subclass given to http.createServer,
// rather than wrapping each response's methods per request.
import http from 'node:http';

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8');
  return chunk instanceof Uint8Array ? chunk.length : 0;
}

export class CountedResponse extends http.ServerResponse {
  /** Body bytes written so far. */
  bodyBytes = 0;

  // Fixed parameters, not rest arguments: no array per call. Node's own write and
  // end accept undefined for those not given.
  override write(chunk: any, encoding?: any, callback?: any): boolean {
    this.bodyBytes += byteLength(chunk, encoding);
    return super.write(chunk, encoding, callback);
  }

  override end(chunk?: any, encoding?: any, callback?: any): this {
    if (typeof chunk !== 'function') this.bodyBytes += byteLength(chunk, encoding);
    return super.end(chunk, encoding, callback);
  }
}
