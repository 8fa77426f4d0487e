// kill -9 of launcher and runtime together (a power cut) at update points, then `ridge boot`
// again as a reboot would: the gateway ends on a bootable, verified slot and the update either
// completes or rolls back. Bricked outcomes are counted: there must be none. (The points are
// split over three files to keep each under a minute: ota-power-cut-{download,verify,boot}.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { powerCutCase } from "../helpers/ota-launch.js";

const POINTS = "state:verifying,state:installing,mid-write".split(",");

test(`power cut at ${POINTS.join(", ")}: 0 bricked, each update completes or rolls back`, async () => {
  let bricked = 0;
  for (const point of POINTS) {
    const o = await powerCutCase(point);
    assert.ok(o.cutHappened, `${point}: the power cut happened`);
    if (o.bricked) bricked++;
    assert.ok(o.state === "committed" && o.slot === "b", `${point}: ${o.state} on slot ${o.slot}`);
    // success is reported only after commit: nothing says committed before a trial
    const ci = o.published.indexOf("committed");
    assert.ok(ci > 0 && o.published.slice(0, ci).includes("trial"), `${point}: ${o.published.join(" → ")}`);
  }
  assert.is(bricked, 0);
});

test.run();
