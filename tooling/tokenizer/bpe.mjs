// Byte-level BPE training and Hugging Face tokenizer.json writing (GPT-2 conventions), no dependencies.

/** Special tokens of the tiny preset, in id order (ids 0..5). */
export const SPECIAL_TOKENS = ['<|bos|>', '<|eos|>', '<|pad|>', '<|user|>', '<|assistant|>', '<|system|>'];

/** The pre-tokenizer split of Hugging Face's ByteLevel pre-tokenizer with use_regex (GPT-2's pattern). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's byte → printable character map: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100 upwards, in byte order. Returns the 256 characters indexed by byte.
 */
export function byteToUnicode() {
  const keep = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep(b) ? b : next++);
  return out;
}

/** Pre-tokens of `text` with their counts added into `counts` (a Map). */
export function countPretokens(text, counts = new Map()) {
  for (const m of text.matchAll(GPT2_SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  return counts;
}

/**
 * Learns `numMerges` BPE merges over pre-token counts. Each pre-token starts as its UTF-8 bytes;
 * every step merges the most frequent adjacent pair (ties: the pair first seen earliest in the
 * vocabulary, i.e. lowest (left id, right id)). Incremental: only words holding the merged pair are
 * recounted. Returns `{ tokens, merges, words }`: `tokens[id]` as byte-level strings (ids 0..255
 * the bytes), `merges` as [left, right] string pairs in rank order, `words` the final segmentation
 * of each pre-token (a Map from pre-token to token strings).
 */
export function trainBpe(counts, numMerges) {
  const b2u = byteToUnicode();
  const tokens = [...b2u];
  const enc = new TextEncoder();
  const keys = [...counts.keys()];
  const words = keys.map((w) => Array.from(enc.encode(w)));
  const freq = keys.map((w) => counts.get(w));
  const pairCount = new Map();
  const pairWords = new Map();
  const K = 1 << 16;
  const addWord = (wi, sign) => {
    const s = words[wi];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * K + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addWord(wi, 1);
  const merges = [];
  for (let m = 0; m < numMerges; m++) {
    let best = -1;
    let bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (bestCount <= 0) throw new Error(`only ${m} merges possible, ${numMerges} asked`);
    const a = Math.floor(best / K);
    const b = best % K;
    const id = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([tokens[a], tokens[b]]);
    for (const wi of pairWords.get(best) ?? []) {
      const s = words[wi];
      addWord(wi, -1);
      const out = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]);
      }
      words[wi] = out;
      addWord(wi, 1);
    }
    pairWords.delete(best);
    for (const [key, c] of pairCount) if (c === 0) pairCount.delete(key);
  }
  const seg = new Map(keys.map((k, i) => [k, words[i].map((t) => tokens[t])]));
  return { tokens, merges, words: seg };
}

/** A Hugging Face tokenizer.json object: specials at ids 0..n-1, then the 256 bytes, then the merges. */
export function tokenizerJson({ tokens, merges }, specials = SPECIAL_TOKENS) {
  const vocab = {};
  specials.forEach((t, i) => {
    vocab[t] = i;
  });
  tokens.forEach((t, i) => {
    vocab[t] = specials.length + i;
  });
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const bos = specials[0];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [0], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** The chat template: `<|role|>content<|eos|>` per message after one `<|bos|>`, then `<|assistant|>` to generate. */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

/** The tokenizer_config.json object for the same specials. */
export function tokenizerConfig(specials = SPECIAL_TOKENS) {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: specials[0],
    eos_token: specials[1],
    pad_token: specials[2],
    unk_token: null,
    additional_special_tokens: specials.slice(3),
    clean_up_tokenization_spaces: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      specials.map((content, id) => [
        String(id),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    chat_template: CHAT_TEMPLATE,
  };
}
