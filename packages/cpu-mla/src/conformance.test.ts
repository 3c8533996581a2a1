import { conformanceCases } from '@dcp/backend/testing';
import { describe, it } from 'vitest';
import { cpuMlaDescriptor } from './backend.js';

// The reference backend runs the whole suite with no filters.
describe('cpu-mla conformance', () => {
  for (const c of conformanceCases({ descriptor: cpuMlaDescriptor })) {
    if (c.skip !== undefined) it.skip(`${c.name} (${c.skip})`, c.run);
    else it(c.name, c.run);
  }
});
