import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKVCacheManager, type PagedKVCacheManager } from './manager.js';
import { makeRequest, type TestRequest } from './test-util.js';

type Op =
  | { kind: 'add'; base: number; len: number; flip: number; salted: boolean }
  | { kind: 'step'; pick: number; chunk: number; lookahead: number }
  | { kind: 'free'; pick: number }
  | { kind: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      base: fc.integer({ min: 0, max: 3 }),
      len: fc.integer({ min: 1, max: 40 }),
      flip: fc.integer({ min: -40, max: 39 }),
      salted: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('step' as const),
      pick: fc.nat(),
      chunk: fc.integer({ min: 1, max: 24 }),
      lookahead: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

/**
 * Base sequences: two share long prefixes with the first, so hits happen often; the last repeats a
 * short pattern, so equal blocks also occur at different positions (only chaining tells them apart).
 */
const BASES = [
  ...[0, 1, 2].map((b) => Array.from({ length: 40 }, (_, i) => (i < 10 * (b + 1) ? i : 1000 * b + i))),
  Array.from({ length: 40 }, (_, i) => i % 4),
];

/** How often the interesting paths ran, summed over all runs. */
const seen = { hits: 0, freeQueueHits: 0, refused: 0, resets: 0 };

/**
 * Drives the manager like a scheduler would and checks the invariants after every operation.
 * `written` is the test's own record of what each block's KV depends on: the salt and every token
 * from position 0 to the end of the block (attention makes KV depend on the whole prefix), filled as
 * tokens get computed. Every prefix-cache hit must land on blocks recorded with exactly that prefix.
 */
function run(kv: PagedKVCacheManager, ops: Op[]): void {
  const vbs = kv.virtualBlockSize;
  const live: TestRequest[] = [];
  const written = new Map<number, { salt: string | null; prefix: (number | undefined)[] }>();
  let nextId = 0;

  const compute = (r: TestRequest, from: number, to: number) => {
    const ids = kv.getBlockIds(r.requestId);
    for (let p = from; p < to; p++) {
      const i = Math.floor(p / vbs);
      const rec = written.get(ids[i]!)!;
      if (rec.prefix.length === 0) rec.prefix = r.allTokenIds.slice(0, i * vbs);
      rec.prefix[p] = r.allTokenIds[p];
    }
  };

  for (const op of ops) {
    if (op.kind === 'add') {
      const tokens = BASES[op.base]!.slice(0, op.len);
      if (op.flip >= 0 && op.flip < tokens.length) tokens[op.flip] = 5000 + op.flip;
      live.push(makeRequest(`r${nextId++}`, tokens, op.salted ? 'salt' : null));
    } else if (op.kind === 'step' && live.length > 0) {
      const r = live[op.pick % live.length]!;
      const before = kv.getBlockIds(r.requestId);
      const freeBefore = kv.numFreeBlocks;
      let hitTokens = 0;
      let hit = kv.emptyBlocks();
      if (before.length === 0 && r.numComputedTokens === 0) {
        const computed = kv.getComputedBlocks(r);
        hit = computed.blocks;
        hitTokens = computed.numComputedTokens;
        expect(hitTokens % vbs).toBe(0);
        expect(hitTokens).toBeLessThan(r.allTokenIds.length);
        computed.blocks.blockIds.forEach((id, i) => {
          const rec = written.get(id);
          expect(rec?.salt).toBe(r.cacheSalt ?? null);
          expect(rec?.prefix).toEqual(r.allTokenIds.slice(0, (i + 1) * vbs));
          seen.hits++;
          if (kv.blockPool.blocks[id]!.refCount === 0) seen.freeQueueHits++;
        });
      }
      const start = r.numComputedTokens + hitTokens;
      if (start >= r.allTokenIds.length) r.allTokenIds.push(7000 + (r.allTokenIds.length % 50)); // decode
      const n = Math.min(op.chunk, r.allTokenIds.length - start);
      const res = kv.allocateSlots(r, n, {
        numNewComputedTokens: hitTokens,
        newComputedBlocks: hit,
        numLookaheadTokens: op.lookahead,
      });
      if (res === null) {
        seen.refused++;
        expect(kv.getBlockIds(r.requestId)).toEqual(before);
        expect(kv.numFreeBlocks).toBe(freeBefore);
      } else {
        for (const id of res.blockIds) written.set(id, { salt: r.cacheSalt ?? null, prefix: [] });
        expect(kv.getBlockIds(r.requestId)).toEqual([...before, ...hit.blockIds, ...res.blockIds]);
        compute(r, start, start + n);
        r.numComputedTokens = start + n;
      }
    } else if (op.kind === 'free' && live.length > 0) {
      const [r] = live.splice(op.pick % live.length, 1);
      kv.free(r!);
    } else if (op.kind === 'reset') {
      const inUse = live.some((r) => kv.getNumBlocks(r.requestId) > 0);
      expect(kv.resetPrefixCache()).toBe(!inUse);
      if (!inUse) seen.resets++;
    }
    checkInvariants(kv, live);
  }
}

/** Throws (with the broken invariant named) unless the pool agrees with the live requests. */
function checkInvariants(kv: PagedKVCacheManager, live: TestRequest[]): void {
  const fail = (what: string) => {
    throw new Error(`invariant broken: ${what}`);
  };
  const pool = kv.blockPool;
  const refs = new Map<number, number>();
  for (const r of live) {
    for (const id of kv.getBlockIds(r.requestId)) refs.set(id, (refs.get(id) ?? 0) + 1);
    if (kv.getNumBlocks(r.requestId) * kv.virtualBlockSize < r.numComputedTokens)
      fail(`${r.requestId} lacks slots`);
  }
  const free = pool.freeBlockIds();
  const freeSet = new Set(free);
  if (freeSet.size !== free.length) fail('a block is twice in the free queue');
  if (refs.has(0) || freeSet.has(0) || pool.blocks[0]!.refCount !== 0) fail('the null block was handed out');
  for (const block of pool.blocks.slice(1)) {
    const id = block.blockId;
    if (block.refCount !== (refs.get(id) ?? 0))
      fail(`block ${id} refCount ${block.refCount} != live references`);
    if (freeSet.has(id) !== (block.refCount === 0))
      fail(`block ${id} is both free and referenced, or neither`);
    if (block.blockHash !== null && pool.getCachedBlock(block.blockHash) !== block)
      fail(`block ${id} hash unmapped`);
  }
  if (free.length + refs.size !== kv.numBlocks - 1) fail('free + used != total');
  if (kv.numFreeBlocks !== free.length) fail('numFreeBlocks != free queue length');
  if (Math.abs(kv.usage - refs.size / (kv.numBlocks - 1)) > 1e-12) fail(`usage ${kv.usage}`);
}

describe('PagedKVCacheManager: random allocate / hit / free / reset sequences', () => {
  it('keeps refcounts, the free queue, the null block and usage consistent, and hits only true prefixes', () => {
    fc.assert(
      fc.property(
        fc.record({
          numBlocks: fc.integer({ min: 2, max: 40 }),
          blockSize: fc.integer({ min: 1, max: 3 }),
          dcp: fc.constantFrom(1, 2, 4),
          enablePrefixCaching: fc.constantFrom(true, true, true, false),
        }),
        fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }),
        (options, ops) => run(createKVCacheManager(options), ops),
      ),
      { numRuns: 200, seed: 20261128 },
    );
    // The runs must have exercised hits (some on free-queue blocks), refusals and resets.
    expect(seen.hits).toBeGreaterThan(100);
    expect(seen.freeQueueHits).toBeGreaterThan(20);
    expect(seen.refused).toBeGreaterThan(20);
    expect(seen.resets).toBeGreaterThan(20);
  }, 30_000);
});
