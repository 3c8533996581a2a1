/**
 * The op contract: what a backend instance (one per rank) does for the model.
 *
 * Conventions that hold for every op below:
 * - **Per rank, device-agnostic.** A backend instance serves one rank; it never talks to other
 *   ranks itself. Collectives go through a `Communicator`, and the only places ops and
 *   collectives meet are `commBuffer`/`fromCommBuffer` and `lseCombine` (in this package).
 * - **Caller-provided outputs.** Compute ops return nothing and write into `out` tensors the
 *   caller allocated (and may reuse every step), so a GPU backend can enqueue them on one stream
 *   and a whole step can later be captured as a CUDA graph. Only `download` waits for the device.
 *   Inputs and outputs must not overlap unless an op says it works in place.
 * - **Row-major, flattened rows.** Where an op documents a shape like `[n, d]`, any tensor with
 *   the same element count and the same last dimension is accepted (`[n, H, d]` is `n·H` rows).
 * - **Mixed precision.** Float inputs may be any dtype the backend declares; arithmetic is at
 *   least f32; the result is rounded once to `out`'s dtype.
 * - **Integer metadata** (ids, positions, slot mappings, block tables, lengths) is `i32`.
 * - **Attention LSE** is the log-sum-exp of the *scaled* scores, in the base the backend declares
 *   (`capabilities.decodeLseBase`, natural log for the reference backend), stored as f32.
 *   A row with no keys has LSE `-Infinity` and output 0.
 */
import type { DType, HostData, Tensor } from './tensor.js';

/**
 * How RoPE pairs are laid out (all three rotate by the same angles `pos · θ_i`, using the
 * `cos_i`/`sin_i` of the table row `pos`, `i ∈ [0, rotDim/2)`):
 * - `'interleaved-to-half'`: DeepSeek-V2/V3 as HF's `apply_rotary_pos_emb` computes it (its
 *   `view(d/2, 2).transpose` permute, then `rotate_half`). Pairs are read interleaved,
 *   `(x[2i], x[2i+1])`, and written in half layout:
 *   `y[i] = x[2i]·cos_i − x[2i+1]·sin_i`, `y[i + d/2] = x[2i+1]·cos_i + x[2i]·sin_i`.
 *   Use this one to match HF DeepSeek checkpoints value for value.
 * - `'interleaved'` (GPT-J style, vLLM's `is_neox_style=False`): read and written interleaved:
 *   `y[2i] = x[2i]·cos_i − x[2i+1]·sin_i`, `y[2i+1] = x[2i+1]·cos_i + x[2i]·sin_i`.
 *   Same dot products as `'interleaved-to-half'` (q and k get the same permutation), so it is
 *   an equivalent choice as long as q and the cached k use the same one.
 * - `'half'` (NeoX style): pairs `(x[i], x[i + d/2])`, written in place in the same layout.
 */
export type RopeLayout = 'interleaved-to-half' | 'interleaved' | 'half';

/** Which part of each row `rope` rotates, and how. */
export interface RopeOptions {
  /** Width of one head's row (e.g. 192 for DeepSeek-V2 q, 576 for a latent row). */
  headDim: number;
  /** Column inside the head row where the rotated part starts (128 for q, 512 for a latent row). */
  offset: number;
  /** Width of the rotated part (`qk_rope_head_dim`, 64); even. */
  rotDim: number;
  /** Pair layout; see `RopeLayout`. */
  layout: RopeLayout;
}

/** MoE routing parameters (DeepSeek-V2 gating: softmax scores). */
export interface MoeRouteOptions {
  /** Experts per token (`num_experts_per_tok`). */
  topK: number;
  /** `'greedy'`: top-k over all experts. `'group_limited_greedy'`: keep the `topkGroup` groups with the best max score, then top-k inside them. */
  method: 'greedy' | 'group_limited_greedy';
  /** Number of expert groups (`n_group`); required for `group_limited_greedy`. */
  nGroup?: number;
  /** Groups kept per token (`topk_group`); required for `group_limited_greedy`. */
  topkGroup?: number;
  /** `norm_topk_prob`: when true and topK > 1, weights are divided by their sum (+1e-20); otherwise multiplied by `routedScalingFactor`. */
  normTopkProb: boolean;
  /** `routed_scaling_factor` (1 for DeepSeek-V2-Lite). */
  routedScalingFactor: number;
}

