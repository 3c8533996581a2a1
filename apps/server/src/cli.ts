#!/usr/bin/env node
import { processIo } from './io.js';
import { runCli } from './program.js';

// A closed pipe (`dcp check-config | head`) is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), processIo());
