// The Ridgeline console page: renders the snapshot that GET /events pushes (Server-Sent Events).
// Plain DOM, text only (never innerHTML with data), charts and the pipeline graph as inline SVG.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const c of children) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function rows(table, list) {
    const body = $(table).tBodies[0];
    body.replaceChildren(...list);
  }
  function kv(id, pairs) {
    const dl = $(id);
    const items = [];
    for (const [k, v] of pairs) items.push(el("dt", {}, k), el("dd", {}, v === undefined || v === null || v === "" ? "–" : v));
    dl.replaceChildren(...items);
  }
  const num = (n) => (typeof n === "number" ? n.toLocaleString("en") : "–");
  function bytes(n) {
    if (typeof n !== "number") return "–";
    if (n < 1024) return `${n} B`;
    if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1048576).toFixed(1)} MiB`;
  }
  function age(ms) {
    if (typeof ms !== "number" || ms <= 0) return "–";
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }
  const ago = (at, now) => (typeof at === "number" ? `${age(Math.max(0, now - at)) === "–" ? "0 s" : age(now - at)} ago` : "–");
  const time = (at) => (typeof at === "number" ? new Date(at).toLocaleTimeString("en-GB") : "–");
  function short(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    return String(v);
  }

  /** Counters whose names say they count failures, summed over an object (one level of nesting). */
  function errorCount(o, depth = 0) {
    let n = 0;
    if (!o || typeof o !== "object" || depth > 3) return 0;
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === "number" && /error|fail|timeout|exception|bad|broken/i.test(k) && !/consecutive|since|at$/i.test(k)) n += v;
      else if (v && typeof v === "object" && !Array.isArray(v) && !["health", "cadence"].includes(k)) n += errorCount(v, depth + 1);
    }
    return n;
  }

  /** A driver's own per-device record (Modbus `slaves`, others `devices`), by device id. */
  function deviceRecord(components, device) {
    for (const c of Object.values(components || {})) {
      if (c.kind !== "driver") continue;
      for (const key of ["slaves", "devices"]) {
        const m = c[key];
        if (m && typeof m === "object" && !Array.isArray(m) && m[device] && typeof m[device] === "object") return m[device];
      }
    }
    return undefined;
  }

  function renderHeader(s) {
    const st = s.status || {};
    $("gateway").textContent = st.gateway || "Ridgeline";
    document.title = `Ridgeline ${st.gateway || ""}`;
    const slot = s.slot ? `slot ${s.slot}` : "no A/B slot (from source or a plain bundle)";
    $("identity").textContent = `Ridgeline ${st.version || "?"} · ${slot} · board ${st.board || "?"} (${st.arch || "?"}) · up ${age((st.uptimeSec || 0) * 1000)} · RSS ${st.memory ? st.memory.rss : "?"} MiB`;
    const h = $("health");
    h.textContent = st.healthy ? "healthy" : "degraded";
    h.className = `badge ${st.healthy ? "ok" : "bad"}`;
    const reasons = [];
    for (const [name, c] of Object.entries(st.components || {})) {
      if (c.state !== "up" || !c.health || !c.health.up) reasons.push(el("li", { class: "down" }, `${name}: ${c.state}${c.health && c.health.detail ? ` – ${c.health.detail}` : ""}`));
      else if (c.health.detail && c.kind === "driver" && /not answering|fail|error|down/i.test(c.health.detail)) reasons.push(el("li", { class: "warn" }, `${name}: ${c.health.detail}`));
    }
    for (const d of st.degraded || []) reasons.push(el("li", { class: "down" }, typeof d === "string" ? d : d.reason || d.message || JSON.stringify(d)));
    if (!reasons.length) reasons.push(el("li", { class: "up" }, "every component is up and healthy"));
    $("reasons").replaceChildren(...reasons);
  }

  function renderDevices(s) {
    const comps = (s.status && s.status.components) || {};
    const list = s.devices.map((d) => {
      const values = Object.entries(d.values).map(([k, v]) => el("span", { class: "value", "data-point": k }, el("b", {}, k), `=${short(v)}`));
      const rec = deviceRecord(comps, d.device);
      const errs = rec ? errorCount(rec) : 0;
      const errCell = el("td", { class: `num${errs ? " error" : ""}` }, String(errs));
      if (rec && rec.lastError) errCell.title = rec.lastError;
      return el("tr", { "data-device": d.device }, el("td", {}, d.device), el("td", {}, d.driver), el("td", { class: "values" }, ...values), el("td", { title: new Date(d.ts).toISOString() }, time(d.ts)), el("td", { title: new Date(d.receivedAt).toISOString() }, ago(d.receivedAt, s.at)), el("td", { class: "num" }, num(d.events)), errCell);
    });
    // devices the drivers know that have sent nothing yet
    const seen = new Set(s.devices.map((d) => d.device));
    for (const [name, c] of Object.entries(comps)) {
      if (c.kind !== "driver") continue;
      for (const [dev, rec] of Object.entries(c.slaves || c.devices || {})) {
        if (seen.has(dev) || !rec || typeof rec !== "object") continue;
        const errs = errorCount(rec);
        list.push(el("tr", { "data-device": dev, class: "silent" }, el("td", {}, dev), el("td", {}, name.replace(/^driver:/, "")), el("td", { class: "muted" }, rec.lastError ? `no values (${rec.lastError})` : "no values yet"), el("td", {}, "–"), el("td", {}, "–"), el("td", { class: "num" }, "0"), el("td", { class: `num${errs ? " error" : ""}` }, String(errs))));
      }
    }
    if (!list.length) list.push(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no device has sent anything yet")));
    rows("devices", list);
  }

  function renderComponents(s) {
    const comps = (s.status && s.status.components) || {};
    rows(
      "components",
      Object.entries(comps).map(([name, c]) => {
        const up = c.health && c.health.up;
        const errs = errorCount(c);
        return el("tr", { "data-component": name }, el("td", {}, name), el("td", {}, c.state), el("td", { class: up ? "up" : "down" }, up ? "up" : "down"), el("td", {}, (c.health && c.health.detail) || ""), el("td", { class: `num${errs ? " error" : ""}` }, num(errs)), el("td", { class: "num" }, num(c.restarts)));
      }),
    );
  }

  function renderQueue(s) {
    const comps = (s.status && s.status.components) || {};
    const up = comps.uplink || {};
    const q = up.queue || {};
    const by = q.byPriority || {};
    rows(
      "queue",
      Object.entries(by).map(([p, c]) => el("tr", { "data-priority": p }, el("td", {}, p), el("td", { class: "num" }, num(c.events)), el("td", { class: "num" }, bytes(c.bytes)), el("td", { class: "num" }, age(c.oldestAgeMs)))),
    );
    const ev = q.evicted || {};
    $("queue-summary").textContent = `${num(q.events)} events, ${bytes(q.bytes)} of ${bytes(q.effectiveMaxBytes ?? q.maxBytes)}; evicted ${Object.entries(ev).map(([k, v]) => `${k} ${v}`).join(", ") || "0"}; dropped ${num(q.dropped)}; when full: ${q.policy || "–"}`;
    const cloud = comps.cloud;
    if (!cloud) kv("link", [["state", "no cloud configured (events wait in the queue)"]]);
    else {
      const d = cloud.linkDetail || {};
      const pairs = [["state", cloud.link], ["health", cloud.health && cloud.health.detail], ["last drain", cloud.lastDrain]];
      for (const [k, v] of Object.entries(d)) if (v !== null && typeof v !== "object") pairs.push([k, String(v)]);
      else if (v && typeof v === "object" && /error/i.test(k)) pairs.push([k, JSON.stringify(v)]);
      kv("link", pairs);
    }
  }

  function spark(id, values) {
    const g = $(id);
    const pts = values.length === 1 ? [values[0], values[0]] : values;
    const max = Math.max(1, ...pts);
    const step = pts.length > 1 ? 300 / (pts.length - 1) : 300;
    const line = pts.map((v, i) => `${(i * step).toFixed(1)},${(58 - (v / max) * 54).toFixed(1)}`).join(" ");
    g.replaceChildren(svg("polyline", { points: line }), svg("title", {}, `max ${max}`));
  }

  function renderCharts(s) {
    const h = s.history || [];
    if (!h.length) return;
    spark("chart-queue", h.map((x) => x.queued));
    spark("chart-ingest", h.map((x) => x.ingestPerSec));
    const last = h[h.length - 1];
    $("chart-queue-last").textContent = `now ${num(last.queued)} · max ${num(Math.max(...h.map((x) => x.queued)))} · ${h.length} samples`;
    $("chart-ingest-last").textContent = `now ${last.ingestPerSec} · max ${Math.max(...h.map((x) => x.ingestPerSec))}`;
  }

  function renderPipeline(s) {
    const p = s.pipeline || {};
    const stats = p.nodes || {};
    const queued = p.queued || {};
    $("pipeline-summary").textContent = `${num(p.ingested)} ingested · ${num(p.delivered)} delivered · ${num(p.unmatched)} matched no source · ${num(p.overflow)} overflow · ${num(p.sinkErrors)} sink errors · latency p50 ${p.latencyMs ? p.latencyMs.p50 : "–"} ms, p99 ${p.latencyMs ? p.latencyMs.p99 : "–"} ms`;
    const nodes = s.graph || [];
    const g = $("pipeline-graph");
    if (!nodes.length) {
      g.replaceChildren();
      g.setAttribute("hidden", "");
      $("pipeline-summary").textContent += " · no pipeline nodes configured: drivers' events are counted, nothing is routed";
    } else {
      g.removeAttribute("hidden");
      // columns by depth: a node sits one column right of its deepest input
      const byName = new Map(nodes.map((n) => [n.name, n]));
      const depth = new Map();
      const depthOf = (n, seen = new Set()) => {
        if (depth.has(n.name)) return depth.get(n.name);
        if (seen.has(n.name)) return 0;
        seen.add(n.name);
        const ins = n.inputs.map((i) => byName.get(i.replace(/\.late$/, ""))).filter(Boolean);
        const d = ins.length ? 1 + Math.max(...ins.map((i) => depthOf(i, seen))) : 0;
        depth.set(n.name, d);
        return d;
      };
      nodes.forEach((n) => depthOf(n));
      const cols = [];
      for (const n of nodes) (cols[depth.get(n.name)] ||= []).push(n);
      const W = 150, H = 44, GX = 50, GY = 14;
      const pos = new Map();
      cols.forEach((col, ci) => col.forEach((n, ri) => pos.set(n.name, { x: 4 + ci * (W + GX), y: 4 + ri * (H + GY) })));
      const width = 8 + cols.length * (W + GX) - GX;
      const height = 8 + Math.max(...cols.map((c) => c.length)) * (H + GY) - GY;
      const parts = [];
      for (const n of nodes) {
        const to = pos.get(n.name);
        for (const i of n.inputs) {
          const from = pos.get(i.replace(/\.late$/, ""));
          if (!from) continue;
          const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
          parts.push(svg("path", { d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}` }));
        }
      }
      for (const n of nodes) {
        const { x, y } = pos.get(n.name);
        const c = stats[n.name];
        const label = n.role === "driver" ? n.name.replace(/^driver:/, "driver ") : `${n.name}${n.kind ? ` (${n.kind})` : ""}`;
        const counts = c ? `in ${num(c.in)} · out ${num(c.out)}${c.dropped ? ` · drop ${num(c.dropped)}` : ""}` : n.role;
        parts.push(svg("g", { "data-node": n.name }, svg("rect", { x, y, width: W, height: H, rx: 5, class: n.role }), svg("text", { x: x + 7, y: y + 17 }, label.length > 22 ? `${label.slice(0, 21)}…` : label), svg("text", { x: x + 7, y: y + 34, class: "count" }, counts)));
      }
      g.setAttribute("viewBox", `0 0 ${width} ${height}`);
      g.setAttribute("height", String(height));
      g.replaceChildren(...parts);
    }
    const names = Object.keys(stats);
    rows(
      "operators",
      names.length
        ? names.map((n) => { const c = stats[n]; return el("tr", { "data-node": n }, el("td", {}, n), el("td", { class: "num" }, num(c.in)), el("td", { class: "num" }, num(c.out)), el("td", { class: "num" }, num(c.dropped)), el("td", { class: "num" }, num(c.late)), el("td", { class: "num" }, c.avgUsPerEvent), el("td", { class: "num" }, num(queued[n] ?? 0))); })
        : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no operator has run yet"))],
    );
  }

  function renderOta(s) {
    const o = s.ota;
    if (!o) {
      kv("ota", [["state", "OTA not configured"], ["slot", s.slot || "–"]]);
    } else {
      const st = o.state || {};
      const pairs = [["state", st.s], ["active slot", o.active], ["running", o.runningVersion], ["boot attempts left", o.attemptsLeft]];
      if (st.target) pairs.push(["target", `${st.target.name || ""}@${st.target.version || ""}`]);
      if (o.progress) pairs.push(["progress", typeof o.progress === "object" ? Object.entries(o.progress).map(([k, v]) => `${k} ${v}`).join(", ") : String(o.progress)]);
      if (o.lastError) pairs.push(["last error", typeof o.lastError === "object" ? `${o.lastError.code || ""} ${o.lastError.message || ""}` : String(o.lastError)]);
      kv("ota", pairs);
    }
    const a = s.status && s.status.components && s.status.components.attestation;
    if (!a) kv("attest", [["state", "attestation not configured"]]);
    else kv("attest", [["state", a.state], ["backend", a.backend], ["algorithm", a.alg], ["measured events", a.events], ["quotes answered", a.quotes], ["health", a.health && (a.health.detail || (a.health.up ? "up" : "down"))]]);
  }

  function renderLogs(s) {
    const logs = s.logs || [];
    rows(
      "logs",
      logs.length
        ? logs.map((l) => el("tr", { class: l.level }, el("td", { title: new Date(l.at).toISOString() }, time(l.at)), el("td", { class: l.level }, l.level), el("td", {}, l.component || ""), el("td", {}, l.code || ""), el("td", {}, l.detail ? `${l.msg}: ${l.detail}` : l.msg)))
        : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no warnings or errors since the gateway started"))],
    );
  }

  function render(s) {
    for (const f of [renderHeader, renderDevices, renderComponents, renderQueue, renderCharts, renderPipeline, renderOta, renderLogs]) {
      try {
        f(s);
      } catch (e) {
        console.error(f.name, e);
      }
    }
  }

  function connect() {
    const es = new EventSource("/events");
    es.addEventListener("snapshot", (m) => {
      $("live").textContent = `live · ${time(Date.now())}`;
      render(JSON.parse(m.data));
    });
    es.addEventListener("error", () => {
      $("live").textContent = "reconnecting…";
      // a session that ended (logged out elsewhere, gateway restarted) goes back to the login page
      fetch("/console.json", { credentials: "same-origin" }).then((r) => { if (r.status === 401) location.href = "/"; }, () => undefined);
    });
  }

  function csrf() {
    const m = /(?:^|;\s*)ridge_csrf=([^;]*)/.exec(document.cookie);
    return m ? m[1] : "";
  }

  $("logout").addEventListener("click", () => {
    fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "x-ridge-csrf": csrf() }, redirect: "manual" }).finally(() => (location.href = "/"));
  });
  connect();
})();