/**
 * Metadata of an MLA decode call. One query row per token; several tokens may share a request
 * (multi-token decode) by pointing at the same block-table row.
 */
export interface DecodeMeta {
  /** `[numReqs, maxBlocksPerReq]` i32: physical block ids of this rank's paged cache. */
  blockTable: Tensor;
  /** `[numTokens]` i32: local KV entries visible to each token (this rank's `localSeqLen`; 0 allowed). */
  seqLens: Tensor;
  /** `[numTokens]` i32: block-table row of each token; omitted → token `t` uses row `t`. */
  tokenToRow?: Tensor;
}

/**
 * Metadata of a varlen attention call (prefill): requests are contiguous runs of query rows and
 * of key rows.
 */
export interface VarlenMeta {
  /** `[numReqs + 1]` i32: prefix sums of query lengths. */
  cuSeqLensQ: Tensor;
  /** `[numReqs + 1]` i32: prefix sums of key lengths. */
  cuSeqLensK: Tensor;
  /**
   * Causal masking, aligned bottom-right: query `i` of a request with `q` queries and `k` keys
   * sees keys `[0, k − q + i]`. `false`: every query sees all keys of its request.
   */
  causal: boolean;
}

/** Arguments of `gatherCache` (vLLM's `cp_gather_cache`, spec §5.3). */
export interface GatherCacheMeta {
  /** `[batch, maxBlocks]` i32. */
  blockTable: Tensor;
  /** `[batch + 1]` i32: request `b` fills `dst` rows `[cu[b], cu[b+1])`. */
  cuSeqLens: Tensor;
  /** `[batch]` i32: first cache entry (local index) to copy per request; need not be block-aligned. Omitted → 0. */
  seqStarts?: Tensor;
}

/**
 * Everything the model asks of a backend on one rank. `T` is the backend's tensor handle, `B`
 * the buffer type its `Communicator` moves.
 */
export interface BackendOps<T extends Tensor = Tensor, B = unknown> {
  // ---------------------------------------------------------------- memory
  /** A new tensor; its contents are unspecified until written (the CPU backend zero-fills). */
  alloc(shape: readonly number[], dtype: DType): T;
  /** A new tensor holding `data` (see `HostData` for the array type of each dtype). */
  upload(data: HostData, shape: readonly number[], dtype: DType): T;
  /** Overwrites `dst` (from element `offset`, default 0) with `data` of `dst`'s host type. */
  write(dst: T, data: HostData, offset?: number): void;
  /** Copies `t` to the host once every op enqueued before has finished. The one host sync. */
  download(t: T): Promise<HostData>;
  /** Releases `t`'s memory. Views made from it become invalid. */
  dispose(t: T): void;
  /** A view of `t` with another shape of the same element count (no copy). */
  reshape(t: T, shape: readonly number[]): T;
  /** A view of rows `[start, start + count)` along dim 0 (no copy). */
  sliceRows(t: T, start: number, count: number): T;
  /** Sets every element of `t` to `value`. */
  fill(t: T, value: number): void;

  // ---------------------------------------------------------------- data movement
  /**
   * Column copy between row-major matrices with the same number of rows:
   * `dst[r, dstCol + j] = src[r, srcCol + j]` for `j < width` (split, concat, narrow, dtype cast).
   * `src` is `[rows, srcCols]` and `dst` `[rows, dstCols]` (flattened rows, see above).
   */
  copyColumns(src: T, srcCol: number, dst: T, dstCol: number, width: number): void;
  /** `dst[i, :] = src[indices[i], :]`; `indices` is `[n]` i32, `dst` `[n, C]`, `src` `[R, C]`. */
  gatherRows(src: T, indices: T, dst: T): void;

