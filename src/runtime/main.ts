// The standalone reference runtime: `node dist/src/runtime/main.js --port 0`.
import { runtimeServeMain } from './serve.js';

await runtimeServeMain(process.argv.slice(2));
