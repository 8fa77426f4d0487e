/**
 * Ordering of artifact versions ("1.4.0", "2.0.0-rc.1"): numeric dot-separated parts compared as
 * numbers, a pre-release suffix sorts before its release (the semver rule, without build metadata).
 */
const VERSION = /^(\d+(?:\.\d+){0,3})(?:-([0-9A-Za-z.-]+))?$/;

export function isVersion(v: string): boolean {
  return VERSION.test(v);
}

/** <0 when a < b, 0 when equal, >0 when a > b; undefined when either is not a version. */
export function compareVersions(a: string, b: string): number | undefined {
  const ma = VERSION.exec(a);
  const mb = VERSION.exec(b);
  if (!ma || !mb) return undefined;
  const pa = ma[1]!.split(".").map(Number);
  const pb = mb[1]!.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return Math.sign(d);
  }
  const ra = ma[2];
  const rb = mb[2];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  const xa = ra.split(".");
  const xb = rb.split(".");
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const sa = xa[i];
    const sb = xb[i];
    if (sa === undefined) return -1;
    if (sb === undefined) return 1;
    const na = /^\d+$/.test(sa) ? Number(sa) : undefined;
    const nb = /^\d+$/.test(sb) ? Number(sb) : undefined;
    if (na !== undefined && nb !== undefined) {
      if (na !== nb) return Math.sign(na - nb);
    } else if (na !== undefined) return -1;
    else if (nb !== undefined) return 1;
    else if (sa !== sb) return sa < sb ? -1 : 1;
  }
  return 0;
}
