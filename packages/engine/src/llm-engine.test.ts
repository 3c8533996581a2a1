import { createKVCacheManager } from '@dcp/kv-cache';
import { Scheduler } from '@dcp/scheduler';
import { describe, expect, it } from 'vitest';
import { AsyncLLM } from './async-llm.js';
import { InProcessExecutor } from './executor/in-process-executor.js';
import { LLMEngine } from './llm-engine.js';
import type { CompletionDelta } from './outputs.js';
import type { EngineRequest } from './request-input.js';
import { FakeRunner } from './testing/fake-runner.js';

const VOCAB = 64;
const EOS = 63;
const next = (h: readonly number[]) => (h.reduce((a, b) => a + b * 7, 3) % 50) + 5;
const letters = {
  decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join(''),
};

function makeEngine(opts: { numBlocks?: number; eos?: number | null; runner?: FakeRunner } = {}) {
  const kv = createKVCacheManager({ numBlocks: opts.numBlocks ?? 256, blockSize: 4, dcp: 1 });
  const scheduler = new Scheduler({
    kvCacheManager: kv,
    maxNumBatchedTokens: 64,
    maxNumSeqs: 16,
    maxModelLen: 128,
    eosTokenId: opts.eos === undefined ? null : opts.eos,
  });
  const runner = opts.runner ?? new FakeRunner(VOCAB, next);
  const engine = new LLMEngine({ scheduler, executor: new InProcessExecutor(runner), tokenizer: letters });
  return { engine, kv, scheduler, runner };
}

async function runAll(engine: LLMEngine, reqs: EngineRequest[]): Promise<Map<string, CompletionDelta[]>> {
  for (const r of reqs) engine.addRequest(r);
  const out = new Map<string, CompletionDelta[]>();
  for (let guard = 0; engine.hasUnfinishedRequests() && guard < 10_000; guard++) {
    for (const d of await engine.step()) {
      const k = `${d.requestId}/${d.index}`;
      out.set(k, [...(out.get(k) ?? []), d]);
    }
  }
  return out;
}

/** Greedy continuation computed independently of the engine. */
function expectedGreedy(prompt: number[], n: number): number[] {
  const h = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = next(h);
    out.push(t);
    h.push(t);
  }
  return out;
}

const tokensOf = (ds: CompletionDelta[]) => ds.flatMap((d) => d.newTokenIds);
const textOf = (ds: CompletionDelta[]) => ds.map((d) => d.newText).join('');