  // ---------------------------------------------------------------- dense layer ops
  /**
   * Vocab-parallel embedding: `out[i] = table[ids[i] − vocabStart]` when
   * `vocabStart ≤ ids[i] < vocabStart + table.shape[0]`, else a row of zeros (another rank has it;
   * the model all-reduces). `ids` `[n]` i32, `table` `[vocabPart, hidden]`, `out` `[n, hidden]`.
   */
  embedding(ids: T, table: T, vocabStart: number, out: T): void;
  /** `out[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight`; `x`, `out` `[n, d]`, `weight` `[d]`. */
  rmsNorm(x: T, weight: T, eps: number, out: T): void;
  /** `out = x · Wᵀ`: `x` `[n, in]`, `w` `[out, in]` (HF layout; f32/bf16/f16), `out` `[n, out]`. */
  linear(x: T, w: T, out: T): void;
  /**
   * Per-head matmul (MLA weight absorption): for each head `h`,
   * `transposeW ? out[t,h] = x[t,h] · w[h]ᵀ : out[t,h] = x[t,h] · w[h]`.
   * `x` `[n, H, k]`; `w` `[H, m, k]` when `transposeW`, `[H, k, m]` otherwise; `out` `[n, H, m]`.
   * (`q_nope · W_UK` uses `transposeW = false` with `W_UK` `[H, 128, 512]`;
   * the `W_UV` up-projection uses `transposeW = true` with `W_UV` `[H, 128, 512]`.)
   */
  headMatmul(x: T, w: T, out: T, transposeW: boolean): void;
  /**
   * Rotary embedding in place on `x` (`[n, H, headDim]`, flattened as `[n·H, headDim]` rows of
   * token `⌊row / H⌋`): rotates columns `[offset, offset + rotDim)` of every head of token `t`
   * by position `positions[t]`. `cosSin` is `[maxPositions, rotDim]` f32: row `p` holds
   * `cos_0..cos_{d/2−1}` then `sin_0..sin_{d/2−1}`, with any YaRN frequency correction and
   * attention scaling (`mscale`) already folded in by the model — so YaRN, linear scaling and
   * plain RoPE are all just tables.
   */
  rope(x: T, positions: T, cosSin: T, o: RopeOptions): void;
  /** `out = silu(x[:, :I]) · x[:, I:]`; `x` `[n, 2I]` (gate ‖ up), `out` `[n, I]`. */
  siluMul(x: T, out: T): void;
  /** `out = a + b` element-wise (residual add); `out` may alias `a` or `b`. */
  add(a: T, b: T, out: T): void;

  // ---------------------------------------------------------------- MoE
  /**
   * Routing: softmax over `logits` (`[n, E]`) per token, top-k by `o.method`, weights per
   * `o.normTopkProb`/`o.routedScalingFactor`. Writes `ids` `[n, topK]` i32 (global expert ids, in
   * decreasing score order; ties → lower id) and `weights` `[n, topK]` f32.
   */
  moeRoute(logits: T, o: MoeRouteOptions, ids: T, weights: T): void;
  /**
   * Dispatch + expert MLPs + combine for the experts this rank holds:
   * `out[t] = Σ_k weights[t,k] · down_e(silu(gateUp_e(x[t])[:I]) · gateUp_e(x[t])[I:])` over the
   * `k` with `e = ids[t,k] − expertStart ∈ [0, E_local)`; other experts contribute 0 (the model
   * all-reduces over the TP group). `gateUp` `[E_local, 2I, hidden]` (gate rows then up rows),
   * `down` `[E_local, hidden, I]`, `x`/`out` `[n, hidden]`. Experts split by intermediate size
   * across ranks use `expertStart = 0` and the local `I`.
   */
  moeExperts(x: T, ids: T, weights: T, gateUp: T, down: T, expertStart: number, out: T): void;

  // ---------------------------------------------------------------- sampling
  /** `out[r] = argmax(x[r])` (first index on ties); `x` `[n, V]`, `out` `[n]` i32. Logits for sampling: `download`. */
  argmax(x: T, out: T): void;

  // ---------------------------------------------------------------- paged latent cache
  /**
   * `concat_and_cache_mla`: for token `t` with `slot = slotMapping[t] ≥ 0`, writes
   * `kvC[t] ‖ kPe[t]` into `cache[⌊slot / B⌋, slot mod B, :]`; slot −1 means "not stored on this
   * rank" and is skipped. `kvC` `[n, kvLoraRank]`, `kPe` `[n, ropeDim]`,
   * `cache` `[numBlocks, B, kvLoraRank + ropeDim]` (any width), `slotMapping` `[n]` i32.
   */
  writeKv(kvC: T, kPe: T, slotMapping: T, cache: T): void;
  /**
   * `cp_gather_cache` (spec §5.3), a raw copy: for request `b` and `j < cu[b+1] − cu[b]`,
   * `dst[cu[b] + j] = cache[bt[b][⌊(s_b + j) / B⌋], (s_b + j) mod B]` with `s_b = seqStarts[b]`.
   */
  gatherCache(cache: T, meta: GatherCacheMeta, dst: T): void;

