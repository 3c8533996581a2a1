/** Where a command writes. The real CLI passes the process streams; tests collect strings. */
export interface CliIo {
  /** Writes one line of normal output (no trailing newline needed). */
  out(line: string): void;
  /** Writes one line to the error stream. */
  err(line: string): void;
}

/** The process's stdout and stderr as a {@link CliIo}. */
export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}
