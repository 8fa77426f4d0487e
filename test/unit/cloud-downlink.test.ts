import { test } from "uvu";
import * as assert from "uvu/assert";
import { createDownlinkRegistry } from "../../runtime/cloud/downlink.js";

test("the longest whole-level prefix wins; unknown suffixes are reported", async () => {
  const r = createDownlinkRegistry();
  const got: string[] = [];
  r.on("twin", (s) => void got.push(`twin:${s}`));
  r.on("twin/snapshot", (s) => void got.push(`snap:${s}`));
  r.on("ota/", (s) => void got.push(`ota:${s}`));
  assert.is(await r.dispatch("twin/desired/pump-3", Buffer.from("{}")), true);
  assert.is(await r.dispatch("twin/snapshot", Buffer.from("{}")), true);
  assert.is(await r.dispatch("twins/x", Buffer.from("")), false);
  assert.is(await r.dispatch("ota/targets", Buffer.from("")), true);
  assert.equal(got, ["twin:twin/desired/pump-3", "snap:twin/snapshot", "ota:ota/targets"]);
  assert.equal(r.prefixes(), ["ota", "twin", "twin/snapshot"]);
});

test.run();
