import { z } from "zod";
import { duration, listenAddress, splitHostPort } from "../../core/index.js";

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export const controlConfig = z
  .object({
    /** Unix socket path, relative to the data directory unless absolute. Mode 0600. */
    socket: z.string().default("ridge.sock"),
    /** `ridge status` says degraded (not healthy) once the cloud link has been down this long (cloud.mqtt only). */
    cloudDownDegradedAfter: duration.default(600_000),
    http: z
      .object({
        listen: listenAddress,
        token: z.string().min(16, "a bearer token of at least 16 characters"),
        /** Listening on a non-loopback address needs this set explicitly. */
        allowRemote: z.boolean().default(false),
      })
      .strict()
      .superRefine((h, ctx) => {
        if (!h.allowRemote && !LOOPBACK.test(splitHostPort(h.listen).host))
          ctx.addIssue({ code: "custom", path: ["listen"], message: `${h.listen} is not a loopback address; set control.http.allowRemote: true to listen there`, params: { code: "E_CONFIG_NOT_LOOPBACK" } });
      })
      .optional(),
  })
  .strict();
export type ControlConfig = z.infer<typeof controlConfig>;
