#!/usr/bin/env node
/**
 * Builds dist/kernels.wasm from the AssemblyScript sources in assembly/ (run by `pnpm run build`
 * at install time; no binary is committed). Skips the compile when the output is newer than every
 * source. Then checks the contract src/kernels/wasm/ relies on: the module imports only env.memory
 * (shared) and env.exp/env.log, and has no data segments or globals, so instantiating it on another
 * thread writes nothing to the shared memory.
 *
 *   node scripts/build-wasm.mjs [--force]
 */
import { readdirSync, readFileSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = join(pkg, 'assembly');
const outFile = join(pkg, 'dist', 'kernels.wasm');

/** Compiler flags, one reason each. */
const FLAGS = [
  '--optimizeLevel', '3', '--shrinkLevel', '0', // speed over size
  '--noAssert', // the TypeScript wrappers check arguments; kernels trap only on wasm bounds
  '--runtime', 'stub', // kernels allocate nothing; no GC, no heap of AssemblyScript's own
  '--use', 'abort=', // no abort import (nothing may throw from inside a kernel)
  '--importMemory', '--noExportMemory', '--sharedMemory', // the host's one shared memory
  '--initialMemory', '1', '--maximumMemory', '32768', // accepts any imported memory up to 2 GiB
  '--enable', 'simd', '--enable', 'threads', // 128-bit SIMD (never relaxed SIMD: not deterministic)
];

const sources = readdirSync(sourceDir).filter((f) => f.endsWith('.ts')).map((f) => join(sourceDir, f));
const newestSource = Math.max(...[...sources, fileURLToPath(import.meta.url)].map((f) => statSync(f).mtimeMs));
const force = process.argv.includes('--force');

if (!force && existsSync(outFile) && statSync(outFile).mtimeMs > newestSource) {
  check(readFileSync(outFile));
  console.log('build-wasm: dist/kernels.wasm is up to date');
} else {
  mkdirSync(dirname(outFile), { recursive: true });
  const { main } = await import('assemblyscript/asc');
  const { error, stderr } = await main([join(sourceDir, 'index.ts'), '--outFile', outFile, ...FLAGS], {});
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${error.message}`);
    process.exit(1);
  }
  const bytes = readFileSync(outFile);
  check(bytes);
  console.log(`build-wasm: dist/kernels.wasm (${bytes.length} bytes)`);
}

function check(bytes) {
  if (!WebAssembly.validate(bytes)) fail('the module does not validate (relaxed SIMD or another feature this Node lacks?)');
  const module = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}:${i.kind}`).sort();
  const expected = ['env.exp:function', 'env.log:function', 'env.memory:memory'];
  if (imports.join() !== expected.join()) fail(`unexpected imports ${imports.join(', ')}; expected ${expected.join(', ')}`);
  for (const id of sectionIds(bytes)) {
    if (id === 6) fail('the module has globals; kernels must keep no state between calls');
    if (id === 11 || id === 12) fail('the module has data segments, which every instantiation would write into the shared memory');
  }
}

function sectionIds(bytes) {
  const ids = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    ids.push(id);
    at += size;
  }
  return ids;
}

function fail(message) {
  console.error(`build-wasm: ${message}`);
  process.exit(1);
}
