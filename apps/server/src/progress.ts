/**
 * A one-line progress bar on a terminal (redrawn in place, at most every 100 ms), or a line every
 * quarter on a pipe or file.
 */
export class ProgressBar {
  private last = 0;
  private lastQuarter = -1;
  private shown = false;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly line: (text: string) => void,
    private readonly quiet = false,
  ) {}

  /** Reports `done` of `total` bytes. */
  update(done: number, total: number): void {
    if (this.quiet || total <= 0) return;
    const frac = Math.min(1, done / total);
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    const text = `${this.label} ${(frac * 100).toFixed(0).padStart(3)}% (${mib(done)}/${mib(total)} MiB)`;
    if (this.tty) {
      const now = Date.now();
      if (now - this.last < 100 && frac < 1) return;
      this.last = now;
      const width = 30;
      const fill = Math.round(frac * width);
      process.stderr.write(`\r[${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${text}`);
      this.shown = true;
    } else {
      const q = Math.floor(frac * 4);
      if (q > this.lastQuarter) {
        this.lastQuarter = q;
        this.line(text);
      }
    }
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.tty && this.shown) process.stderr.write('\n');
    this.shown = false;
  }
}
