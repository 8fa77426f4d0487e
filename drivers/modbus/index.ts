/** Modbus RTU on a serial line, Modbus TCP, and RTU tunnelled over TCP: public API of drivers/modbus. */
import type { Driver } from "../../core/index.js";
import type { ModbusDriverConfig, ModbusDeviceConfig } from "./config.js";
import { ModbusDriver, type ModbusDriverDeps } from "./modbus-driver.js";

export * from "./config.js";
export { crc16, crcMatches } from "./crc16.js";
export * from "./pdu.js";
export { RtuFramer, encodeRtu, decodeRtu, silenceMs, lineTimeMs, MAX_ADU, type RtuFrame, type FramerStats } from "./rtu-framer.js";
export * from "./register-map.js";
export { planReads, blockRequest, extractValues, type ReadBlock } from "./read-plan.js";
export { MasterSession, type ByteLink, type ModbusMaster, type SlaveCounters, type SessionOptions, type RequestOptions, type Answer } from "./master-session.js";
export { MbapFramer, encodeMbap, decodeMbap, MBAP_HEADER, MAX_TCP_ADU, type MbapFrame, type MbapPush, type MbapStats } from "./mbap.js";
export { TcpMasterSession, type TcpSessionOptions, type TcpSessionStats } from "./tcp-session.js";
export { openTcpSocket, type TcpOpener, type TcpSettings } from "./tcp-transport.js";
export { step as transactionStep, TRANSACTION_START, type TransactionState, type TransactionInput, type TransactionEffect, type TransactionResult, type TransactionEnv } from "./transaction.js";
export { PollScheduler, type PollGroup, type GroupStatus } from "./poll-scheduler.js";
export { ReconnectingPort, openSerialPort, type LinkEvents, type PortHandle, type PortOpener, type SerialSettings } from "./serial-transport.js";
export { ModbusDriver, encodeWrite, type ModbusDriverDeps } from "./modbus-driver.js";

export function createModbusDriver(config: ModbusDriverConfig, devices: ModbusDeviceConfig[], deps?: ModbusDriverDeps): Driver {
  return new ModbusDriver(config, devices, deps);
}
