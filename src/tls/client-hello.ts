// The first bytes of a connection to the TLS listener, read without decrypting
// anything: a TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), possibly
// over several records, and the server name it asks for (RFC 6066 §3). The
// router chooses the tenant's worker from the name and hands the raw socket,
// with these bytes, to it; the worker terminates TLS.

/** The most a ClientHello may take, records and all (the handshake message's own limit is 2^24; no client sends more than a few KB). */
export const maxClientHelloBytes = 16 * 1024;

export type HelloScan =
  /** Not enough bytes yet: read more. */
  | { kind: 'partial' }
  /** A whole ClientHello: `serverName` lower-cased without a trailing dot, undefined when it names none (or only an IP). */
  | { kind: 'hello'; serverName: string | undefined; alpn: readonly string[] }
  /** The bytes look like an HTTP request: plain HTTP sent to the TLS port. */
  | { kind: 'plain-http' }
  /** Anything else: not a ClientHello. `reason` for the debug log. */
  | { kind: 'invalid'; reason: string };

const handshakeRecord = 0x16;
const clientHello = 0x01;
const serverNameExtension = 0x0000;
const alpnExtension = 0x0010;

/**
 * The handshake bytes carried by the records in `bytes`, a record still
 * arriving included (so that a declared length is seen early); an error on a
 * record that is not a handshake one.
 */
function handshakeBytes(bytes: Buffer): Buffer | { invalid: string } {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    if (bytes[at] !== handshakeRecord) return { invalid: `record type ${bytes[at]} before the ClientHello ended` };
    if (bytes[at + 1] !== 0x03) return { invalid: 'not a TLS record version' };
    const length = bytes.readUInt16BE(at + 3);
    if (length === 0 || length > 16384) return { invalid: `record of ${length} bytes` };
    parts.push(bytes.subarray(at + 5, Math.min(at + 5 + length, bytes.length)));
    at += 5 + length;
  }
  return Buffer.concat(parts);
}

/** Reads a ClientHello from the bytes received so far. */
export function scanClientHello(bytes: Buffer): HelloScan {
  if (bytes.length === 0) return { kind: 'partial' };
  const first = bytes[0]!;
  if (first !== handshakeRecord) {
    // An HTTP method starts with an upper-case letter (RFC 9110 §9: tokens; every registered one does).
    return first >= 0x41 && first <= 0x5a ? { kind: 'plain-http' } : { kind: 'invalid', reason: `first byte ${first}` };
  }
  const data = handshakeBytes(bytes);
  if ('invalid' in data) return { kind: 'invalid', reason: data.invalid };
  if (data.length >= 1 && data[0] !== clientHello) return { kind: 'invalid', reason: `handshake type ${data[0]}` };
  if (data.length < 4) return bytes.length >= maxClientHelloBytes ? { kind: 'invalid', reason: 'too long' } : { kind: 'partial' };
  const length = data.readUIntBE(1, 3);
  if (length + 4 + 5 > maxClientHelloBytes) return { kind: 'invalid', reason: `a ClientHello of ${length} bytes` };
  if (data.length < 4 + length) return bytes.length >= maxClientHelloBytes ? { kind: 'invalid', reason: 'too long' } : { kind: 'partial' };
  try {
    return parseHello(data.subarray(4, 4 + length));
  } catch {
    return { kind: 'invalid', reason: 'a malformed ClientHello' };
  }
}

/** The body of a ClientHello: its extensions' server name and ALPN list. Throws (RangeError) on a length past its end. */
function parseHello(body: Buffer): HelloScan {
  let at = 2 + 32; // legacy_version, random
  const skip = (lengthBytes: number) => {
    const length = body.readUIntBE(at, lengthBytes);
    at += lengthBytes + length;
    if (at > body.length) throw new RangeError('past the end');
  };
  skip(1); // legacy_session_id
  skip(2); // cipher_suites
  skip(1); // legacy_compression_methods
  let serverName: string | undefined;
  const alpn: string[] = [];
  if (at === body.length) return { kind: 'hello', serverName, alpn };
  const end = at + 2 + body.readUInt16BE(at);
  if (end !== body.length) throw new RangeError('extensions length');
  at += 2;
  while (at < end) {
    const type = body.readUInt16BE(at);
    const length = body.readUInt16BE(at + 2);
    const data = body.subarray(at + 4, at + 4 + length);
    if (data.length !== length) throw new RangeError('extension length');
    at += 4 + length;
    if (type === serverNameExtension) serverName = hostNameIn(data);
    else if (type === alpnExtension) {
      for (let i = 2; i < data.length; i += 1 + data[i]!) alpn.push(data.toString('latin1', i + 1, i + 1 + data[i]!));
    }
  }
  return { kind: 'hello', serverName, alpn };
}

/** The host_name entry of a server_name extension (RFC 6066 §3), normalized; undefined for none or for an IP literal (not allowed there). */
function hostNameIn(data: Buffer): string | undefined {
  const listEnd = 2 + data.readUInt16BE(0);
  for (let i = 2; i + 3 <= listEnd;) {
    const type = data[i]!;
    const length = data.readUInt16BE(i + 1);
    const name = data.toString('latin1', i + 3, i + 3 + length);
    i += 3 + length;
    if (type !== 0) continue;
    const host = name.toLowerCase().replace(/\.$/, '');
    if (!/^[a-z0-9.-]+$/.test(host) || /^[0-9.]+$/.test(host)) return undefined;
    return host;
  }
  return undefined;
}

/** A fatal `unrecognized_name` alert (RFC 6066 §3), TLS 1.2 record framing as every version accepts before the handshake. */
export const unrecognizedNameAlert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);
/** A fatal `handshake_failure` alert: a known name with no certificate yet. */
export const handshakeFailureAlert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
