// Entry point of the bundle (dist/ridge.mjs) and of bin/ridge.mjs from source.
import { main } from "./main.js";

const code = await main(process.argv.slice(2));
// `ridge run` keeps the process alive itself and never resolves until shutdown.
process.exitCode = code;
