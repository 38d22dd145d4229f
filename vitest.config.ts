import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Unit tests run on sources (no build needed); tests that start threads or processes use the built
// packages, which `pnpm test` builds first.
export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias: { '@cnn/core': src('core') } },
        test: { name: 'core', include: ['packages/core/src/**/*.test.ts'], testTimeout: 120_000 },
      },
      {
        // Units of the packages above core; they import @cnn/core (and @cnn/worker) from the built dist.
        test: { name: 'packages', include: ['packages/{worker,coordinator}/src/**/*.test.ts'] },
      },
      {
        test: { name: 'integration', include: ['test/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 120_000, fileParallelism: false },
      },
    ],
  },
});
