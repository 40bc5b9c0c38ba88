// One JSON log line (as pino writes it) as a line a person reads in a
// terminal: time, level, who (tenant, component or process), the message, then
// the other fields as key=value; an access entry as a request line; an error's
// stack below it. A line that is not JSON (an application's console.log) is
// passed on as it came.

const levels: Record<string, { label: string; colour: string }> = {
  trace: { label: 'TRACE', colour: '\x1b[90m' },
  debug: { label: 'DEBUG', colour: '\x1b[34m' },
  info: { label: 'INFO ', colour: '\x1b[32m' },
  warn: { label: 'WARN ', colour: '\x1b[33m' },
  error: { label: 'ERROR', colour: '\x1b[31m' },
  fatal: { label: 'FATAL', colour: '\x1b[35m' },
};
const dim = '\x1b[2m';
const reset = '\x1b[0m';

/** Fields shown in their own place, not as key=value. */
const placed = new Set(['level', 'time', 'pid', 'hostname', 'role', 'msg', 'tenant', 'component', 'access', 'err']);

function time(ms: unknown): string {
  const date = new Date(typeof ms === 'number' ? ms : Date.now());
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

interface Access { tenant?: string | null; method?: string; path?: string; status?: number; bytes?: number; durationMs?: number; requestId?: string }

/** `line` (one JSON object, no newline) formatted; `colours` adds ANSI colours. */
export function prettyLine(line: string, colours: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return line;
  const level = levels[String(entry.level)] ?? { label: String(entry.level ?? '').toUpperCase().padEnd(5), colour: '' };
  const access = entry.access as Access | undefined;
  const who = String(entry.tenant ?? access?.tenant ?? entry.component ?? entry.role ?? '');
  const paint = (code: string, text: string) => (colours && code ? `${code}${text}${reset}` : text);
  const parts = [paint(dim, time(entry.time)), paint(level.colour, level.label), who.padEnd(10)];
  if (access && typeof access === 'object') {
    parts.push(`${access.method ?? ''} ${access.path ?? ''} ${access.status ?? ''} ${typeof access.durationMs === 'number' ? `${access.durationMs.toFixed(1)}ms` : ''} ${access.bytes ?? 0}B`.trim());
  } else {
    parts.push(String(entry.msg ?? ''));
  }
  const rest = Object.entries(entry).filter(([key]) => !placed.has(key)).map(([key, v]) => `${key}=${value(v)}`);
  const err = entry.err as { message?: string; stack?: string; code?: string } | undefined;
  if (err && typeof err === 'object') rest.unshift(`err=${value(err.message ?? '')}${err.code ? ` code=${err.code}` : ''}`);
  let text = parts.join(' ');
  if (rest.length > 0) text += `  ${paint(dim, rest.join(' '))}`;
  if (err?.stack && (entry.level === 'error' || entry.level === 'fatal' || entry.level === 'warn')) {
    text += `\n${paint(dim, String(err.stack).split('\n').slice(1).map((l) => `    ${l.trim()}`).join('\n'))}`;
  }
  return text;
}
