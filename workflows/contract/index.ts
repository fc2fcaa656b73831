/**
 * The contract between client, worker and workflows: message definitions, workflow ids, the
 * task queue, workflow inputs and the search attributes. Bundle-safe: definitions only.
 */
export * from './ids';
export * from './inputs';
export * from './messages';
export * from './search-attributes';
export * from './sealed';
