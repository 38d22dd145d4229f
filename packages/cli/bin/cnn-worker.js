#!/usr/bin/env node
// Committed entry point: pnpm links it before the TypeScript build has produced dist/.
import { main } from '../dist/worker.js';
import { runBin } from '../dist/run-bin.js';

runBin(main);
