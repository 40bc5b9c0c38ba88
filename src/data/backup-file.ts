// The backup file: one file, written once, read at random. It holds a header
// line, then one gzip-compressed COPY stream per table (a "section"), then the
// manifest (JSON: what is in the file, see manifest.ts), then a fixed footer
// that locates the manifest and carries its SHA-256. Each section's SHA-256 is
// in the manifest. A reader checks the header, the footer, the manifest and
// every section before anything is restored: a truncated, corrupted or foreign
// file is refused whole.
//
//   "TENANTD BACKUP 1\n"
//   section 1 (gzip) ... section n (gzip)
//   manifest (UTF-8 JSON)
//   footer: "TDBKEND1", manifest offset (u64 BE), manifest length (u64 BE), manifest SHA-256 (32 bytes)
//
// The file is written under a temporary name and renamed when complete, so a
// backup that was interrupted never looks like one.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, createGzip, constants } from 'node:zlib';
import { errors } from '../base/errors.ts';
import type { Manifest, SectionRef } from './manifest.ts';

const header = Buffer.from('TENANTD BACKUP 1\n');
const footerMagic = Buffer.from('TDBKEND1');
const footerLength = 8 + 8 + 8 + 32;
/** A section compressed to less than this is written whole when ready (lanes write in turn); a larger one streams while it holds the file. */
const bufferedSection = 8 * 1024 * 1024;

/** Where sections go as they are made: a file (BackupWriter) or memory (MemoryArchive). */
export interface SectionSink {
  /** Stores `data` (a table's COPY text) as one section. */
  write(data: Readable): Promise<SectionRef>;
}

/** Where sections are read back from. */
export interface SectionSource {
  /** A section's COPY text. */
  open(ref: SectionRef): Readable;
}

export class BackupWriter implements SectionSink {
  readonly #file: string;
  readonly #partial: string;
  readonly #handle: FileHandle;
  #offset: number;
  /** Sections take turns at the file. */
  #turn: Promise<void> = Promise.resolve();

  private constructor(file: string, partial: string, handle: FileHandle) {
    this.#file = file;
    this.#partial = partial;
    this.#handle = handle;
    this.#offset = header.length;
  }

  static async create(file: string): Promise<BackupWriter> {
    await mkdir(path.dirname(file), { recursive: true });
    const partial = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
    const handle = await open(partial, 'w', 0o600);
    await handle.write(header);
    return new BackupWriter(file, partial, handle);
  }

  async write(data: Readable): Promise<SectionRef> {
    const gzip = data.pipe(createGzip({ level: constants.Z_BEST_SPEED }));
    data.once('error', (error) => gzip.destroy(error));
    const hash = createHash('sha256');
    const buffered: Buffer[] = [];
    let size = 0;
    let release: (() => void) | undefined;
    let start = 0;
    const take = async () => {
      const previous = this.#turn;
      let done!: () => void;
      this.#turn = new Promise((resolve) => { done = resolve; });
      await previous;
      release = done;
      start = this.#offset;
    };
    const put = async (chunk: Buffer) => {
      await this.#handle.write(chunk, 0, chunk.length, this.#offset);
      this.#offset += chunk.length;
    };
    try {
      for await (const chunk of gzip as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        if (release === undefined && size <= bufferedSection) {
          buffered.push(chunk);
          continue;
        }
        if (release === undefined) {
          await take();
          for (const b of buffered.splice(0)) await put(b);
        }
        await put(chunk);
      }
      if (release === undefined) {
        await take();
        for (const b of buffered) await put(b);
      }
      return { offset: start, length: size, sha256: hash.digest('hex') };
    } finally {
      (release as (() => void) | undefined)?.();
    }
  }

