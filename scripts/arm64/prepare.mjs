#!/usr/bin/env node
// The old name of scripts/prepare-target.mjs (same options; --arch defaults to arm64), kept for
// scripts and habits that call it.
await import("../prepare-target.mjs");
