/**
 * The web console in a real headless browser (Debian's chromium driven by puppeteer-core): a
 * `ridge run` with a Modbus RTU bus against the pymodbus slave on a socat pty pair and the control
 * port on loopback; the browser signs in through the login form, the device table shows the
 * slave's holding register 0 (100) and its float (23.5), the session cookie is HttpOnly and
 * SameSite=Strict and invisible to the page's script, an absent slave's row counts its timeouts, the
 * pipeline graph shows driver → source → filter → uplink sink with counters, and a screenshot of the console is kept as a
 * test artifact (test/artifacts/console-browser.png, gitignored). Sign-out goes back to the form.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { repoRoot, startGateway } from "../helpers/gateway.js";
import { startPtyPair, startRealSlave } from "../../peers/modbus-rtu-slave.js";
import { withPackages } from "../../peers/required-packages.js";
import { freeTcpPort, tempDir } from "../../peers/process.js";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "browser-console-token-0123456789";
const ARTIFACTS = join(repoRoot, "test/artifacts");

withPackages(test, ["chromium", "socat", "python3-pymodbus", "python3-serial-asyncio"])("a person signs in to the console and sees the Modbus slave's values", async () => {
  const t = tempDir("ridge-console-browser-");
  const pty = await startPtyPair(t.dir, "master", "slave");
  const slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
  const port = await freeTcpPort();
  const config = `gateway: { id: console-gw }
board: sim
drivers:
  - modbus: { name: rs485-1, port: ${t.dir}/master, baudRate: 9600, parity: none, timeoutMs: 300 }
devices:
  - id: plc
    driver: rs485-1
    unit: 1
    poll: { every: 200ms }
    points:
      - { name: h0, fn: holding, address: 0 }
      - { name: temp, fn: input, address: 10, type: float32, unit: "°C" }
  - id: ghost
    driver: rs485-1
    unit: 9
    poll: { every: 1s }
    points:
      - { name: x, fn: input, address: 0 }
pipeline:
  sources:
    field: { from: rs485-1 }
  operators:
    hot: { filter: "payload.h0 >= 100", input: field }
  sinks:
    cloud: { uplink: { priority: telemetry }, input: hot }
control:
  http: { listen: "127.0.0.1:${port}", token: "\${RIDGE_TOKEN}" }
`;
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let browser: Browser | undefined;
  try {
    gw = await startGateway({ dataDir: join(t.dir, "data"), config, env: { RIDGE_TOKEN: TOKEN } });
    const root = process.getuid?.() === 0;
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // only loopback is reached; no first-run, no GPU, no background fetches
      args: ["--headless=new", ...(root ? ["--no-sandbox"] : []), "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", `--user-data-dir=${join(t.dir, "chromium")}`],
      timeout: 60_000,
      protocolTimeout: 60_000,
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    page.setDefaultTimeout(30_000);
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      // a refused login answers 401, which chromium logs as a failed resource: not a script error
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
    });
    const base = `http://127.0.0.1:${port}`;

    // not signed in: the login form
    await page.goto(`${base}/`);
    await page.waitForSelector("#login-form");
    // a wrong token: refused, still the form
    await page.type("#token", "not-the-token-0123456789");
    await Promise.all([page.waitForNavigation(), page.click("#login-submit")]);
    assert.ok(await page.$("#login-error"), "a wrong token says so");
    assert.is((await page.cookies()).length, 0);

    await page.type("#token", TOKEN);
    await Promise.all([page.waitForNavigation(), page.click("#login-submit")]);
    const cookies = await page.cookies();
    const session = cookies.find((c) => c.name === "ridge_session");
    assert.ok(session, `${page.url()} ${JSON.stringify(cookies)} ${(await page.content()).replace(/\s+/g, " ").slice(400, 1400)}`);
    assert.ok(session.httpOnly);
    assert.is(session.sameSite, "Strict");
    assert.is(session.path, "/");
    assert.not.match(String(await page.evaluate("document.cookie")), /ridge_session/);

    // the device table, over Server-Sent Events, shows the slave's registers
    mkdirSync(ARTIFACTS, { recursive: true });
    try {
      // a string, not a function: tsx's transform would add helpers the page does not have
      await page.waitForFunction(
        `(() => {
          const point = (name) => document.querySelector('#devices tr[data-device="plc"] [data-point="' + name + '"]')?.textContent ?? "";
          return point("h0") === "h0=100" && point("temp") === "temp=23.5";
        })()`,
        { timeout: 30_000 },
      );
    } catch (e) {
      await page.screenshot({ path: join(ARTIFACTS, "console-browser-failed.png"), fullPage: true }).catch(() => undefined);
      const table = await page.$eval("#devices", (d) => d.textContent ?? "").catch(() => "?");
      throw new Error(`the device table never showed h0=100 and temp=23.5: ${table}; page errors: ${pageErrors.join(" | ")}; ${String(e)}`);
    }
    // the silent slave: its row counts timeouts; the pipeline graph counts what went through
    await page.waitForFunction(
      `(() => {
        const ghost = document.querySelector('#devices tr[data-device="ghost"] td:last-child');
        const hot = document.querySelector('#pipeline-graph g[data-node="hot"]');
        return !!ghost && Number(ghost.textContent) > 0 && !!hot && /in [1-9]/.test(hot.textContent ?? "");
      })()`,
      { timeout: 30_000 },
    );
    const driverErrors = await page.$eval('#components tr[data-component="driver:rs485-1"] td:nth-child(5)', (c) => c.textContent ?? "");
    assert.ok(Number(driverErrors.replace(/,/g, "")) > 0, `the driver row sums its devices' errors: ${driverErrors}`);
    assert.ok(await page.$('#pipeline-graph g[data-node="driver:rs485-1"]'));
    assert.ok(await page.$('#pipeline-graph g[data-node="cloud"]'));
    assert.ok((await page.$$("#pipeline-graph path")).length >= 3, "edges driver → field → hot → cloud");
    const text = await page.$eval('#devices tr[data-device="plc"]', (r) => r.textContent ?? "");
    assert.match(text, /rs485-1/);
    assert.match(await page.$eval("#gateway", (e) => e.textContent ?? ""), /console-gw/);
    assert.match(await page.$eval("#components", (e) => e.textContent ?? ""), /driver:rs485-1/);
    assert.match(await page.$eval("#queue", (e) => e.textContent ?? ""), /telemetry/);
    assert.equal(pageErrors, []);
    await page.screenshot({ path: join(ARTIFACTS, "console-browser.png"), fullPage: true });

    // sign out: the cookie is gone and the page is the form again
    await Promise.all([page.waitForNavigation(), page.click("#logout")]);
    await page.waitForSelector("#login-form");
    assert.not.ok((await page.cookies()).some((c) => c.name === "ridge_session" && c.value !== ""));
  } finally {
    // everything stops even when something above failed
    const pid = browser?.process()?.pid;
    await browser?.close().catch(() => undefined);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    await gw?.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test.run();
