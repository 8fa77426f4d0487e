/** The local web console served on the control port (see web-console.ts). */
export { ConsoleFeed, tapLogStream, SAMPLE_MS, HISTORY_MS, type DeviceReading, type LogEntry, type Sample } from "./feed.js";
export { WebConsole, crossSite, PUSH_MS, type Access, type PipelineGraphNode, type WebConsoleOptions } from "./web-console.js";
export { SessionStore, SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER, LOGIN_FAILURES_PER_WINDOW, LOGIN_WINDOW_MS, parseCookies } from "./sessions.js";
export { pipelineGraph } from "./pipeline-graph.js";
