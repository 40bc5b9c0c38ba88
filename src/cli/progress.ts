// One line of progress on a terminal (stderr), rewritten in place; nothing
// elsewhere, where the summary a command prints is the record.

export interface Progress {
  /** Shows `text` (replacing what was shown). */
  show(text: string): void;
  /** Clears the line. */
  done(): void;
}

export function progress(): Progress {
  const tty = process.stderr.isTTY === true;
  return {
    show: (text) => { if (tty) process.stderr.write(`\r\x1b[K${text}`); },
    done: () => { if (tty) process.stderr.write('\r\x1b[K'); },
  };
}

/** Bytes as a person reads them. */
export function sizeOf(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}
