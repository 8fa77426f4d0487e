/**
 * Keys that come from outside (a device's SenML names, link attributes, a cloud document, a CBOR
 * map) are set as own properties. A plain `o[k] = v` with `k` = "__proto__" replaces the object's
 * prototype instead (or, for a non-object value, does nothing): the value is lost, or the object
 * inherits from attacker data.
 */
export function setOwn<T>(o: Record<string, T>, k: string, v: T): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
