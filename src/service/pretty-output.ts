// Readable log lines in a terminal: the primary's own log and every worker's
// (their stdout, piped to the primary) go, a line at a time, to one worker
// thread (log/pretty-thread.ts) that formats them and writes the terminal. The
// primary only splits lines and posts them; where stdout is not a terminal
// (journald, a file), none of this runs and every process writes JSON itself.
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { projectRoot } from '../base/project-root.ts';
import { bundle } from '../build/bundle.ts';

const threadMain = path.join(projectRoot, 'src', 'log', 'pretty-thread.ts');

export class PrettyOutput {
  readonly #thread: Worker;

  private constructor(thread: Worker) {
    this.#thread = thread;
  }

  /** Starts the formatting thread; `colours`: ANSI colours (a terminal that shows them). */
  static async start(colours: boolean): Promise<PrettyOutput> {
    const thread = new Worker(await bundle(threadMain, 'pretty-thread'), { workerData: { colours }, stdout: false, stderr: false });
    // Lines still queued when the process exits are written before it does (the thread is awaited in close()).
    thread.unref();
    return new PrettyOutput(thread);
  }

  /** A pino destination: each write is one whole line. */
  readonly destination = {
    write: (line: string): void => {
      this.#thread.postMessage(line);
    },
  };

  /** Prints what `stream` (a worker's stdout or stderr) writes, line by line. */
  follow(stream: Readable): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const end = chunk.lastIndexOf('\n');
      if (end < 0) {
        partial += chunk;
        return;
      }
      this.#thread.postMessage(partial + chunk.slice(0, end + 1));
      partial = chunk.slice(end + 1);
    });
    stream.on('end', () => {
      if (partial.length > 0) this.#thread.postMessage(`${partial}\n`);
    });
  }

  /** Lets the thread write what it was given, then ends it. */
  async close(): Promise<void> {
    // The thread handles messages in order: its answer to this one means the lines before are written.
    const flushed = new Promise<void>((resolve) => this.#thread.once('message', () => resolve()));
    this.#thread.ref();
    this.#thread.postMessage({ flush: true });
    await flushed;
    await this.#thread.terminate();
  }
}
