/**
 * GPU correctness checks of every kernel against the float64 references, on fresh seeded random
 * inputs. Outputs are poisoned with NaN before each run, so an unwritten element fails.
 */
import { CudaMlaOps } from '../ops.js';
import type { CudaRank } from '../rank.js';
import { gatherCase, kvWriteCase } from './check-cache.js';
import { dcpCase } from './check-dcp.js';
import { bigCacheCase, DECODE_CASES, decodeCase } from './check-decode.js';
import { a2aCase, lseCorrectCase } from './check-merge.js';
import type { CheckResult } from './check-util.js';

export { DECODE_CASES } from './check-decode.js';
export type { CheckResult } from './check-util.js';

/** Runs every check on `rank` (seeded from `seed`); includes a 4.3 GB cache unless `big` is false. */
export async function runGpuChecks(rank: CudaRank, seed = 1234, big = true): Promise<CheckResult[]> {
  const ops = new CudaMlaOps(rank);
  const out: CheckResult[] = [];
  let s = seed;
  for (const c of DECODE_CASES) out.push(await decodeCase(ops, c, s++));
  out.push(await kvWriteCase(ops, s++));
  out.push(await gatherCase(ops, s++));
  out.push(await lseCorrectCase(ops, s++, false));
  out.push(await lseCorrectCase(ops, s++, true));
  out.push(await a2aCase(ops, s++, false));
  out.push(await a2aCase(ops, s++, true));
  out.push(await dcpCase(ops, s++, 2));
  out.push(await dcpCase(ops, s++, 4));
  if (big) out.push(await bigCacheCase(ops, s++));
  await rank.synchronize();
  return out;
}
