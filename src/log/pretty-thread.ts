// Worker-thread entry of the terminal output (service/pretty-output.ts): lines
// of JSON in, readable lines written straight to the terminal (file
// descriptor 1), so that formatting costs the router's event loop nothing.
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { prettyLine } from './pretty-line.ts';

const { colours } = workerData as { colours: boolean };

function write(text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(1, rest));
    } catch (error) {
      // A terminal the main thread made non-blocking: wait for it.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

parentPort!.on('message', (lines: string | { flush: true }) => {
  if (typeof lines !== 'string') return parentPort!.postMessage('flushed');
  let out = '';
  for (const line of lines.split('\n')) if (line.length > 0) out += `${prettyLine(line, colours)}\n`;
  write(out);
});