  // ---------------------------------------------------------------- attention
  /**
   * MLA decode, absorbed form (MQA over the latent cache): `q` `[n, H, W]` latent queries
   * (`W = kvLoraRank + ropeDim`, `[q_nope·W_UK ‖ q_pe]`), keys are whole cache rows, values their
   * first `kvLoraRank` columns. Token `t` attends to local entries `[0, seqLens[t])` of its
   * block-table row. Writes `out` `[n, H, kvLoraRank]` and `lse` `[n, H]` f32 (−inf, out 0, when
   * `seqLens[t] = 0`). `scale` multiplies `q·k`.
   */
  mlaDecode(q: T, cache: T, meta: DecodeMeta, scale: number, out: T, lse: T): void;
  /**
   * Varlen multi-head attention (prefill over new tokens, causal; over a gathered context chunk,
   * non-causal): `q` `[nq, H, dk + dr]`, `k` `[nk, H, dk]`, `kShared` `[nk, dr]` or null (a key
   * part common to all heads, MLA's `k_pe`, appended to each head's key), `v` `[nk, H, dv]`.
   * Writes `out` `[nq, H, dv]` and `lse` `[nq, H]` f32 (−inf and 0 for a query with no keys).
   */
  attention(q: T, k: T, kShared: T | null, v: T, meta: VarlenMeta, scale: number, out: T, lse: T): void;
  /**
   * `merge_attn_states`: combines two partial results over disjoint key sets (context and new
   * tokens, or two chunks): `out = (e^{lseA}·a + e^{lseB}·b) / (e^{lseA} + e^{lseB})` per row,
   * `outLse = log(e^{lseA} + e^{lseB})` (natural log; −inf inputs contribute nothing; both −inf
   * → out 0, lse −inf). `a`, `b`, `out` `[n, H, D]`; LSEs `[n, H]` f32; `outLse` may be null;
   * `out` may alias `a`, `outLse` may alias `lseA`.
   */
  mergeAttnStates(a: T, lseA: T, b: T, lseB: T, out: T, outLse: T | null): void;

  // ---------------------------------------------------------------- DCP merge kernels
  /**
   * The ag_rs correction (spec §4.3, step 4) on this rank's partial output, in place:
   * `lses` `[W, B, H]` are all ranks' LSEs (base `base`), `out` `[B, H, D]` this rank's partial.
   * NaN/+inf LSEs → −inf; `m = max` (−inf → 0); `G = log Σ exp(lse − m) + m`;
   * `d = lses[rank] − G` (NaN/±inf → −inf); `out ← factor == 0 ? 0 : out · exp(d)`.
   * Writes `G` to `globalLse` `[B, H]` when given, always as a natural log (a base-2 backend
   * writes `G·ln 2`).
   */
  lseCorrect(out: T, lses: T, rank: number, base: 'e' | '2', globalLse: T | null): void;
  /**
   * Packs a partial output and its LSE into one buffer for the single all-to-all (spec §4.4):
   * `packed` `[B, H, D + P]`, `P = 1` lane for f32 (the LSE value), `P = 2` for 16-bit dtypes
   * (the f32 LSE's high and low 16 bits, bit for bit).
   */
  lsePack(out: T, lse: T, packed: T): void;
  /**
   * The a2a combine (spec §4.4) after the exchange: `packed` `[B, W, Hl, D + P]` holds, for each
   * of this rank's `Hl` heads, every rank's partial and LSE; writes
   * `out[b,h] = Σ_n w_n·partial_n` with `w_n = exp(lse_n − G)` (sanitised as in `lseCorrect`,
   * a zero weight ignores a NaN/garbage partial), and `G` to `outLse` `[B, Hl]` when given
   * (natural log, as in `lseCorrect`).
   */
  lseCombineA2a(packed: T, base: 'e' | '2', out: T, outLse: T | null): void;

  // ---------------------------------------------------------------- communication bridge
  /** The buffer of `t` that the rank's `Communicator` moves (the CPU backend: its typed array). */
  commBuffer(t: T): B;
  /** Adopts a buffer a collective returned as a tensor of `shape` and `dtype` (no copy). */
  fromCommBuffer(buf: B, shape: readonly number[], dtype: DType): T;
}
