// One pino logger factory for primary and workers: JSON lines on stdout (for
// journald), with every password and connection string redacted.
import pino, { type DestinationStream, type Logger } from 'pino';

export const redactPaths = [
  'password', '*.password', 'url', '*.url', 'connectionString', '*.connectionString',
  'credentials', '*.credentials', 'adminUrl', '*.adminUrl', 'adminToken', '*.adminToken',
  'req.headers.authorization', 'req.headers.cookie',
];

/** Removes a password from any postgres:// URL in free text (error messages). */
export function redactUrls(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1[Redacted]@');
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: redactPaths, censor: '[Redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactUrls(a) : a)) as Parameters<typeof method>);
      },
    },
    serializers: {
      err: (err: Error) => ({ ...pino.stdSerializers.err(err), message: redactUrls(err.message), stack: err.stack && redactUrls(err.stack) }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
