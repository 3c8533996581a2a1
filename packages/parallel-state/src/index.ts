export type * from './communicator.js';
