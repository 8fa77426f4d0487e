export * from "./config.js";
export { SimDriver } from "./sim-driver.js";
