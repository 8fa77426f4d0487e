/**
 * Names and types of the LwM2M core objects (0-5) and common IPSO Smart Objects, from the OMA
 * LwM2M registry object definitions, so that `/3303/0/5700` becomes the event field `temperature`.
 * Only the resources gateways use are listed; unknown resources still decode (as opaque/TLV bytes,
 * or by what the content format itself says) and get a path-shaped field name.
 */
import { parsePath, type ResourceType } from "./value.js";

export interface ResourceDef {
  name: string;
  type: ResourceType;
  multiple?: boolean;
  /** R, W, RW, E */
  ops: "R" | "W" | "RW" | "E";
}

export interface ObjectDef {
  name: string;
  multiple: boolean;
  /** event field for the object's main value (IPSO 5700 Sensor Value and similar) */
  field?: string;
  resources: Record<number, ResourceDef>;
}

const r = (name: string, type: ResourceType, ops: ResourceDef["ops"] = "R", multiple = false): ResourceDef => (multiple ? { name, type, ops, multiple } : { name, type, ops });

/** IPSO common resources (OMA LwM2M registry, reusable resources 5500-5999). */
const IPSO_SENSOR: Record<number, ResourceDef> = {
  5700: r("Sensor Value", "float"),
  5701: r("Sensor Units", "string"),
  5601: r("Min Measured Value", "float"),
  5602: r("Max Measured Value", "float"),
  5603: r("Min Range Value", "float"),
  5604: r("Max Range Value", "float"),
  5605: r("Reset Min and Max Measured Values", "none", "E"),
  5750: r("Application Type", "string", "RW"),
  5518: r("Timestamp", "time"),
  5821: r("Current Calibration", "float", "RW"),
};

const sensor = (name: string, field: string, extra: Record<number, ResourceDef> = {}): ObjectDef => ({ name, multiple: true, field, resources: { ...IPSO_SENSOR, ...extra } });

export const OBJECTS: Record<number, ObjectDef> = {
  0: {
    name: "LwM2M Security",
    multiple: true,
    resources: {
      0: r("LwM2M Server URI", "string"),
      1: r("Bootstrap-Server", "boolean"),
      2: r("Security Mode", "integer"),
      3: r("Public Key or Identity", "opaque"),
      4: r("Server Public Key", "opaque"),
      5: r("Secret Key", "opaque"),
      10: r("Short Server ID", "integer"),
      11: r("Client Hold Off Time", "integer"),
      12: r("Bootstrap-Server Account Timeout", "integer"),
    },
  },
  1: {
    name: "LwM2M Server",
    multiple: true,
    resources: {
      0: r("Short Server ID", "integer"),
      1: r("Lifetime", "integer", "RW"),
      2: r("Default Minimum Period", "integer", "RW"),
      3: r("Default Maximum Period", "integer", "RW"),
      4: r("Disable", "none", "E"),
      5: r("Disable Timeout", "integer", "RW"),
      6: r("Notification Storing When Disabled or Offline", "boolean", "RW"),
      7: r("Binding", "string", "RW"),
      8: r("Registration Update Trigger", "none", "E"),
    },
  },
  2: {
    name: "LwM2M Access Control",
    multiple: true,
    resources: { 0: r("Object ID", "integer"), 1: r("Object Instance ID", "integer"), 2: r("ACL", "integer", "RW", true), 3: r("Access Control Owner", "integer", "RW") },
  },
  3: {
    name: "Device",
    multiple: false,
    resources: {
      0: r("Manufacturer", "string"),
      1: r("Model Number", "string"),
      2: r("Serial Number", "string"),
      3: r("Firmware Version", "string"),
      4: r("Reboot", "none", "E"),
      5: r("Factory Reset", "none", "E"),
      6: r("Available Power Sources", "integer", "R", true),
      7: r("Power Source Voltage", "integer", "R", true),
      8: r("Power Source Current", "integer", "R", true),
      9: r("Battery Level", "integer"),
      10: r("Memory Free", "integer"),
      11: r("Error Code", "integer", "R", true),
      12: r("Reset Error Code", "none", "E"),
      13: r("Current Time", "time", "RW"),
      14: r("UTC Offset", "string", "RW"),
      15: r("Timezone", "string", "RW"),
      16: r("Supported Binding and Modes", "string"),
      17: r("Device Type", "string"),
      18: r("Hardware Version", "string"),
      19: r("Software Version", "string"),
      20: r("Battery Status", "integer"),
      21: r("Memory Total", "integer"),
    },
  },
  4: {
    name: "Connectivity Monitoring",
    multiple: false,
    resources: {
      0: r("Network Bearer", "integer"),
      1: r("Available Network Bearer", "integer", "R", true),
      2: r("Radio Signal Strength", "integer"),
      3: r("Link Quality", "integer"),
      4: r("IP Addresses", "string", "R", true),
      5: r("Router IP Addresses", "string", "R", true),
      6: r("Link Utilization", "integer"),
      7: r("APN", "string", "R", true),
      8: r("Cell ID", "integer"),
      9: r("SMNC", "integer"),
      10: r("SMCC", "integer"),
    },
  },
  5: {
    name: "Firmware Update",
    multiple: false,
    resources: {
      0: r("Package", "opaque", "W"),
      1: r("Package URI", "string", "RW"),
      2: r("Update", "none", "E"),
      3: r("State", "integer"),
      5: r("Update Result", "integer"),
      6: r("PkgName", "string"),
      7: r("PkgVersion", "string"),
      8: r("Firmware Update Protocol Support", "integer", "R", true),
      9: r("Firmware Update Delivery Method", "integer"),
    },
  },
  3200: { name: "Digital Input", multiple: true, field: "digitalInput", resources: { 5500: r("Digital Input State", "boolean"), 5501: r("Digital Input Counter", "integer"), 5750: r("Application Type", "string", "RW") } },
  3201: { name: "Digital Output", multiple: true, field: "digitalOutput", resources: { 5550: r("Digital Output State", "boolean", "RW"), 5750: r("Application Type", "string", "RW") } },
  3300: sensor("Generic Sensor", "value"),
  3301: sensor("Illuminance", "illuminance"),
  3303: sensor("Temperature", "temperature"),
  3304: sensor("Humidity", "humidity"),
  3315: sensor("Barometer", "barometer"),
  3316: sensor("Voltage", "voltage"),
  3317: sensor("Current", "current"),
  3323: sensor("Pressure", "pressure"),
  3325: sensor("Concentration", "concentration"),
  3328: sensor("Power", "power"),
  3330: sensor("Distance", "distance"),
  3331: { name: "Energy", multiple: true, field: "energy", resources: { 5805: r("Cumulative Active Power", "float"), 5701: r("Sensor Units", "string"), 5822: r("Reset Cumulative Energy", "none", "E") } },
  3311: { name: "Light Control", multiple: true, field: "light", resources: { 5850: r("On/Off", "boolean", "RW"), 5851: r("Dimmer", "integer", "RW"), 5852: r("On Time", "integer", "RW") } },
  3342: { name: "On/Off switch", multiple: true, field: "switch", resources: { 5500: r("Digital Input State", "boolean"), 5501: r("Digital Input Counter", "integer") } },
};

