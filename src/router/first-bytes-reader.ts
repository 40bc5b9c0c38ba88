// Reads each new connection's first bytes until `scan` settles on them (a
// request head on the plain listener, first-head.ts; a ClientHello on the TLS
// one, tls/client-hello.ts), within a timeout, then stops reading and gives the
// bytes and the scan to the router. The router is one process paying for every
// connection, so the reads share one listener function and one sweep checks
// every deadline: no closure and no timer per connection.
import type { Socket } from 'node:net';
import { SlotList } from '../http/slot-list.ts';
import { sweepInterval } from '../http/client-rules.ts';

export interface FirstBytesReaderOptions<T, S> {
  /** ms the first bytes may take to settle. */
  timeout: number;
  /** What the bytes so far are; undefined: not settled, read more. */
  scan: (bytes: Buffer, context: T) => S | undefined;
  /** The bytes settled; the socket no longer reads. */
  onSettled: (socket: Socket, context: T, bytes: Buffer, scan: S) => void;
  /** Nothing settled within the timeout; `bytes`: what came (undefined: nothing). */
  onTimeout: (socket: Socket, context: T, bytes: Buffer | undefined) => void;
}

/**
 * Stops reading a socket at once. pause() alone lets Node read on until its
 * buffer fills; bytes read here after the head would be lost to a worker the
 * socket is handed to.
 */
export function stopReading(socket: Socket): void {
  socket.pause();
  const handle = (socket as unknown as { _handle?: { reading: boolean; readStop(): number } })._handle;
  if (handle?.reading) {
    handle.reading = false;
    handle.readStop();
  }
}

const readingOf = Symbol('first bytes reading');

/** One connection whose first head is being read. */
interface Reading<T> {
  readonly reader: FirstBytesReader<T, any>;
  readonly socket: Socket;
  readonly context: T;
  bytes: Buffer | undefined;
  /** When the timeout runs out, ms. */
  readonly deadline: number;
  /** Where it sits in the reader's list. */
  slot: number;
}

type Reads<T> = Socket & { [readingOf]?: Reading<T> };

function firstData(this: Reads<unknown>, chunk: Buffer): void {
  const reading = this[readingOf];
  if (reading !== undefined) reading.reader.data(reading, chunk);
}

export class FirstBytesReader<T, S> {
  readonly #options: FirstBytesReaderOptions<T, S>;
  readonly #readings = new SlotList<Reading<T>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: FirstBytesReaderOptions<T, S>) {
    this.#options = options;
    this.timeout = options.timeout;
  }

  /** Changes the time the first bytes may take (reload); a connection being read keeps its deadline. */
  set timeout(ms: number) {
    this.#options.timeout = ms;
    clearInterval(this.#sweeper);
    // As often as Node's own server checks its headersTimeout (router.ts sets it alike).
    this.#sweeper = setInterval(() => this.#sweep(), sweepInterval(ms));
    this.#sweeper.unref();
  }

  /**
   * Reads `socket`'s first bytes (or, on a connection that carries another
   * request, its next ones); `context` goes with them to onSettled. `initial`:
   * bytes already read from it.
   */
  read(socket: Socket, context: T, initial?: Buffer): void {
    const reading: Reading<T> = {
      reader: this, socket, context, bytes: undefined, deadline: performance.now() + this.#options.timeout, slot: -1,
    };
    this.#readings.add(reading);
    (socket as Reads<T>)[readingOf] = reading;
    socket.on('data', firstData);
    if (initial !== undefined && initial.length > 0) {
      this.data(reading, initial);
      // Settled on what was there: the socket stays stopped.
      if ((socket as Reads<T>)[readingOf] !== reading) return;
    }
    if (socket.isPaused()) socket.resume();
  }

  /** Bytes of a connection being read. */
  data(reading: Reading<T>, chunk: Buffer): void {
    const bytes = reading.bytes === undefined ? chunk : Buffer.concat([reading.bytes, chunk]);
    const scan = this.#options.scan(bytes, reading.context);
    if (scan === undefined) {
      reading.bytes = bytes;
      return;
    }
    this.#end(reading);
    stopReading(reading.socket);
    this.#options.onSettled(reading.socket, reading.context, bytes, scan);
  }

  /** Stops reading a connection (its bytes settled, it timed out or it closed). */
  #end(reading: Reading<T>): void {
    reading.socket.off('data', firstData);
    (reading.socket as Reads<T>)[readingOf] = undefined;
    this.#readings.remove(reading);
  }

  #sweep(): void {
    const now = performance.now();
    const readings = this.#readings.items;
    // Backwards (see SlotList): a reading may leave the list here.
    for (let i = readings.length - 1; i >= 0; i--) {
      const reading = readings[i]!;
      if (reading.socket.destroyed) {
        this.#end(reading);
      } else if (now >= reading.deadline) {
        this.#end(reading);
        this.#options.onTimeout(reading.socket, reading.context, reading.bytes);
      }
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}
