/**
 * Socket reads hand out a fresh Buffer per chunk; their memory is outside the V8 heap and only
 * comes back at a garbage collection, which V8 schedules late (tens of MB of external memory).
 * A streaming install of hundreds of MB would then hold far more RSS than it uses. A minor GC
 * every few MB (cheap: the young generation holds little else) keeps RSS flat on small boards.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = (opts?: { type?: "minor" | "major" }) => void;
let gc: Gc | undefined | null;

function collector(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as Gc;
  } catch {
    gc = null;
  }
  return gc;
}

/** Count streamed bytes; collect young garbage every `everyBytes`. */
export function streamGarbageCollector(everyBytes = 1024 * 1024): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    collector()?.({ type: "minor" });
  };
}
