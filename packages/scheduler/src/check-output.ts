import { SchedulerStateError } from './errors.js';
import type { Request, SchedulerOutput } from './types.js';

/**
 * Validates one step's sampled tokens before anything is applied, so a bad call changes nothing.
 * Returns, per scheduled item (cached then new), the request if it is still running, else
 * undefined. Throws `SchedulerStateError` for tokens that are not token ids, tokens for a request
 * the step did not schedule, or a missing sample for a request whose scheduled tokens reached its
 * end.
 */
export function checkStepOutput(
  output: SchedulerOutput,
  sampled: Readonly<Record<string, readonly number[]>>,
  lookup: (requestId: string) => Request | undefined,
): (Request | undefined)[] {
  if (sampled === null || typeof sampled !== 'object') {
    throw new SchedulerStateError('sampled must be an object mapping requestId to token ids');
  }
  const cached = output.scheduledCachedRequests;
  const fresh = output.scheduledNewRequests;
  const live: (Request | undefined)[] = new Array(cached.length + fresh.length);
  let matched = 0;
  for (let k = 0; k < live.length; k++) {
    const it = k < cached.length ? cached[k]! : fresh[k - cached.length]!;
    const id = it.requestId;
    const toks = Object.hasOwn(sampled, id) ? sampled[id] : undefined;
    if (toks !== undefined) {
      matched++;
      if (!isTokenList(toks)) {
        throw new SchedulerStateError(`sampled[${JSON.stringify(id)}] must be an array of token ids ≥ 0`);
      }
    }
    const req = lookup(id);
    if (req === undefined || req.status !== 'running') continue;
    if (it.numComputedTokens + it.numScheduledTokens >= req.allTokenIds.length && !toks?.length) {
      throw new SchedulerStateError(
        `sampled[${JSON.stringify(id)}] is missing: its scheduled tokens reached the end, so the model must sample`,
      );
    }
    live[k] = req;
  }
  if (Object.keys(sampled).length !== matched) {
    const ids = new Set([...cached, ...fresh].map((it) => it.requestId));
    const bad = Object.keys(sampled).find((k) => !ids.has(k));
    throw new SchedulerStateError(
      `sampled has tokens for ${JSON.stringify(bad)}, which step did not schedule`,
    );
  }
  return live;
}

function isTokenList(toks: unknown): boolean {
  if (!Array.isArray(toks)) return false;
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    if (!Number.isSafeInteger(t) || t < 0) return false;
  }
  return true;
}
