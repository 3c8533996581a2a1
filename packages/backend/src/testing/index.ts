/**
 * `@dcp/backend/testing`: the conformance suite every backend runs against itself.
 *
 * Plain functions, so any runner can drive it: `conformanceCases(options)` lists cases for a
 * test framework (vitest: `for (const c of cases) (c.skip ? it.skip : it)(c.name, c.run)`), and
 * `runConformance(options)` runs them all and returns a report (`formatConformanceReport`).
 */
import type { BackendDescriptor } from '../descriptor.js';
import type { Tensor } from '../tensor.js';
import { cacheCases, decodeCases, mergeKernelCases, prefillCases } from './cases-attention.js';
import { dcpDecodeCases, dcpPrefillCases } from './cases-dcp.js';
import { denseCases, memoryCases, moeCases } from './cases-dense.js';
import {
  bindCases,
  type CaseDef,
  type ConformanceCase,
  type ConformanceOptions,
  type ConformanceReport,
  runCases,
} from './suite.js';

function allDefs(d: BackendDescriptor<Tensor, unknown>, sizes: readonly number[]): CaseDef[] {
  const caps = d.capabilities;
  const defs = [
    ...memoryCases(caps),
    ...denseCases(caps),
    ...moeCases(caps),
    ...cacheCases(caps),
    ...decodeCases(caps),
    ...prefillCases(caps),
    ...mergeKernelCases(caps),
  ];
  if (caps.returnsDecodeLse) defs.push(...dcpDecodeCases(caps, sizes));
  defs.push(...dcpPrefillCases(sizes));
  return defs;
}

/** The suite's cases bound to `options` (filtered cases carry `skip` = the filter's reason). */
export function conformanceCases<T extends Tensor, B>(options: ConformanceOptions<T, B>): ConformanceCase[] {
  const d = options.descriptor as unknown as BackendDescriptor<Tensor, unknown>;
  return bindCases(allDefs(d, options.dcpSizes ?? [1, 2, 3, 4, 8]), options);
}

/** Runs the whole suite and returns its report (failing cases are reported, not thrown). */
export async function runConformance<T extends Tensor, B>(
  options: ConformanceOptions<T, B>,
): Promise<ConformanceReport> {
  const d = options.descriptor as unknown as BackendDescriptor<Tensor, unknown>;
  return runCases(allDefs(d, options.dcpSizes ?? [1, 2, 3, 4, 8]), options);
}

export {
  type DcpDecodeScenario,
  type DcpPrefillScenario,
  dcpDecodeScenario,
  dcpPrefillScenario,
} from './cases-dcp.js';
export { assertClose, assertEqual, ConformanceMismatch, decode, encode, TOLERANCE } from './host.js';
export { refAttend, refCombine, refLinear, refLocalLen, refOwner, refRope } from './reference.js';
export { caseSeed, createRng, type Rng } from './rng.js';
export type {
  CaseContext,
  CaseResult,
  ConformanceCase,
  ConformanceFilter,
  ConformanceOptions,
  ConformanceReport,
} from './suite.js';
export { createCaseContext, formatConformanceReport } from './suite.js';