describe('LLMEngine', () => {
  it('generates the greedy continuation with text, then finishes by length', async () => {
    const { engine, kv } = makeEngine();
    const prompt = [1, 2, 3, 4, 5, 6, 7];
    const res = await runAll(engine, [
      { requestId: 'a', promptTokenIds: prompt, params: { temperature: 0, maxTokens: 9 } },
    ]);
    const ds = res.get('a/0')!;
    const want = expectedGreedy(prompt, 9);
    expect(tokensOf(ds)).toEqual(want);
    expect(textOf(ds)).toBe(letters.decode(want));
    expect(ds.at(-1)!.finishReason).toBe('length');
    expect(kv.usage).toBe(0);
  });

  it('stops at EOS and at stop strings (text cut before the match)', async () => {
    const eosRunner = new FakeRunner(VOCAB, (h) => (h.length >= 6 ? EOS : next(h)));
    const { engine } = makeEngine({ eos: EOS, runner: eosRunner });
    const res = await runAll(engine, [
      { requestId: 'e', promptTokenIds: [1, 2, 3], params: { temperature: 0 } },
    ]);
    const ds = res.get('e/0')!;
    expect(ds.at(-1)!.finishReason).toBe('stop');
    expect(tokensOf(ds).at(-1)).toBe(EOS);

    const { engine: e2, kv } = makeEngine();
    const prompt = [9, 8, 7];
    const full = letters.decode(expectedGreedy(prompt, 20));
    const stop = full.slice(5, 7);
    const res2 = await runAll(e2, [
      { requestId: 's', promptTokenIds: prompt, params: { temperature: 0, maxTokens: 20, stop: [stop] } },
    ]);
    const d2 = res2.get('s/0')!;
    expect(textOf(d2)).toBe(full.slice(0, full.indexOf(stop)));
    expect(d2.at(-1)!.finishReason).toBe('stop');
    expect(d2.at(-1)!.stopReason).toBe(stop);
    expect(kv.usage).toBe(0);
  });

  it('fans out n choices with seeds seed+i, reproducibly', async () => {
    const req: EngineRequest = {
      requestId: 'n',
      promptTokenIds: [4, 4, 4],
      params: { n: 3, temperature: 1.5, seed: 11, maxTokens: 12 },
    };
    const a = await runAll(makeEngine().engine, [req]);
    const b = await runAll(makeEngine().engine, [req]);
    expect([...a.keys()].sort()).toEqual(['n/0', 'n/1', 'n/2']);
    for (const k of a.keys()) expect(tokensOf(a.get(k)!)).toEqual(tokensOf(b.get(k)!));
    const single = await runAll(makeEngine().engine, [
      { ...req, requestId: 'x', params: { ...req.params, n: 1, seed: 12 } },
    ]);
    expect(tokensOf(single.get('x/0')!)).toEqual(tokensOf(a.get('n/1')!));
  });

  it('gives the same outputs under KV pressure (preemption) as without', async () => {
    const reqs: EngineRequest[] = Array.from({ length: 12 }, (_, i) => ({
      requestId: `r${i}`,
      promptTokenIds: Array.from({ length: 5 + (i % 7) }, (_, j) => (i * 3 + j) % 40),
      params: { temperature: 0.8, seed: i, maxTokens: 20 },
    }));
    const roomy = await runAll(makeEngine().engine, reqs);
    const tight = makeEngine({ numBlocks: 40 });
    const pressed = await runAll(tight.engine, reqs);
    expect(tight.engine.getStats().numPreemptionsTotal).toBeGreaterThan(0);
    for (const r of reqs)
      expect(tokensOf(pressed.get(`${r.requestId}/0`)!)).toEqual(tokensOf(roomy.get(`${r.requestId}/0`)!));
    expect(tight.kv.usage).toBe(0);
  });

  it('returns teacher-forced logits for every prompt position, across chunks', async () => {
    const { engine, runner } = makeEngine();
    const prompt = Array.from({ length: 100 }, (_, i) => (i * 5) % 60);
    const res = await runAll(engine, [
      {
        requestId: 'l',
        promptTokenIds: prompt,
        params: { temperature: 0, maxTokens: 1 },
        returnPromptLogits: true,
      },
    ]);
    const rows = res.get('l/0')!.flatMap((d) => d.promptLogits ?? []);
    expect(rows).toHaveLength(prompt.length);
    for (const i of [0, 37, 99])
      expect(Array.from(rows[i]!)).toEqual(Array.from(runner.logits(prompt.slice(0, i + 1))));
  });

  it('fails every request with an error when the executor dies', async () => {
    const runner = new FakeRunner(VOCAB, next);
    const { engine } = makeEngine({ runner });
    const orig = runner.execute.bind(runner);
    runner.execute = async (input) => {
      if (runner.steps >= 3) throw new Error('boom');
      return orig(input);
    };
    const res = await runAll(engine, [
      { requestId: 'a', promptTokenIds: [1, 2], params: { maxTokens: 50 } },
      { requestId: 'b', promptTokenIds: [3], params: { maxTokens: 50 } },
    ]);
    for (const k of ['a/0', 'b/0']) {
      expect(res.get(k)!.at(-1)!.finishReason).toBe('error');
      expect(res.get(k)!.at(-1)!.error).toMatch(/boom/);
    }
    expect(engine.dead).toMatch(/boom/);
    expect(() => engine.addRequest({ requestId: 'c', promptTokenIds: [1] })).toThrow(/boom/);
  });

  it('refuses bad parameters naming the field', () => {
    const { engine } = makeEngine();
    expect(() =>
      engine.addRequest({ requestId: 'a', promptTokenIds: [1], params: { temperature: -1 } }),
    ).toThrow(/temperature/);
    expect(() => engine.addRequest({ requestId: 'a', promptTokenIds: [1], params: { n: 0 } })).toThrow(
      /n must/,
    );
    expect(() => engine.addRequest({ requestId: 'a', promptTokenIds: [] })).toThrow(/promptTokenIds/);
  });
});

describe('AsyncLLM', () => {
  it('streams a request and frees its blocks when the consumer leaves early', async () => {
    const { engine, kv } = makeEngine();
    const llm = new AsyncLLM(engine);
    const got: CompletionDelta[] = [];
    for await (const d of llm.generate({
      requestId: 'q',
      promptTokenIds: [1, 2, 3],
      params: { temperature: 0, maxTokens: 50 },
    })) {
      got.push(d);
      if (got.length === 3) break;
    }
    expect(tokensOf(got)).toEqual(expectedGreedy([1, 2, 3], 3));
    expect(kv.usage).toBe(0);
    const all: CompletionDelta[] = [];
    for await (const d of llm.generate({
      requestId: 'r',
      promptTokenIds: [5],
      params: { temperature: 0, maxTokens: 4 },
    }))
      all.push(d);
    expect(tokensOf(all)).toEqual(expectedGreedy([5], 4));
    await llm.shutdown();
  });
});
