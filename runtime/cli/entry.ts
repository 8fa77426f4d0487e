// Entry point of the bundle (dist/ridge.mjs) and of bin/ridge.mjs from source.
import { main } from "./main.js";

// `ridge status | head -1`: the reader went away; that ends the command, it is not a crash
for (const s of [process.stdout, process.stderr])
  s.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

const code = await main(process.argv.slice(2));
// `ridge run` keeps the process alive itself and never resolves until shutdown.
process.exitCode = code;