  /** Writes the manifest and the footer, syncs, and gives the file its name. */
  async finish(manifest: Manifest): Promise<void> {
    await this.#turn;
    const json = Buffer.from(JSON.stringify(manifest));
    const footer = Buffer.alloc(footerLength);
    footerMagic.copy(footer, 0);
    footer.writeBigUInt64BE(BigInt(this.#offset), 8);
    footer.writeBigUInt64BE(BigInt(json.length), 16);
    createHash('sha256').update(json).digest().copy(footer, 24);
    await this.#handle.write(json, 0, json.length, this.#offset);
    await this.#handle.write(footer, 0, footer.length, this.#offset + json.length);
    await this.#handle.sync();
    await this.#handle.close();
    await rename(this.#partial, this.#file);
  }

  /** Removes what was written (the backup failed). */
  async abort(): Promise<void> {
    await this.#handle.close().catch(() => {});
    await rm(this.#partial, { force: true });
  }
}

export class BackupReader implements SectionSource {
  readonly file: string;
  readonly manifest: Manifest;

  private constructor(file: string, manifest: Manifest) {
    this.file = file;
    this.manifest = manifest;
  }

  /** Opens `file` and checks its header, footer and manifest; `verify()` checks the sections. */
  static async open(file: string): Promise<BackupReader> {
    const name = path.basename(file);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      throw new errors.BackupInvalid(name, `cannot open it (${(error as NodeJS.ErrnoException).code})`);
    }
    try {
      const { size } = await handle.stat();
      const head = Buffer.alloc(header.length);
      await handle.read(head, 0, head.length, 0);
      if (!head.equals(header)) throw new errors.BackupInvalid(name, 'it does not start as a tenantd backup does');
      if (size < header.length + footerLength) throw new errors.BackupInvalid(name, 'it is truncated (no footer)');
      const footer = Buffer.alloc(footerLength);
      await handle.read(footer, 0, footerLength, size - footerLength);
      if (!footer.subarray(0, 8).equals(footerMagic)) throw new errors.BackupInvalid(name, 'it is truncated or damaged (no footer at its end)');
      const offset = Number(footer.readBigUInt64BE(8));
      const length = Number(footer.readBigUInt64BE(16));
      if (offset < header.length || offset + length + footerLength !== size) throw new errors.BackupInvalid(name, 'its footer does not match its size (truncated or damaged)');
      const json = Buffer.alloc(length);
      await handle.read(json, 0, length, offset);
      if (!createHash('sha256').update(json).digest().equals(footer.subarray(24))) throw new errors.BackupInvalid(name, 'its manifest is damaged (checksum)');
      const manifest = JSON.parse(json.toString('utf8')) as Manifest;
      if (manifest.format !== 1) throw new errors.BackupInvalid(name, `format ${String(manifest.format)} is not one this tenantd reads`);
      for (const schema of manifest.schemas) {
        for (const table of schema.tables) {
          if (table.section.offset < header.length || table.section.offset + table.section.length > offset) throw new errors.BackupInvalid(name, `the section of ${schema.schema}.${table.name} lies outside the data`);
        }
      }
      return new BackupReader(file, manifest);
    } finally {
      await handle.close();
    }
  }

  /** Reads every section and checks its SHA-256: a damaged byte anywhere is found before anything changes. */
  async verify(): Promise<void> {
    for (const schema of this.manifest.schemas) {
      for (const table of schema.tables) {
        const hash = createHash('sha256');
        const { offset, length } = table.section;
        if (length > 0) for await (const chunk of createReadStream(this.file, { start: offset, end: offset + length - 1 })) hash.update(chunk as Buffer);
        if (hash.digest('hex') !== table.section.sha256) throw new errors.BackupInvalid(path.basename(this.file), `the data of ${schema.schema}.${table.name} is damaged (checksum)`);
      }
    }
  }

  open(ref: SectionRef): Readable {
    if (ref.length === 0) return Readable.from([]);
    const raw = createReadStream(this.file, { start: ref.offset, end: ref.offset + ref.length - 1 });
    const gunzip = raw.pipe(createGunzip());
    raw.once('error', (error) => gunzip.destroy(error));
    return gunzip;
  }
}

/** Sections kept in memory, uncompressed: a clone copies one schema to another with no file. */
export class MemoryArchive implements SectionSink, SectionSource {
  readonly #sections: Buffer[] = [];

  async write(data: Readable): Promise<SectionRef> {
    const chunks: Buffer[] = [];
    for await (const chunk of data as AsyncIterable<Buffer>) chunks.push(chunk);
    const all = Buffer.concat(chunks);
    this.#sections.push(all);
    return { offset: this.#sections.length - 1, length: all.length, sha256: '' };
  }

  open(ref: SectionRef): Readable {
    return Readable.from([this.#sections[ref.offset]!]);
  }
}
