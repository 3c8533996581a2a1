import { TokenLayoutError } from './errors.js';

/**
 * The DCP token layout (dcp-spec §0 steps 2–5). Global position p belongs to DCP rank
 * `floor(p / interleave) mod dcp`; each rank keeps its tokens in increasing position order, so
 * its local index j maps back to global `(j div I)*I*W + r*I + (j mod I)`.
 */
export interface DcpShard {
  /** DCP group size W (1 = no DCP). */
  dcp: number;
  /** `cp_kv_cache_interleave_size` I: consecutive tokens stored on one rank before moving on. */
  interleave: number;
}

/** A DCP shard seen from one rank. */
export interface DcpRankShard extends DcpShard {
  /** This rank's index in its DCP group, in `[0, dcp)`. */
  dcpRank: number;
}

/** Options of `slotMapping`. */
export interface SlotMappingOptions extends DcpRankShard {
  /** Tokens per physical block on one rank, B. A block id covers `B * dcp` positions (virtual block). */
  blockSize: number;
}

function intAtLeast(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TokenLayoutError(field, `must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function checkShard(s: DcpShard): void {
  intAtLeast('dcp', s.dcp, 1);
  intAtLeast('interleave', s.interleave, 1);
}

function checkRankShard(s: DcpRankShard): void {
  checkShard(s);
  if (!Number.isInteger(s.dcpRank) || s.dcpRank < 0 || s.dcpRank >= s.dcp) {
    throw new TokenLayoutError('dcpRank', `must be an integer in [0, ${s.dcp}), got ${String(s.dcpRank)}`);
  }
}

/** The DCP rank that stores the KV of global `position`. */
export function ownerOf(position: number, shard: DcpShard): number {
  checkShard(shard);
  intAtLeast('position', position, 0);
  return Math.floor(position / shard.interleave) % shard.dcp;
}

/** Local index of global `position` on `dcpRank`, or −1 when another rank owns it. */
export function globalToLocal(position: number, shard: DcpRankShard): number {
  checkRankShard(shard);
  intAtLeast('position', position, 0);
  const { dcp, interleave: i, dcpRank } = shard;
  if (Math.floor(position / i) % dcp !== dcpRank) return -1;
  return Math.floor(position / (dcp * i)) * i + (position % i);
}

/** Global position of local index `j` on `dcpRank` (the inverse of `globalToLocal`). */
export function localToGlobal(j: number, shard: DcpRankShard): number {
  checkRankShard(shard);
  intAtLeast('j', j, 0);
  const { dcp, interleave: i, dcpRank } = shard;
  return Math.floor(j / i) * i * dcp + dcpRank * i + (j % i);
}

function localLen(len: number, dcp: number, i: number, r: number): number {
  const base = Math.floor(len / (i * dcp)) * i;
  const rem = len - base * dcp;
  return base + Math.min(Math.max(rem - r * i, 0), i);
}

/**
 * How many of the first `seqLen` tokens rank `dcpRank` stores (dcp-spec §0 step 5):
 * `base = floor(L/(I*W))*I`, `rem = L - base*W`, `local = base + clamp(rem - r*I, 0, I)`.
 * Sums to L over the ranks; its local KV is exactly local indices `[0, local)`.
 */
export function localSeqLen(seqLen: number, shard: DcpRankShard): number {
  checkRankShard(shard);
  intAtLeast('seqLen', seqLen, 0);
  return localLen(seqLen, shard.dcp, shard.interleave, shard.dcpRank);
}

/** `localSeqLen` of every entry of `seqLens` (global lengths or per-token bounds) for one rank. */
export function localSeqLens(seqLens: ArrayLike<number>, shard: DcpRankShard): Int32Array {
  checkRankShard(shard);
  const out = new Int32Array(seqLens.length);
  for (let k = 0; k < seqLens.length; k++) {
    out[k] = localLen(intAtLeast(`seqLens[${k}]`, seqLens[k], 0), shard.dcp, shard.interleave, shard.dcpRank);
  }
  return out;
}

/** Local lengths of every rank: row-major `[seqLens.length, dcp]` (row k = request k). */
export function localSeqLensAllRanks(seqLens: ArrayLike<number>, shard: DcpShard): Int32Array {
  checkShard(shard);
  const w = shard.dcp;
  const out = new Int32Array(seqLens.length * w);
  for (let k = 0; k < seqLens.length; k++) {
    const len = intAtLeast(`seqLens[${k}]`, seqLens[k], 0);
    for (let r = 0; r < w; r++) out[k * w + r] = localLen(len, w, shard.interleave, r);
  }
  return out;
}

/**
 * Per-token global attention bounds of a request whose last `numQueryTokens` tokens are decoded
 * in one step (multi-token / MTP decode): query token q sees `seqLen - numQueryTokens + 1 + q`
 * tokens. Localise these with `localSeqLens` (expand first, then localise: localising `seqLen`
 * and subtracting offsets is wrong).
 */
export function expandQueryBounds(seqLen: number, numQueryTokens: number): Int32Array {
  intAtLeast('numQueryTokens', numQueryTokens, 1);
  intAtLeast('seqLen', seqLen, numQueryTokens);
  const out = new Int32Array(numQueryTokens);
  for (let q = 0; q < numQueryTokens; q++) out[q] = seqLen - numQueryTokens + 1 + q;
  return out;
}

/** Local per-token bounds on one rank: `localSeqLens(expandQueryBounds(seqLen, numQueryTokens), shard)`. */
export function localQueryBounds(seqLen: number, numQueryTokens: number, shard: DcpRankShard): Int32Array {
  return localSeqLens(expandQueryBounds(seqLen, numQueryTokens), shard);
}

/**
 * Cache slot of each token on this rank (dcp-spec §0 step 4), or −1 for a token another DCP rank
 * stores (the KV write skips it). With `vb = p div (B*W)` and `o = p mod (B*W)`, a token is
 * local when `(o div I) mod W == r` and its slot is `blockTable[vb]*B + (o div (W*I))*I + o mod I`.
 * `interleave` must divide `blockSize`.
 */
export function slotMapping(
  positions: ArrayLike<number>,
  blockTable: ArrayLike<number>,
  options: SlotMappingOptions,
): Int32Array {
  checkRankShard(options);
  const b = intAtLeast('blockSize', options.blockSize, 1);
  const { dcp: w, interleave: i, dcpRank: r } = options;
  if (b % i !== 0) {
    throw new TokenLayoutError('interleave', `${i} must divide blockSize ${b} (and so be <= it)`);
  }
  const vbs = b * w;
  const out = new Int32Array(positions.length);
  for (let k = 0; k < positions.length; k++) {
    const p = intAtLeast(`positions[${k}]`, positions[k], 0);
    const o = p % vbs;
    if (Math.floor(o / i) % w !== r) {
      out[k] = -1;
      continue;
    }
    const vb = Math.floor(p / vbs);
    if (vb >= blockTable.length) {
      throw new TokenLayoutError(
        'blockTable',
        `position ${p} (positions[${k}]) needs virtual block ${vb} but the table has ${blockTable.length} (each covers ${vbs} tokens)`,
      );
    }
    const block = intAtLeast(`blockTable[${vb}]`, blockTable[vb], 0);
    const slot = block * b + Math.floor(o / (w * i)) * i + (o % i);
    if (slot > 0x7fffffff) throw new TokenLayoutError(`blockTable[${vb}]`, `slot ${slot} overflows int32`);
    out[k] = slot;
  }
  return out;
}
