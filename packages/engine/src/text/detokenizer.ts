/** What the detokenizer needs of a tokenizer: turning token ids into text. */
export interface TokenDecoder {
  decode(tokenIds: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

/** How many prompt tokens before the first output token give the decoder context (spaces, merges). */
const CONTEXT_TOKENS = 5;

/**
 * Turns a growing list of token ids into text deltas that never split a UTF-8 character: text is
 * released only once the decoded tail no longer ends in U+FFFD (an incomplete byte sequence).
 * One instance per request (or per choice of an `n` > 1 request).
 */
export class IncrementalDetokenizer {
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;
  /** Everything released so far. */
  text = '';

  constructor(
    private readonly decoder: TokenDecoder,
    promptTokenIds: readonly number[],
    private readonly skipSpecialTokens = true,
  ) {
    this.ids = promptTokenIds.slice(-CONTEXT_TOKENS);
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
  }

  /** Adds new tokens; returns the text they complete (possibly empty while a character is pending). */
  push(tokenIds: readonly number[]): string {
    for (const id of tokenIds) this.ids.push(id);
    const opts = { skipSpecialTokens: this.skipSpecialTokens };
    const prefix = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset), opts);
    const full = this.decoder.decode(this.ids.slice(this.prefixOffset), opts);
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return '';
    const delta = full.slice(prefix.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    this.text += delta;
    return delta;
  }

  /** Releases whatever is still pending at the end of the request, replacement characters included. */
  flush(): string {
    const opts = { skipSpecialTokens: this.skipSpecialTokens };
    const prefix = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset), opts);
    const full = this.decoder.decode(this.ids.slice(this.prefixOffset), opts);
    const delta = full.slice(prefix.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    this.text += delta;
    return delta;
  }
}
