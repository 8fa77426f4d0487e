/**
 * The shared codec layer below drivers/ and runtime/: SenML (RFC 8428, JSON and CBOR), the CBOR
 * subset beneath it (RFC 8949), the CoAP message codec (RFC 7252) and Block options (RFC 7959).
 * Pure: no I/O, no clock; hostile input ends in a result with a stable code.
 */
export {
  SENML_VERSION,
  SENML_NAME,
  SENML_ANY_NAME,
  SENML_RELATIVE_TIME_LIMIT,
  base64urlEncode,
  base64urlDecode,
  decodeSenmlJson,
  decodeSenmlCbor,
  encodeSenmlJson,
  encodeSenmlCbor,
  resolveSenml,
  type SenmlRecord,
  type ResolvedSenmlRecord,
  type UnclockedSenmlRecord,
  type SenmlExtraValue,
  type SenmlErrorCode,
  type SenmlDecodeOptions,
  type ResolveOptions,
} from "./senml.js";
export { decodeCbor, encodeCbor, type CborValue, type CborMap, type CborTagged, type CborErrorCode } from "./cbor.js";
export * from "./coap-message.js";
export * from "./coap-block-option.js";
