/** Entry of `@dcp/flashmla-cuda/testing` (see `testing/index.ts`). */
export * from './testing/index.js';
