/** RPC over direct reply-to; see `rpc/client.ts` (calls) and `rpc/server.ts` (answers). */
export * from './rpc/client.js';
