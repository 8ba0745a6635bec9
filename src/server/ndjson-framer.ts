/** Moved to src/protocol (the client and the server share it); this re-export goes once the server imports it from there. */
export * from '../protocol/ndjson-framer.js';
