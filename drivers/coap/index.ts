/** Plain CoAP devices (polled / observed): public surface (the CoAP message codec is codecs/). */
import type { Driver } from "../../core/index.js";
import type { CoapDriverConfig, CoapDeviceConfig } from "./config.js";
import { CoapDriver, type CoapDriverDeps } from "./coap-driver.js";

export * from "./config.js";
export { CoapDriver, type CoapDriverDeps } from "./coap-driver.js";
export { CoapClientTransport, type CoapTransport, type CoapResult } from "./coap-transport.js";
export { decodePoint, type DecoderName } from "./payload-decoder.js";

export function createCoapDriver(config: CoapDriverConfig, devices: CoapDeviceConfig[], deps?: CoapDriverDeps): Driver {
  return new CoapDriver(config, devices, deps);
}
