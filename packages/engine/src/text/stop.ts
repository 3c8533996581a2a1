/** Result of checking stop strings against a request's output text. */
export interface StopCheck {
  /** The text that may be released now. */
  text: string;
  /** The stop string that matched, if any (the output then ends before it). */
  matched: string | null;
}

/**
 * Finds stop strings in streamed output text. Text that could still be the start of a stop string
 * is held back, so a stream never shows part of a stop string; the match itself is not included
 * (vLLM's default).
 */
export class StopStringMatcher {
  private pending = '';
  private readonly holdBack: number;
  /** Set once a stop string matched; later input is ignored. */
  matched: string | null = null;

  constructor(private readonly stops: readonly string[]) {
    for (const s of stops) if (s.length === 0) throw new Error('stop strings must not be empty');
    this.holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** Adds a text delta; returns what may be released and whether a stop string matched. */
  push(delta: string): StopCheck {
    if (this.matched !== null) return { text: '', matched: this.matched };
    this.pending += delta;
    let cut = -1;
    let which: string | null = null;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        which = s;
      }
    }
    if (which !== null) {
      this.matched = which;
      const text = this.pending.slice(0, cut);
      this.pending = '';
      return { text, matched: which };
    }
    const release = Math.max(0, this.pending.length - this.holdBack);
    const text = this.pending.slice(0, release);
    this.pending = this.pending.slice(release);
    return { text, matched: null };
  }

  /** Releases the held-back tail at the end of the request. */
  flush(): string {
    const t = this.matched === null ? this.pending : '';
    this.pending = '';
    return t;
  }
}
