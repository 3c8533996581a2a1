import { deviceSelectLayer, platformDescriptor } from '@dcp/webgpu-mla';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedEngine } from '../dist/node.js';
import { greedyWithGaps, type Layout, label, startFp32 } from './helpers.js';

/**
 * The engine on worker threads with `--attention-backend webgpu-mla` (Dawn; lavapipe in CI) gives
 * cpu-mla's greedy tokens on the `tiny` preset (dummy weights) with chunked prefill (later chunks
 * attend to cached context): two concurrent prompts of 205 and 37 tokens in 64-token steps on one
 * rank and at tp2·dcp2 (a Dawn device per rank, collectives through the wrapped
 * ThreadCommunicator), and the short prompt alone at tp2·pp2·dcp2 with the a2a merge (four ranks:
 * kept short for lavapipe's speed). The tp2·dcp2 run also passes `--webgpu-devices` (two PCI bus
 * IDs) where Mesa's device-select layer is installed: each rank requests its adapter through the
 * layer, under the shared lock, in threads that share the environment (lavapipe has one device,
 * so both land on it; the two-H200 run is in tooling/bench/results/webgpu-gpus-h200.md). Tokens
 * must agree up to (not past) the first step whose cpu-mla top-2 logprob gap is below 1e-4 (the
 * engine's near-tie rule).
 */
const PROMPTS = [
  Array.from({ length: 205 }, (_, i) => 6 + ((i * 7919) % 2000)),
  Array.from({ length: 37 }, (_, i) => 3 + ((i * 104729) % 1900)),
];
const NEW = 4;

interface Run {
  tokens: number[][];
  gaps: number[][];
}

/** Skips (printing why) where Dawn has no adapter, unless DCP_REQUIRE_SYSTEM_TOOLS=1. */
async function haveAdapter(): Promise<boolean> {
  const d = platformDescriptor({ allowSoftware: true });
  try {
    const a = await d.probe();
    console.log(`webgpu engine tests on ${a.description || a.architecture || a.vendor}`);
    return true;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (process.env.DCP_REQUIRE_SYSTEM_TOOLS === '1') {
      throw new Error(`DCP_REQUIRE_SYSTEM_TOOLS=1 but WebGPU is unavailable: ${why}`);
    }
    console.warn(`[engine] skipping WebGPU engine tests: ${why}`);
    return false;
  } finally {
    await d.close();
  }
}

async function generate(
  backend: string,
  l: Layout,
  prompts = PROMPTS,
  gpus?: string[],
  backendConfig?: Record<string, unknown>,
): Promise<Run> {
  const e: CreatedEngine = await startFp32('tiny', l, (c) => {
    c.load.loadFormat = 'dummy';
    c.attentionBackend = backend;
    if (gpus) c.webgpuDevices = gpus;
    if (backendConfig) c.attentionBackendConfig = backendConfig;
    c.scheduler.maxNumBatchedTokens = 64;
    c.scheduler.maxModelLen = 256;
  });
  try {
    const runs = await Promise.all(prompts.map((p, i) => greedyWithGaps(e.llm, p, NEW, `r${i}`)));
    expect(e.rankInfo.every((r) => r.backend === backend)).toBe(true);
    return { tokens: runs.map((r) => r.tokens), gaps: runs.map((r) => r.gaps) };
  } finally {
    await e.llm.shutdown();
  }
}

/** Tokens agree up to (not past) the first reference step whose top-2 gap is below 1e-4. */
function expectSameUpToNearTie(got: Run, ref: Run, what: string): void {
  ref.tokens.forEach((want, i) => {
    const stop = ref.gaps[i]!.findIndex((g) => g < 1e-4);
    const upto = stop < 0 ? want.length : stop + 1;
    expect(got.tokens[i]!.slice(0, upto), `${what} prompt ${i}`).toEqual(want.slice(0, upto));
    expect(got.tokens[i]).toHaveLength(NEW);
  });
}

const available = await haveAdapter();

describe.skipIf(!available)('webgpu-mla in the engine (worker threads)', () => {
  let ref: Run;
  beforeAll(async () => {
    ref = await generate('cpu-mla', { tp: 1, pp: 1, dcp: 1 });
  });
  afterAll(() => {
    if (ref) console.log(`cpu-mla reference tokens: ${JSON.stringify(ref.tokens)}`);
  });

  it("gives cpu-mla's greedy tokens at tp1", async () => {
    const l = { tp: 1, pp: 1, dcp: 1 };
    expectSameUpToNearTie(await generate('webgpu-mla', l), ref, label(l));
  });

  it("gives cpu-mla's greedy tokens at tp2·dcp2 (with --webgpu-devices where the layer exists)", async () => {
    const l = { tp: 2, pp: 1, dcp: 2 };
    const layer = deviceSelectLayer();
    if (!layer.ok) console.warn(`[engine] tp2·dcp2 without --webgpu-devices: ${layer.why}`);
    const gpus = layer.ok ? ['0000:00:06.0', '0000:00:07.0'] : undefined;
    expectSameUpToNearTie(await generate('webgpu-mla', l, PROMPTS, gpus), ref, label(l));
  });

  it('passes --attention-backend-config to every rank (checked first, naming the key)', async () => {
    // Options that change the kernels' launch path and buffers: the same tokens.
    const short = { tokens: [ref.tokens[1]!], gaps: [ref.gaps[1]!] };
    const l = { tp: 2, pp: 1, dcp: 2 };
    const opts = { decodeKernel: 'compact', hostCache: false, f16Storage: 'packed' };
    expectSameUpToNearTie(await generate('webgpu-mla', l, [PROMPTS[1]!], undefined, opts), short, label(l));
    // A Dawn flag reaches each rank's Dawn instance: this one makes its adapter request fail.
    await expect(
      generate('webgpu-mla', l, [PROMPTS[1]!], undefined, { dawnFlags: ['backend=bogus'] }),
    ).rejects.toThrow(/unrecognised backend 'bogus'/);
    // Refused before any rank starts.
    await expect(
      generate('webgpu-mla', l, [PROMPTS[1]!], undefined, { decodeKernel: 'fast' }),
    ).rejects.toThrow(/--attention-backend-config: webgpu-mla config: decodeKernel must be one of/);
    await expect(generate('cpu-mla', l, [PROMPTS[1]!], undefined, { decodeKernel: 'flash' })).rejects.toThrow(
      /--attention-backend-config: cpu-mla takes no options/,
    );
  });

  it("gives cpu-mla's greedy tokens at tp2·pp2·dcp2 a2a (short prompt)", async () => {
    const l: Layout = { tp: 2, pp: 2, dcp: 2, comm: 'a2a' };
    const short = { tokens: [ref.tokens[1]!], gaps: [ref.gaps[1]!] };
    expectSameUpToNearTie(await generate('webgpu-mla', l, [PROMPTS[1]!]), short, label(l));
  });
});
