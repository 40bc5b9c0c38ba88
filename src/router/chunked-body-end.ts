// Finds where a chunked message body ends (RFC 9112 §7.1), fed the bytes as they
// arrive, without copying them: the router passes a worker's chunked response on
// unchanged and only needs to know when it is complete.

type State = 'size' | 'extension' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer-line' | 'trailer-lf' | 'end-lf';

/** Hex digits of a chunk size at most: 15 (2^60 bytes) is beyond any body. */
const maxSizeDigits = 15;

const CR = 13;
const LF = 10;

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

export class ChunkedBodyEnd {
  #state: State = 'size';
  #size = 0;
  #digits = 0;
  #remaining = 0;

  /**
   * Scans the next bytes of the body: the offset in `chunk` just past the body's
   * last byte when it ends there, undefined when it goes on, 'invalid' when the
   * framing is broken.
   */
  scan(chunk: Uint8Array): number | undefined | 'invalid' {
    let i = 0;
    while (i < chunk.length) {
      const byte = chunk[i]!;
      switch (this.#state) {
        case 'size': {
          const value = hexValue(byte);
          if (value >= 0) {
            if (++this.#digits > maxSizeDigits) return 'invalid';
            this.#size = this.#size * 16 + value;
          } else if (this.#digits === 0) {
            return 'invalid';
          } else if (byte === CR) {
            this.#state = 'size-lf';
          } else if (byte === 0x3b || byte === 0x20 || byte === 0x09) {
            this.#state = 'extension';
          } else {
            return 'invalid';
          }
          i += 1;
          break;
        }
        case 'extension':
          if (byte === CR) this.#state = 'size-lf';
          i += 1;
          break;
        case 'size-lf':
          if (byte !== LF) return 'invalid';
          this.#state = this.#size === 0 ? 'trailer-start' : 'data';
          this.#remaining = this.#size;
          this.#size = 0;
          this.#digits = 0;
          i += 1;
          break;
        case 'data': {
          const take = Math.min(this.#remaining, chunk.length - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (byte !== CR) return 'invalid';
          this.#state = 'data-lf';
          i += 1;
          break;
        case 'data-lf':
          if (byte !== LF) return 'invalid';
          this.#state = 'size';
          i += 1;
          break;
        case 'trailer-start':
          if (byte === CR) {
            this.#state = 'end-lf';
            i += 1;
          } else {
            this.#state = 'trailer-line';
          }
          break;
        case 'trailer-line':
          if (byte === CR) this.#state = 'trailer-lf';
          i += 1;
          break;
        case 'trailer-lf':
          if (byte !== LF) return 'invalid';
          this.#state = 'trailer-start';
          i += 1;
          break;
        case 'end-lf':
          if (byte !== LF) return 'invalid';
          return i + 1;
      }
    }
    return undefined;
  }
}
