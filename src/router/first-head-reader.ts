// Reads each new connection's first request head (first-head.ts says when it is
// complete), within maxHeaderSize bytes and headersTimeout ms, then stops
// reading and gives the head and the bytes read to the router. The router is one
// process paying for every connection, so the reads share one listener function
// and one sweep checks every deadline: no closure and no timer per connection.
import type { Socket } from 'node:net';
import { SlotList } from '../http/slot-list.ts';
import { sweepInterval } from '../http/client-rules.ts';
import { scanFirstHead, type HeadLimits, type SettledScan } from './first-head.ts';

export interface FirstHeadReaderOptions<T> extends HeadLimits {
  headersTimeout: number;
  /** The first head is complete, or the connection must take the proxy path; its socket no longer reads. */
  onHead: (socket: Socket, context: T, bytes: Buffer, scan: SettledScan) => void;
  /** No complete head came within headersTimeout ms. */
  onTimeout: (socket: Socket) => void;
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

const readingOf = Symbol('first head reading');

/** One connection whose first head is being read. */
interface Reading<T> {
  readonly reader: FirstHeadReader<T>;
  readonly socket: Socket;
  readonly context: T;
  bytes: Buffer | undefined;
  /** When headersTimeout runs out, ms. */
  readonly deadline: number;
  /** Where it sits in the reader's list. */
  slot: number;
}

type Reads<T> = Socket & { [readingOf]?: Reading<T> };

function firstData(this: Reads<unknown>, chunk: Buffer): void {
  const reading = this[readingOf];
  if (reading !== undefined) reading.reader.data(reading, chunk);
}

export class FirstHeadReader<T> {
  readonly #options: FirstHeadReaderOptions<T>;
  readonly #readings = new SlotList<Reading<T>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: FirstHeadReaderOptions<T>) {
    this.#options = options;
    this.headersTimeout = options.headersTimeout;
  }

  /** Changes the time a head may take (reload); a connection being read keeps its deadline. */
  set headersTimeout(ms: number) {
    this.#options.headersTimeout = ms;
    clearInterval(this.#sweeper);
    // As often as Node's own server checks its headersTimeout (router.ts sets it alike).
    this.#sweeper = setInterval(() => this.#sweep(), sweepInterval(ms));
    this.#sweeper.unref();
  }

  /** Changes the longest line a head may have (reload). */
  set maxHeaderLineSize(bytes: number) {
    this.#options.maxHeaderLineSize = bytes;
  }

  /** Reads `socket`'s first head; `context` goes with it to onHead. */
  read(socket: Socket, context: T): void {
    const reading: Reading<T> = {
      reader: this, socket, context, bytes: undefined, deadline: performance.now() + this.#options.headersTimeout, slot: -1,
    };
    this.#readings.add(reading);
    (socket as Reads<T>)[readingOf] = reading;
    socket.on('data', firstData);
  }

  /** Bytes of a connection being read. */
  data(reading: Reading<T>, chunk: Buffer): void {
    const bytes = reading.bytes === undefined ? chunk : Buffer.concat([reading.bytes, chunk]);
    const scan = scanFirstHead(bytes, this.#options);
    if (scan.kind === 'incomplete') {
      reading.bytes = bytes;
      return;
    }
    this.#end(reading);
    stopReading(reading.socket);
    this.#options.onHead(reading.socket, reading.context, bytes, scan);
  }

  /** Stops reading a connection (its head is complete, it timed out or it closed). */
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
        this.#options.onTimeout(reading.socket);
      }
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}
