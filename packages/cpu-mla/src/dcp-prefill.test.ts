/**
 * Chunked prefill with the cached context spread over DCP ranks equals dense causal attention.
 */
import { createCaseContext, type DcpPrefillScenario, dcpPrefillScenario } from '@dcp/backend/testing';
import { describe, it } from 'vitest';
import { cpuMlaDescriptor } from './backend.js';

const cases: [string, Omit<DcpPrefillScenario, 'tol'>][] = [
  [
    'context of exactly one chunk',
    { dcp: 2, interleave: 1, blockSize: 4, chunkTokens: 8, contextLens: [8, 8], newLens: [1, 3] },
  ],
  [
    'chunk boundary inside a block (chunk 6·W, block 4)',
    { dcp: 3, interleave: 1, blockSize: 4, chunkTokens: 18, contextLens: [40, 19], newLens: [2, 2] },
  ],
  [
    'a rank holding no context tokens (context shorter than dcp)',
    { dcp: 4, interleave: 1, blockSize: 4, chunkTokens: 8, contextLens: [2, 1, 0], newLens: [2, 1, 3] },
  ],
  [
    'interleave 2 with several chunks',
    { dcp: 2, interleave: 2, blockSize: 4, chunkTokens: 12, contextLens: [31, 5, 12], newLens: [1, 4, 2] },
  ],
  [
    'interleave = block size, ranks 2 and 3 empty',
    { dcp: 4, interleave: 4, blockSize: 4, chunkTokens: 16, contextLens: [7, 33], newLens: [2, 1] },
  ],
  [
    'no DCP (dcp 1), three chunks',
    { dcp: 1, interleave: 1, blockSize: 4, chunkTokens: 5, contextLens: [13, 4], newLens: [3, 2] },
  ],
  [
    'dcp 8, one long request',
    { dcp: 8, interleave: 1, blockSize: 2, chunkTokens: 24, contextLens: [61], newLens: [5] },
  ],
];

describe('chunked prefill with DCP context equals dense causal attention', () => {
  it.each(cases)('%s', async (name, scenario) => {
    const ctx = createCaseContext({ descriptor: cpuMlaDescriptor }, name);
    try {
      await dcpPrefillScenario(ctx, { ...scenario, tol: 1e-5 });
    } finally {
      ctx.dispose();
    }
  });
});
