// Unigram (add-alpha) and bigram (interpolated Kneser-Ney) token models: the baselines the brown
// model is compared with. Plain objects of typed arrays; no dependencies.

/**
 * Add-alpha unigram model over `vocab` ids, counted from `docs` (arrays of token ids; the first
 * token of each, <|bos|>, is context only and is not counted, as it is never predicted).
 */
export function trainUnigram(docs, vocab, alpha = 1) {
  if (!(alpha > 0)) throw new Error(`alpha must be > 0, got ${alpha}`);
  const counts = new Float64Array(vocab);
  let total = 0;
  for (const d of docs) {
    for (let i = 1; i < d.length; i++) {
      counts[d[i]] += 1;
      total += 1;
    }
  }
  const logp = new Float64Array(vocab);
  for (let w = 0; w < vocab; w++) logp[w] = Math.log((counts[w] + alpha) / (total + alpha * vocab));
  return { kind: 'unigram', vocab, alpha, total, logp };
}

/** log P(w) under a unigram model (the context is ignored). */
export function unigramLogProb(m, _prev, w) {
  return m.logp[w];
}

/**
 * Interpolated Kneser-Ney bigram model, counted from the adjacent pairs inside each of `docs`:
 *   P(w | v) = max(c(v,w) - D, 0) / c(v) + D * N1+(v .) / c(v) * Pc(w)     (c(v) > 0)
 *   P(w | v) = Pc(w)                                                       (c(v) = 0)
 *   Pc(w)    = max(N1+(. w) - D1, 0) / N1+(. .) + D1 * |{w: N1+(. w) > 0}| / N1+(. .) / vocab
 * with the discounts D = n1 / (n1 + 2 n2) from the counts-of-counts of the bigrams and D1 likewise
 * from the continuation counts N1+(. w).
 */
export function trainBigram(docs, vocab) {
  const pair = new Map();
  for (const d of docs)
    for (let i = 1; i < d.length; i++) {
      const k = d[i - 1] * vocab + d[i];
      pair.set(k, (pair.get(k) ?? 0) + 1);
    }
  const ctx = new Float64Array(vocab); // c(v)
  const follow = new Float64Array(vocab); // N1+(v .)
  const cont = new Float64Array(vocab); // N1+(. w)
  let n1 = 0;
  let n2 = 0;
  for (const [k, c] of pair) {
    const v = Math.floor(k / vocab);
    ctx[v] += c;
    follow[v] += 1;
    cont[k % vocab] += 1;
    if (c === 1) n1++;
    else if (c === 2) n2++;
  }
  const D = n1 / (n1 + 2 * n2);
  let c1 = 0;
  let c2 = 0;
  let types = 0;
  for (let w = 0; w < vocab; w++) {
    if (cont[w] === 1) c1++;
    else if (cont[w] === 2) c2++;
    if (cont[w] > 0) types++;
  }
  const D1 = c1 + c2 > 0 ? c1 / (c1 + 2 * c2) : 0.5;
  const nPairs = pair.size; // N1+(. .)
  const pc = new Float64Array(vocab);
  for (let w = 0; w < vocab; w++) pc[w] = Math.max(cont[w] - D1, 0) / nPairs + (D1 * types) / nPairs / vocab;
  return { kind: 'bigram', vocab, D, D1, pair, ctx, follow, pc };
}

/** log P(w | prev) under an interpolated Kneser-Ney bigram model. */
export function bigramLogProb(m, prev, w) {
  const cv = m.ctx[prev];
  if (cv === 0) return Math.log(m.pc[w]);
  const c = m.pair.get(prev * m.vocab + w) ?? 0;
  return Math.log(Math.max(c - m.D, 0) / cv + ((m.D * m.follow[prev]) / cv) * m.pc[w]);
}

/**
 * Scores windows (arrays of ids, position 0 = context only) with `logProb(model, prev, w)`: the
 * summed NLL of each window, and how often the model's most likely next token was the right one.
 */
export function scoreWindows(model, logProb, windows) {
  const best = new Int32Array(model.vocab);
  for (let v = 0; v < model.vocab; v++) {
    let arg = 0;
    let top = -Infinity;
    for (let w = 0; w < model.vocab; w++) {
      const lp = logProb(model, v, w);
      if (lp > top) {
        top = lp;
        arg = w;
      }
    }
    best[v] = arg;
  }
  const nll = [];
  const correct = [];
  let predicted = 0;
  for (const ids of windows) {
    let s = 0;
    let ok = 0;
    for (let i = 1; i < ids.length; i++) {
      s -= logProb(model, ids[i - 1], ids[i]);
      if (best[ids[i - 1]] === ids[i]) ok++;
    }
    nll.push(s);
    correct.push(ok);
    predicted += ids.length - 1;
  }
  const sum = nll.reduce((a, b) => a + b, 0);
  const hits = correct.reduce((a, b) => a + b, 0);
  return {
    windows: windows.length,
    predictedTokens: predicted,
    meanNll: sum / predicted,
    ppl: Math.exp(sum / predicted),
    accuracy: hits / predicted,
    nll,
    correct,
  };
}
