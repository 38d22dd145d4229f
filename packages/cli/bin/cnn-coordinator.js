#!/usr/bin/env node
// Committed entry point: pnpm links it before the TypeScript build has produced dist/.
import { main } from '../dist/coordinator.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
