// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2)
// that a layer-4 front (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, nginx
// `stream` with `proxy_protocol on`) puts before a connection's first byte: the
// client's address and port, which the front's own address would hide. Read
// on either listener, accepted from router.trustedProxies only.

/** Version 2's signature: 12 bytes no HTTP request or TLS record starts with. */
const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** Version 1's longest header, CRLF included. */
const v1MaxBytes = 107;

export interface ProxiedClient {
  address: string;
  port: number;
}

export type ProxyScan =
  /** The bytes do not start with a PROXY header. */
  | { kind: 'none' }
  /** Not enough bytes to tell, or the header is not whole yet. */
  | { kind: 'partial' }
  /**
   * A whole header of `length` bytes; `client` undefined for a LOCAL (v2) or
   * UNKNOWN (v1) connection, which the front made itself (a health check).
   */
  | { kind: 'header'; length: number; client: ProxiedClient | undefined }
  | { kind: 'invalid'; reason: string };

/** Whether `bytes` begin (so far) like `prefix`. */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

export function scanProxyHeader(bytes: Buffer): ProxyScan {
  if (bytes.length === 0) return { kind: 'partial' };
  if (startsLike(bytes, v2Signature)) return bytes.length < 16 ? { kind: 'partial' } : scanV2(bytes);
  if (startsLike(bytes, v1Prefix)) return bytes.length < v1Prefix.length ? { kind: 'partial' } : scanV1(bytes);
  return { kind: 'none' };
}

function scanV1(bytes: Buffer): ProxyScan {
  const end = bytes.indexOf('\r\n');
  if (end < 0) return bytes.length >= v1MaxBytes ? { kind: 'invalid', reason: 'a PROXY v1 line longer than 107 bytes' } : { kind: 'partial' };
  if (end + 2 > v1MaxBytes) return { kind: 'invalid', reason: 'a PROXY v1 line longer than 107 bytes' };
  const parts = bytes.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'header', length: end + 2, client: undefined };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { kind: 'invalid', reason: 'a malformed PROXY v1 line' };
  const address = parts[2]!;
  const port = Number(parts[4]);
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(address);
  if ((parts[1] === 'TCP4') !== v4 || (!v4 && !/^[0-9a-f:.]+$/i.test(address)) || !/^\d{1,5}$/.test(parts[4]!) || port > 65535) {
    return { kind: 'invalid', reason: 'a malformed PROXY v1 address' };
  }
  return { kind: 'header', length: end + 2, client: { address, port } };
}

function scanV2(bytes: Buffer): ProxyScan {
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'a PROXY v2 header of another version' };
  const command = versionCommand & 0x0f;
  const family = bytes[13]!;
  const length = 16 + bytes.readUInt16BE(14);
  if (bytes.length < length) return { kind: 'partial' };
  if (command === 0x0) return { kind: 'header', length, client: undefined };
  if (command !== 0x1) return { kind: 'invalid', reason: `a PROXY v2 command ${command}` };
  // TCP or UDP over IPv4 (12 bytes of addresses) or IPv6 (36); UNIX and unspecified carry no client address.
  if (family >> 4 === 0x1 && length >= 16 + 12) {
    return { kind: 'header', length, client: { address: [...bytes.subarray(16, 20)].join('.'), port: bytes.readUInt16BE(24) } };
  }
  if (family >> 4 === 0x2 && length >= 16 + 36) {
    const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(16 + i * 2).toString(16));
    return { kind: 'header', length, client: { address: groups.join(':'), port: bytes.readUInt16BE(48) } };
  }
  return { kind: 'header', length, client: undefined };
}
