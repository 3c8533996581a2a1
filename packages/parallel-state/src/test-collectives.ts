/** Random collective cases and their float64 reference results (test-only helper). */
import {
  type Buf,
  num,
  randomBuf,
  refAbsSum,
  refAllGather,
  refAllToAll,
  refReduce,
  refReduceScatter,
  rng,
  type TestDType,
  tolerance,
  toNumbers,
  type Values,
} from './test-util.js';

export type Op = 'allGather' | 'reduceScatter' | 'allReduce' | 'allToAll' | 'broadcast';
export interface Case {
  op: Op;
  dtype: TestDType;
  shape: number[];
  dim: number;
  reduce: 'sum' | 'max';
  root: number;
  inputs: Buf[];
}

/** Every collective × dtype × dim (0, 1, last) on fresh random data for a group of `s` members. */
export function makeCases(
  s: number,
  seed: number,
  dtypes: readonly TestDType[] = ['f32', 'bf16', 'i32'],
): Case[] {
  const next = rng(seed);
  const shape = [2, 3, 5];
  const n = shape.reduce((a, b) => a * b, 1);
  const cases: Case[] = [];
  const add = (op: Op, dtype: TestDType, dim: number, reduce: 'sum' | 'max' = 'sum', sh = shape) =>
    cases.push({
      op,
      dtype,
      shape: sh,
      dim,
      reduce,
      root: s - 1,
      inputs: Array.from({ length: s }, () => randomBuf(dtype, n, next)),
    });
  for (const dtype of dtypes) {
    for (const dim of [0, 1, -1]) {
      add('allGather', dtype, dim);
      add('reduceScatter', dtype, dim, 'sum', [s, 2 * s, s]);
      add('allToAll', dtype, dim, 'sum', [s, 2 * s, s]);
    }
    add('reduceScatter', dtype, 1, 'max', [s, 2 * s, s]);
    add('allReduce', dtype, 0, 'sum');
    add('allReduce', dtype, 0, 'max');
    add('broadcast', dtype, 0);
  }
  // Fix lengths for the cases whose shape grew.
  for (const c of cases) {
    const len = c.shape.reduce((a, b) => a * b, 1);
    if (c.inputs[0]!.length !== len) c.inputs = c.inputs.map(() => randomBuf(c.dtype, len, next));
  }
  return cases;
}

function expected(c: Case, inputs: Values[], rank: number): number[] {
  const s = inputs.length;
  const dim = c.dim < 0 ? c.shape.length + c.dim : c.dim;
  switch (c.op) {
    case 'allGather':
      return refAllGather(inputs, c.shape, dim);
    case 'reduceScatter':
      return refReduceScatter(inputs, c.shape, dim, c.reduce, rank);
    case 'allReduce':
      return refReduce(inputs, c.reduce);
    case 'allToAll':
      return refAllToAll(inputs, c.shape, dim, rank);
    case 'broadcast':
      return Array.from(inputs[s - 1]!, (_, k) => num(inputs[s - 1]!, k));
  }
}

/** Compares one member's result with the float64 reference; returns a description of the first miss. */
export function checkResult(c: Case, rank: number, got: Buf): string {
  // The references read a Uint16Array as bf16: decode f16 data to float64 first.
  const f16 = c.dtype === 'f16';
  const inputs: Values[] = f16 ? c.inputs.map((b) => toNumbers(b, 'f16')) : c.inputs;
  const values: Values = f16 ? toNumbers(got, 'f16') : got;
  const want = expected(c, inputs, rank);
  if (got.length !== want.length)
    return `${c.op} ${c.dtype} dim ${c.dim}: length ${got.length} vs ${want.length}`;
  const reducing = c.op === 'reduceScatter' || c.op === 'allReduce';
  // Rounding bound of a sum: a few ulps of the largest Σ|x| (max is exact).
  const tol = reducing && c.reduce === 'sum' ? tolerance(c.dtype, Math.max(...refAbsSum(inputs))) : 0;
  for (let k = 0; k < want.length; k++) {
    const g = num(values, k);
    if (!(Math.abs(g - want[k]!) <= tol)) {
      return `${c.op} ${c.dtype} dim ${c.dim} rank ${rank}: element ${k} is ${g}, want ${want[k]}`;
    }
  }
  return '';
}
