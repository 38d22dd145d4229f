import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CnnError, writeFileAtomic } from '@cnn/core';

/*
 * A checkpoint is one file: the magic, a JSON header (position in the run, settings, checksum), then
 * the parameters and the optimizer slots as little-endian float32. Written to a temp file, fsynced and
 * renamed, so a crash leaves the previous checkpoint whole.
 */

const MAGIC = 'CNNCKPT1';
/** Checkpoints kept: older ones are deleted once a newer one is safely on disk. */
const KEEP = 3;
const NAME = /^ckpt-(\d{10})\.cnnckpt$/;

export interface CheckpointHeader {
  readonly modelFingerprint: string;
  /** Optimizer steps done. */
  readonly iterations: number;
  /** Where training continues: this epoch, at this batch. */
  readonly epoch: number;
  readonly batch: number;
  readonly paramCount: number;
  readonly slotNames: readonly string[];
  /** The training settings that fix the arithmetic; a resumed run takes them from here. */
  readonly settings: Record<string, unknown>;
  readonly bodySha256?: string;
}

export interface Checkpoint {
  readonly file: string;
  readonly header: CheckpointHeader;
  readonly params: Float32Array;
  readonly slots: Float32Array[];
}

export async function writeCheckpoint(dir: string, header: CheckpointHeader, params: Float32Array, slots: readonly Float32Array[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const body = new Uint8Array((1 + slots.length) * params.length * 4);
  [params, ...slots].forEach((a, i) => body.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), i * a.byteLength));
  const json = Buffer.from(JSON.stringify({ ...header, bodySha256: createHash('sha256').update(body).digest('hex') }));
  const head = Buffer.alloc(MAGIC.length + 4);
  head.write(MAGIC, 0, 'ascii');
  head.writeUInt32LE(json.length, MAGIC.length);
  const file = join(dir, `ckpt-${String(header.iterations).padStart(10, '0')}.cnnckpt`);
  await writeFileAtomic(file, Buffer.concat([head, json, body]));
  for (const old of checkpointFiles(dir).slice(KEEP)) unlinkSync(join(dir, old));
  return file;
}

/** Checkpoint file names in dir, newest first. */
function checkpointFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => NAME.test(n)).sort().reverse();
}

export function readCheckpoint(file: string): Checkpoint {
  const bytes = readFileSync(file);
  const bad = (what: string) => new CnnError('CNN_ERR_BAD_CHECKPOINT', `${file}: ${what}`);
  if (bytes.length < MAGIC.length + 4 || bytes.toString('ascii', 0, MAGIC.length) !== MAGIC) throw bad(`not a checkpoint (no ${MAGIC} magic)`);
  const jsonLength = bytes.readUInt32LE(MAGIC.length);
  const bodyStart = MAGIC.length + 4 + jsonLength;
  if (bodyStart > bytes.length) throw bad('truncated header');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, bodyStart));
  } catch {
    throw bad('corrupt header');
  }
  const floats = header.paramCount * (1 + header.slotNames.length);
  if (bytes.length - bodyStart !== floats * 4) throw bad(`truncated: expected ${floats * 4} bytes of weights, found ${bytes.length - bodyStart}`);
  const body = bytes.subarray(bodyStart);
  if (createHash('sha256').update(body).digest('hex') !== header.bodySha256) throw bad('checksum mismatch: the file is corrupt');
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(body);
  const p = header.paramCount;
  return {
    file,
    header,
    params: all.subarray(0, p),
    slots: header.slotNames.map((_, i) => all.subarray((i + 1) * p, (i + 2) * p)),
  };
}

/**
 * The newest checkpoint in dir that reads back whole; a corrupt newer one is reported through
 * `onSkip` and the previous one used.
 */
export function newestCheckpoint(dir: string, onSkip: (file: string, why: string) => void): Checkpoint | null {
  for (const name of checkpointFiles(dir)) {
    try {
      return readCheckpoint(join(dir, name));
    } catch (e) {
      onSkip(join(dir, name), (e as Error).message);
    }
  }
  return null;
}
