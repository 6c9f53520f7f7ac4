/**
 * The daemon's JSON-RPC contract in one import. Each schema is exported as a value under the same
 * name as its type (`DaemonStatus` is both), as LSP's protocol package does with its namespaces.
 */
export * from './errors.js';
export * from './handshake.js';
export * from './methods.js';
export * from './types.js';
export { type Infer, type JsonObject, type JsonValue, type Schema, validate } from './schema.js';