/** The resource that carries an object's main value (becomes the bare `field` name). */
const MAIN_RESOURCE: Record<number, number> = { 3200: 5500, 3201: 5550, 3311: 5850, 3331: 5805, 3342: 5500 };

export function resourceDef(objectId: number, resourceId: number): ResourceDef | undefined {
  return OBJECTS[objectId]?.resources[resourceId];
}

/** Declared type of `/obj/inst/res` (or deeper); undefined for unknown objects/resources. */
export function typeOfPath(path: string): ResourceType | undefined {
  const ids = parsePath(path);
  if (!ids || ids.length < 3) return undefined;
  return resourceDef(ids[0]!, ids[2]!)?.type;
}

function camel(name: string): string {
  const words = name.replace(/[^A-Za-z0-9]+/g, " ").trim().split(" ");
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())).join("");
}

/**
 * Event field name for a resource path:
 *   /3303/0/5700 → temperature, /3303/1/5700 → temperature_1, /3303/0/5701 → temperature_sensorUnits,
 *   /3/0/9 → batteryLevel, /3/0/7/1 → powerSourceVoltage_0_1, /9999/0/1 → r_9999_0_1.
 */
export function fieldName(path: string): string {
  const ids = parsePath(path);
  if (!ids || ids.length < 3) return "r" + path.replace(/\//g, "_");
  const [obj, inst, res, ri] = ids as [number, number, number, number | undefined];
  const def = OBJECTS[obj];
  const rd = def?.resources[res];
  if (!def || !rd) return "r_" + ids.join("_");
  let name: string;
  if (def.field && (res === (MAIN_RESOURCE[obj] ?? 5700))) name = def.field;
  else if (def.field) name = `${def.field}_${camel(rd.name)}`;
  else name = camel(rd.name);
  if (ri !== undefined) name += `_${inst}_${ri}`;
  else if (inst > 0) name += `_${inst}`;
  return name;
}
