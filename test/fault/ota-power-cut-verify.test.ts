// kill -9 of launcher and runtime together (a power cut) at state:verifying, state:installing, mid-write, then
// `ridge boot` again as a reboot would: the gateway ends on a bootable, verified slot and the
// update completes; bricked outcomes are counted and must be 0. (The points are split over
// ota-power-cut-{download,verify,boot} to keep each file under a minute.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { assertNoBrick } from "../helpers/ota-launch.js";

test("power cut at state:verifying, state:installing, mid-write: 0 bricked", () => assertNoBrick("state:verifying,state:installing,mid-write".split(","), assert));

test.run();
