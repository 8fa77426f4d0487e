export * from "./errors.js";
export * from "./clock.js";
export * from "./backoff.js";
export * from "./event.js";
export * from "./driver.js";
export * from "./own.js";
