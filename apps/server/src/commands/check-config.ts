import { existsSync } from 'node:fs';
import {
  ConfigError,
  type EngineConfig,
  type ModelConfig,
  validateEngineConfig,
  worldSize,
} from '@dcp/config';
import { addEngineOptions, engineConfigFromOptions, loadHfModelConfig } from '@dcp/config/node';
import { dcpHeadRange, headRange, layerRange, makeTopology, type Topology } from '@dcp/parallel-state';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

/** Heads assumed when no model is given (DeepSeek-V2 has 128). */
export const DEFAULT_NUM_HEADS = 128;

/** What `check-config` knows about the heads and layers: from a model, or from `--num-heads`. */
export interface LayoutSource {
  /** The model's config, when a model was given. */
  model: ModelConfig | null;
  /** Attention heads to split: the model's, else `--num-heads`. */
  numHeads: number;
  /** Where `numHeads` came from, for the report. */
  headsFrom: string;
}

const groups = (list: number[][]) => list.map((g) => `[${g.join(',')}]`).join(' ');
const range = (r: { start: number; end: number }) => `[${r.start},${r.end})`;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * The report of `dcp check-config` as lines: world size, TP/PP/DCP groups, each rank's heads, its
 * DCP rank and group, the heads its DCP group covers in decode, and the per-rank KV token factor.
 * Pure: the config must already be valid (see `validateEngineConfig`).
 */
export function describeLayout(config: EngineConfig, source: LayoutSource): string[] {
  const { tp, pp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  const topology: Topology = makeTopology({ tp, pp, dcp });
  const { blockSize } = config.cache;
  const lines = [
    `model: ${source.model ? `${config.model} (deepseek_v2, ${source.model.numHiddenLayers} layers)` : 'none'}; heads: ${source.numHeads} ${source.headsFrom}`,
    `world size: ${topology.worldSize} = pp ${pp} × tp ${tp} (dcp ${dcp} reuses the TP ranks, it adds none)`,
    `TP groups (${topology.tpGroups.length}): ${groups(topology.tpGroups)}`,
    `PP groups (${topology.ppGroups.length}): ${groups(topology.ppGroups)}`,
    `DCP groups (${topology.dcpGroups.length}): ${groups(topology.dcpGroups)}`,
    `KV token factor per rank: ×${dcp} (each rank stores 1/${dcp} of every sequence's KV; interleave ${interleave}, ` +
      `block ${blockSize} tokens per rank = virtual block ${blockSize * dcp} tokens; merge ${dcpCommBackend})`,
  ];
  if (source.model) {
    const stages = Array.from(
      { length: pp },
      (_, s) => `stage ${s} ${range(layerRange(source.model!.numHiddenLayers, pp, s))}`,
    );
    lines.push(`layers per PP stage: ${stages.join(', ')}`);
  }
  const rows = [['rank', 'pp', 'tp', 'dcp rank', 'dcp group', 'heads', 'decode heads (dcp group)']];
  for (const r of topology.ranks) {
    rows.push([
      String(r.rank),
      String(r.ppRank),
      String(r.tpRank),
      String(r.dcpRank),
      String(r.dcpGroupIndex),
      range(headRange(topology, r.rank, source.numHeads)),
      range(dcpHeadRange(topology, r.rank, source.numHeads)),
    ]);
  }
  lines.push(...table(rows));
  return lines;
}

/**
 * The `ModelConfig` of `--model`/`[model]`: a folder (or `config.json`) on disk, else a preset of
 * `@dcp/model` (`tiny`, `deepseek-v2-lite`), loaded only when needed.
 */
export async function resolveModelConfig(model: string): Promise<ModelConfig> {
  // A path (or anything on disk) is a folder; a bare name goes through the engine's resolution
  // (a preset of @dcp/model, or `brown`).
  if (existsSync(model) || /[\\/]/.test(model)) return loadHfModelConfig(model);
  const { resolveModel } = await import('@dcp/engine/node');
  return loadHfModelConfig(resolveModel(model, 'auto').dir);
}

/** The `--json` report: the validated config, the groups and each rank's place and heads. */
export function layoutJson(config: EngineConfig, numHeads: number) {
  const topology = makeTopology(config.parallel);
  const { tpGroups, ppGroups, dcpGroups } = topology;
  const ranks = topology.ranks.map(({ rank, ppRank, tpRank, dcpRank, dcpGroupIndex }) => {
    const heads = headRange(topology, rank, numHeads);
    const decode = dcpHeadRange(topology, rank, numHeads);
    return {
      rank,
      ppRank,
      tpRank,
      dcpRank,
      dcpGroupIndex,
      heads: [heads.start, heads.end],
      decodeHeads: [decode.start, decode.end],
    };
  });
  const kvTokenFactor = config.parallel.dcp;
  return {
    config,
    worldSize: worldSize(config.parallel),
    numHeads,
    kvTokenFactor,
    tpGroups,
    ppGroups,
    dcpGroups,
    ranks,
  };
}

function readNumHeads(text: string | undefined, tp: number): number {
  const value = text === undefined ? DEFAULT_NUM_HEADS : Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`--num-heads: must be an integer >= 1 (got ${text})`, {
      field: 'numHeads',
      flag: '--num-heads',
    });
  }
  if (value % tp !== 0) {
    throw new ConfigError(`--num-heads ${value} is not divisible by -tp/--tensor-parallel-size ${tp}`, {
      field: 'numHeads',
      flag: '--num-heads',
    });
  }
  return value;
}

/**
 * Adds `check-config [model]` to the program: validates the engine flags (and the model's rules
 * when a model folder is given), then prints {@link describeLayout}, or the config as JSON with
 * `--json`. Bad input throws `ConfigError`, which the CLI turns into exit code 2.
 */
export function registerCheckConfig(program: Command, io: CliIo): Command {
  const command = program
    .command('check-config')
    .description('validate the engine flags and print the rank layout: groups, heads, DCP ranks')
    .option(
      '--num-heads <n>',
      `attention heads to split when no model is given (default ${DEFAULT_NUM_HEADS})`,
    )
    .option('--json', 'print the validated config and the layout as JSON');
  addEngineOptions(command).action(async (positional: string | undefined, opts: Record<string, unknown>) => {
    const config = engineConfigFromOptions(opts, {
      positionalModel: positional,
      onWarning: (w: string) => io.err(`warning: ${w}`),
    });
    const model = config.model === null ? null : await resolveModelConfig(config.model);
    if (model) validateEngineConfig(config, model);
    const numHeads = model
      ? model.numAttentionHeads
      : readNumHeads(opts.numHeads as string | undefined, config.parallel.tp);
    if (model && opts.numHeads !== undefined)
      io.err('warning: --num-heads is ignored: the model gives the heads');
    const headsFrom = model
      ? '(from the model)'
      : opts.numHeads === undefined
        ? `(no model given: --num-heads default ${DEFAULT_NUM_HEADS})`
        : '(from --num-heads)';
    if (opts.json) {
      io.out(JSON.stringify(layoutJson(config, numHeads)));
      return;
    }
    for (const line of describeLayout(config, { model, numHeads, headsFrom })) io.out(line);
  });
  return command;
}
