import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_USAGE, runCli } from '../program.js';

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A DeepSeek-V2-Lite-shaped config.json with `layers` layers. */
function hfConfig(layers: number, extra: Record<string, unknown> = {}) {
  return {
    model_type: 'deepseek_v2',
    hidden_size: 2048,
    num_hidden_layers: layers,
    num_attention_heads: 16,
    q_lora_rank: null,
    kv_lora_rank: 512,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    v_head_dim: 128,
    intermediate_size: 10944,
    n_routed_experts: 64,
    num_experts_per_tok: 6,
    moe_intermediate_size: 1408,
    max_position_embeddings: 163840,
    vocab_size: 102400,
    ...extra,
  };
}

let dir: string;
async function modelDir(name: string, json: unknown): Promise<string> {
  const folder = join(dir, name);
  await rm(folder, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(folder));
  await writeFile(join(folder, 'config.json'), JSON.stringify(json));
  return folder;
}
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcp-check-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dcp check-config', () => {
  it('prints world size, groups and each rank’s heads and DCP rank for -tp 8 -dcp 4', async () => {
    const { code, out, err } = await run(['check-config', '-tp', '8', '-dcp', '4']);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toContain('world size: 8 = pp 1 × tp 8');
    expect(out).toContain('TP groups (1): [0,1,2,3,4,5,6,7]');
    expect(out).toContain('DCP groups (2): [0,1,2,3] [4,5,6,7]');
    expect(out).toContain('KV token factor per rank: ×4');
    expect(out).toContain('heads: 128 (no model given: --num-heads default 128)');
    const rows = out
      .split('\n')
      .filter((l) => /^\d/.test(l))
      .map((l) => l.split(/\s+/));
    expect(rows).toHaveLength(8);
    for (const [rank, pp, tp, dcpRank, group, heads, decodeHeads] of rows) {
      const r = Number(rank);
      expect([Number(pp), Number(tp), Number(dcpRank), Number(group)]).toEqual([
        0,
        r,
        r % 4,
        Math.floor(r / 4),
      ]);
      expect(heads).toBe(`[${r * 16},${r * 16 + 16})`);
      expect(decodeHeads).toBe(`[${Math.floor(r / 4) * 64},${Math.floor(r / 4) * 64 + 64})`);
    }
  });

  it('--json gives every rank’s place and heads for many layouts', async () => {
    for (const [tp, pp, dcp, heads] of [
      [8, 1, 2, 128],
      [4, 2, 4, 16],
      [6, 1, 3, 12],
      [2, 3, 1, 4],
    ] as const) {
      const { code, out } = await run([
        'check-config',
        `-tp=${tp}`,
        '-pp',
        String(pp),
        '--decode-context-parallel-size',
        String(dcp),
        '--num-heads',
        String(heads),
        '--json',
      ]);
      expect(code).toBe(0);
      const report = JSON.parse(out);
      expect(report.worldSize).toBe(tp * pp);
      expect(report.kvTokenFactor).toBe(dcp);
      expect(report.dcpGroups).toHaveLength((tp * pp) / dcp);
      const n = heads / tp;
      report.ranks.forEach((r: Record<string, unknown>, rank: number) => {
        const t = rank % tp;
        expect(r).toEqual({
          rank,
          ppRank: Math.floor(rank / tp),
          tpRank: t,
          dcpRank: t % dcp,
          dcpGroupIndex: Math.floor(rank / dcp),
          heads: [t * n, (t + 1) * n],
          decodeHeads: [Math.floor(t / dcp) * dcp * n, (Math.floor(t / dcp) + 1) * dcp * n],
        });
      });
    }
  });

  it('takes heads and layers from a model folder', async () => {
    const folder = await modelDir('lite', hfConfig(27));
    const { code, out } = await run(['check-config', folder, '-tp', '4', '-pp', '2', '-dcp', '2']);
    expect(code).toBe(0);
    expect(out).toContain('heads: 16 (from the model)');
    expect(out).toMatch(/27 layers/);
    expect(out).toMatch(/layers per PP stage: stage 0 \[0,\d+\), stage 1 \[\d+,27\)/);
    expect(out).toMatch(/^0 +0 +0 +0 +0 +\[0,4\) +\[0,8\)$/m);
    const same = await run(['check-config', '--model', folder, '-tp', '4', '-pp', '2', '-dcp', '2']);
    expect(same.out).toBe(out);
  });

  it('takes a preset of @dcp/model by name, and refuses an unknown name', async () => {
    const tiny = await run(['check-config', 'tiny', '-tp', '2', '-dcp', '2', '-pp', '3']);
    expect(tiny.code).toBe(0);
    expect(tiny.out).toContain('heads: 8 (from the model)');
    expect(tiny.out).toContain('layers per PP stage: stage 0 [0,1), stage 1 [1,2), stage 2 [2,3)');
    const unknown = await run(['check-config', 'no-such-model']);
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.err).toMatch(
      /^error: model: no-such-model is neither a model name \(brown, tiny, deepseek-v2-lite\) nor a folder/,
    );
  });

  it('applies the model rules: max_position_embeddings, empty pipeline stage, unsupported models', async () => {
    const lite = await modelDir('lite2', hfConfig(2, { max_position_embeddings: 4096 }));
    const long = await run(['check-config', lite, '--max-model-len', '8192']);
    expect(long.code).toBe(EXIT_USAGE);
    expect(long.err).toBe("error: --max-model-len 8192 exceeds the model's max_position_embeddings 4096");
    const empty = await run(['check-config', lite, '-pp', '3']);
    expect(empty.code).toBe(EXIT_USAGE);
    expect(empty.err).toMatch(
      /^error: -pp\/--pipeline-parallel-size 3 leaves a pipeline stage without layers/,
    );
    const v3 = await modelDir('v3', hfConfig(2, { model_type: 'deepseek_v3' }));
    const refused = await run(['check-config', v3]);
    expect(refused.code).toBe(EXIT_USAGE);
    expect(refused.err).toMatch(/model_type "deepseek_v3" .*is not supported yet/);
    const missing = await run(['check-config', join(dir, 'absent')]);
    expect(missing.code).toBe(EXIT_USAGE);
    expect(missing.err).toMatch(/absent does not exist/);
  });

  it('exits 2 with one line on bad flags', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['-tp', '6', '-dcp', '4'],
        /^error: -tp\/--tensor-parallel-size 6 is not divisible by -dcp\/--decode-context/,
      ],
      [['-dcp', '0'], /^error: -dcp\/--decode-context-parallel-size: must be an integer >= 1 \(got 0\)$/],
      [['--dcp-comm-backend', 'a2a'], /^error: --dcp-comm-backend a2a requires -dcp/],
      [
        ['--block-size', '16', '--cp-kv-cache-interleave-size', '32', '-tp', '2', '-dcp', '2'],
        /must divide --block-size 16/,
      ],
      [['--kv-cache-dtype', 'fp8'], /not supported yet/],
      [
        ['--num-heads', '12', '-tp', '8'],
        /^error: --num-heads 12 is not divisible by -tp\/--tensor-parallel-size 8$/,
      ],
      [['--num-heads', 'x'], /^error: --num-heads: must be an integer >= 1 \(got x\)$/],
    ];
    for (const [args, message] of cases) {
      const { code, out, err } = await run(['check-config', ...args]);
      expect(code).toBe(EXIT_USAGE);
      expect(out).toBe('');
      expect(err).toMatch(message);
      expect(err.split('\n')).toHaveLength(1);
    }
  });

  it('exits 2 on an unknown flag or command, 0 on --help', async () => {
    const unknown = await run(['check-config', '--tensor-parallel', '2']);
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.err).toContain("unknown option '--tensor-parallel'");
    expect((await run(['no-such-command'])).code).toBe(EXIT_USAGE);
    const help = await run(['check-config', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--decode-context-parallel-size <size>');
  });

  it('warns on the deprecated interleave flag and still checks it', async () => {
    const { code, err, out } = await run([
      'check-config',
      '-tp',
      '2',
      '-dcp',
      '2',
      '--dcp-kv-cache-interleave-size',
      '4',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(err).toMatch(/^warning: --dcp-kv-cache-interleave-size is deprecated/);
    expect(JSON.parse(out).config.parallel.cpKvCacheInterleaveSize).toBe(4);
  });
});
