#!/usr/bin/env node
// The `dcp` command: a committed shim, so package managers can link it before the build exists.
import '../dist/cli.js';
