import { resolve } from "node:path";
import { RidgeError, errorCode, errorMessage } from "../../../core/index.js";
import { loadConfig } from "../../config/load.js";
import { Gateway } from "../../gateway.js";
import { isCorruptionError } from "../../store/db.js";
import { startWatchdog, systemdNotifier } from "../../sd-notify.js";
import { socketPathFor } from "../../control/client.js";
import { VERSION } from "../../version.js";
import { EXIT, parseCommand } from "../args.js";
import { clearLastExit, writeLastExit } from "../last-exit.js";

const spec = {
  usage: "ridge run [--board NAME] [--config FILE] [--data DIR]",
  summary: "Run the gateway until SIGTERM/SIGINT. SIGHUP reloads the pipeline.",
  details: [
    "  --board NAME    board definition (boards/NAME.yaml); default: the config's `board`, else sim",
    "  --config FILE   gateway config (YAML); without it the board's embedded defaults are used",
    "  --data DIR      data directory (database, control socket, models, slots); default $RIDGE_DATA, else the config's `data`",
  ].join("\n"),
  options: { board: { type: "string" }, config: { type: "string", short: "c" }, data: { type: "string", short: "d" } },
} as const;

export async function run(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  // $RIDGE_DATA stands for --data (the device's `ridge` exports it), as for every other command.
  const data = a.values.data ?? (process.env.RIDGE_DATA || undefined);
  // The unit does not restart a config error (exit 2): leave the reason for `ridge status`.
  const keepReason = (e: unknown): never => {
    if (data && e instanceof RidgeError && e.category === "config")
      writeLastExit(resolve(data), { exit: EXIT.badConfig, code: e.code, message: e.message, ...(process.env.RIDGE_SLOT ? { slot: process.env.RIDGE_SLOT } : {}) });
    throw e;
  };
  const loaded = (() => {
    try {
      return loadConfig({ file: a.values.config, board: a.values.board, data });
    } catch (e) {
      return keepReason(e);
    }
  })();
  // This process owns its restarts from its first line of work: a restart asked while the gateway
  // is still starting (an update resumed to `pending` after a power cut) is kept and acted on as
  // soon as the shutdown path exists, never dropped with "nothing owns this process's restarts".
  let restartAsked: string | undefined;
  let onRestart = (reason: string) => {
    restartAsked ??= reason;
  };
  const onRestartRequest = (reason: string) => onRestart(reason);
  let gw = await Gateway.start({ loaded, onRestartRequest }).catch(keepReason);
  const log = gw.parts.log;

  // A corrupt database surfacing as an uncaught SQLite error (a store other than the queue, which
  // reports it itself): recovered like the queue's report instead of exiting into a crash loop.
  let recoverFromUncaught: ((e: unknown) => boolean) | undefined;
  process.on("uncaughtException", (e) => {
    if (recoverFromUncaught?.(e)) return;
    log.fatal({ code: errorCode(e), err: errorMessage(e), stack: e.stack }, "uncaught exception; exiting so the service manager restarts us");
    process.exit(70);
  });
  process.on("unhandledRejection", (e) => {
    if (recoverFromUncaught?.(e)) return;
    log.fatal({ code: errorCode(e), err: errorMessage(e) }, "unhandled rejection; exiting so the service manager restarts us");
    process.exit(70);
  });

  // A SIGTERM/SIGINT from here on (systemd right after READY=1, a test right after the ready line)
  // is kept and acted on once the shutdown path below exists, never the default "die at once".
  let earlySignal: string | undefined;
  const onEarlySignal = (signal: NodeJS.Signals) => void (earlySignal ??= signal);
  process.on("SIGTERM", onEarlySignal);
  process.on("SIGINT", onEarlySignal);
  const notifier = systemdNotifier();
  const watchdog = notifier ? startWatchdog(notifier, gw.parts.clock, process.env, () => gw.supervisor.healthy()) : undefined;
  await notifier?.notify({ READY: 1, STATUS: "ready" });
  clearLastExit(loaded.dataDir);

  const sock = socketPathFor(loaded.dataDir, loaded.config.control.socket);
  const http = gw.control?.tcpPort !== undefined ? `, http://${loaded.config.control.http!.listen.replace(/:\d+$/, `:${gw.control.tcpPort}`)}/status (bearer token)` : "";
  const ms = Math.round(performance.now() - t0);
  console.log(
    `ridgeline ${VERSION} ready in ${ms} ms: gateway ${loaded.config.gateway.id} on board ${loaded.board.name}; status: curl --unix-socket ${sock} http://ridge/status${http}; metrics: http://ridge/metrics on the same socket`,
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    let restart = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      watchdog?.stop();
      void notifier?.notify({ STOPPING: 1 });
      void gw.stop().then(
        ({ timedOut }) => {
          log.info({ timedOut }, "stopped");
          log.flush();
          // The launcher (`ridge boot`) takes EXIT_RESTART as "start again, maybe from the other slot".
          resolve(restart ? EXIT.restart : timedOut.length ? 1 : 0);
        },
        (e: unknown) => {
          log.error({ code: errorCode(e), err: errorMessage(e) }, "shutdown failed");
          resolve(1);
        },
      );
    };
    // A database found corrupt while in use: the same process stops every component, moves the
    // file aside, salvages it and starts again (no exit, so no crash loop and no lost socket).
    let recovering = false;
    let recoveries: number[] = [];
    const own = (g: Gateway) => {
      onRestart = () => {
        restart = true;
        shutdown("restart");
      };
      g.onRestartRequest = onRestartRequest;
      g.onStoreCorrupt = (f) => {
        if (recovering || stopping) return;
        // A disk that keeps corrupting what is written to it: after 3 recoveries in an hour, stay
        // up with the uplink unhealthy (and the link stopped) rather than recover in a loop.
        const now = gw.parts.clock.monotonic();
        recoveries = recoveries.filter((at) => now - at < 3_600_000);
        if (recoveries.length >= 3) {
          log.error({ code: f.code, recoveries: recoveries.length }, "database corrupt again after 3 recoveries within an hour: not recovering again; check the storage");
          return;
        }
        recoveries.push(now);
        recovering = true;
        log.error({ code: f.code, op: f.op }, "database corrupt while running: restarting the gateway in this process through store recovery");
        void gw
          .stop()
          .then(() => Gateway.start({ loaded, recoverStore: { code: f.code, message: f.message }, onRestartRequest }))
          .then(
            (next) => {
              gw = next;
              own(next);
              if (stopping) void next.stop();
              recovering = false;
              log.info({}, "gateway started again on the recovered database");
            },
            (e: unknown) => {
              log.fatal({ code: errorCode(e), err: errorMessage(e) }, "the gateway could not start again after store recovery");
              stopping = true;
              resolve(1);
            },
          );
      };
    };
    own(gw);
    if (restartAsked !== undefined) {
      log.info({ reason: restartAsked }, "restart asked during start-up; restarting now");
      onRestart(restartAsked);
    }
    recoverFromUncaught = (e) => {
      if (!isCorruptionError(e)) return false;
      gw.onStoreCorrupt?.({ kind: "corrupt", code: errorCode(e), message: errorMessage(e), op: "uncaught", at: gw.parts.clock.now() });
      return true;
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.off("SIGTERM", onEarlySignal);
    process.off("SIGINT", onEarlySignal);
    if (earlySignal !== undefined) shutdown(earlySignal);
    process.on("SIGHUP", () => {
      const p = gw.pipeline;
      if (p)
        void p.reload().then(
          (r) =>
            r.ok
              ? log.info({ ms: r.ms, kept: r.kept, rebuilt: r.rebuilt }, "pipeline reloaded (SIGHUP)")
              : log.warn({ errors: (r.errors ?? []).length, code: r.errors?.[0]?.code, err: r.errors?.[0]?.message, at: r.errors?.[0]?.path }, "pipeline reload rejected (SIGHUP); the running pipeline is unchanged"),
          (e: unknown) => log.error({ code: errorCode(e), err: errorMessage(e) }, "reload failed"),
        );
      else log.warn({}, "SIGHUP: no pipeline to reload");
    });
  }).then((code) => {
    // Exit explicitly: a stuck socket or timer must not keep a stopped gateway alive.
    setTimeout(() => process.exit(code), 50).unref();
    return code;
  });
}
