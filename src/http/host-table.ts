// Maps a request's Host to a value (a tenant's workers). Exact names beat
// wildcards; `*.x.y` matches any name ending in `.x.y`, the longest wildcard wins.
// Lookups fail closed: anything that is not a clean host name matches nothing.

/** DNS: a label is at most 63 octets (RFC 1035 §2.3.4). */
const maxLabelLength = 63;
/** A name of at most 253 characters (RFC 1035), with a port (":65535"): anything longer is not a host. */
const maxHostHeaderLength = 260;

const hostHeader = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::\d{1,5})?$/;

/** Host header values seen lately and their names: clients send the same few again and again. */
const normalized = new Map<string, string | undefined>();
/** Values remembered at most (then forgotten all at once). */
const maxNormalized = 1024;

/** The host name of a Host header: lower-cased, port and one trailing dot removed; undefined if malformed. */
export function normalizeHost(header: string): string | undefined {
  const known = normalized.get(header);
  if (known !== undefined || normalized.has(header)) return known;
  if (normalized.size >= maxNormalized) normalized.clear();
  const name = normalizeHostName(header);
  normalized.set(header, name);
  return name;
}

function normalizeHostName(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  if (value.length === 0 || value.length > maxHostHeaderLength || !hostHeader.test(value)) return undefined;
  // A port, when given, is 1-65535 (an empty one is allowed by RFC 3986).
  const port = /:(\d+)$/.exec(value)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  const host = value.startsWith('[') ? value.slice(0, value.indexOf(']') + 1) : value.replace(/:\d+$/, '');
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.startsWith('[')) return name;
  return name.split('.').every((label) => label.length > 0 && label.length <= maxLabelLength) ? name : undefined;
}

export class HostTable<T> {
  readonly #exact = new Map<string, T>();
  /** Keyed by the suffix after `*.`. */
  readonly #wildcards = new Map<string, T>();

  /** `host` is a config host name (already lower-case); throws on a name claimed twice. */
  add(host: string, value: T): void {
    const wildcard = host.startsWith('*.');
    const map = wildcard ? this.#wildcards : this.#exact;
    const key = wildcard ? host.slice(2) : host;
    if (map.has(key)) throw new Error(`host ${host} is claimed twice`);
    map.set(key, value);
  }

  lookup(name: string): T | undefined {
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    // Walk from the longest proper suffix to the shortest: the first hit is the longest wildcard.
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const value = this.#wildcards.get(name.slice(dot + 1));
      if (value !== undefined) return value;
    }
    return undefined;
  }
}
