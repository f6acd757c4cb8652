// dualpeer dashboard: polls /api/snapshot every second and redraws with DOM calls only
// (textContent, never innerHTML for data), except the topology SVG that dualpeer itself drew
// and escaped.
"use strict";

const POLL_MS = 1000;
let lastSVG = "";

function el(tag, opts, ...children) {
  const e = document.createElement(tag);
  if (opts) {
    if (opts.cls) e.className = opts.cls;
    if (opts.id) e.setAttribute("data-testid", opts.id);
    if (opts.title) e.title = opts.title;
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? "" : String(c)));
  }
  return e;
}

function badge(text, level, id) {
  return el("span", { cls: "badge " + level, id: id }, text);
}

function num(n, id) { return el("td", { cls: "num", id: id }, n); }

function fmtRate(r) { return (r || 0).toFixed(1) + "/s"; }

function fill(tbodyId, rows, emptyText, cols) {
  const tb = document.getElementById(tbodyId);
  const trs = rows.length ? rows : [el("tr", null, Object.assign(el("td", { cls: "muted" }, emptyText), { colSpan: cols }))];
  tb.replaceChildren(...trs);
}

function yesNo(b) { return b ? badge("allowed", "ok") : badge("off", "unknown"); }

function render(v) {
  document.getElementById("deployment").textContent =
    [v.deployment, v.target].filter(Boolean).join(" · ");
  document.getElementById("updated").textContent = v.time || "—";
  const err = document.getElementById("error");
  err.hidden = !v.error;
  err.textContent = v.error ? "status source: " + v.error : "";

  if (v.topology_svg && v.topology_svg !== lastSVG) {
    // Drawn and escaped by dualpeer's own SVG renderer.
    document.getElementById("topology").innerHTML = v.topology_svg;
    lastSVG = v.topology_svg;
  }

  fill("agents", (v.agents || []).map(a => el("tr", { id: a.id },
    el("td", null, a.cluster.toUpperCase()),
    el("td", null, a.name),
    el("td", null, a.role),
    el("td", null, badge(a.healthy ? "healthy" : (a.status || "unhealthy"), a.healthy ? "ok" : "bad", a.id + "-health"),
      !a.healthy && a.detail ? el("div", { cls: "detail" }, a.detail) : ""),
    el("td", { id: a.id + "-uptime" }, a.uptime || "—"),
  )), "no agents reported", 5);

  fill("peerings", (v.peerings || []).map(p => el("tr", { id: p.id },
    el("td", { title: p.from + " → " + p.to }, p.name),
    el("td", null, badge(p.state || "unknown", p.state === "Connected" ? "ok" : "bad", p.id + "-state")),
    el("td", null, yesNo(p.allow_virtual_network_access)),
    el("td", null, yesNo(p.allow_forwarded_traffic)),
    el("td", null, yesNo(p.allow_gateway_transit)),
    el("td", null, yesNo(p.use_remote_gateways)),
  )), "no peering reported", 6);

  fill("dataflows", (v.dataflows || []).map(d => el("tr", { id: d.id },
    el("td", null, d.name),
    el("td", null, d.source + " → " + d.destination),
    num(fmtRate(d.rate_in), d.id + "-rate"),
    num(fmtRate(d.rate_out), d.id + "-rate-out"),
    num(d.messages_in, d.id + "-in"),
    num(d.messages_out, d.id + "-out"),
    num(d.errors, d.id + "-errors"),
    el("td", null, badge(d.connected ? "connected" : "disconnected", d.connected ? "ok" : "bad", d.id + "-link")),
  )), "no dataflows reported", 8);

  fill("queues", (v.queues || []).map(q => el("tr", { id: q.id },
    el("td", null, (q.cluster || "").toUpperCase()),
    el("td", null, q.name),
    num(q.capacity ? q.depth + " / " + q.capacity : q.depth, q.id + "-depth"),
  )), "no queues reported", 3);

  fill("certificates", (v.certificates || []).map(c => el("tr", { id: c.id },
    el("td", null, c.name),
    el("td", null, (c.cluster || "shared").toUpperCase()),
    el("td", null, c.subject),
    el("td", { id: c.id + "-expiry" }, c.not_after.slice(0, 10)),
    el("td", null, badge(c.level === "expired" ? "expired" : c.days_left + " days",
      c.level === "ok" ? "ok" : (c.level === "warn" ? "warn" : "bad"), c.id + "-days")),
  )), "no certificates reported", 5);
}

function setConn(ok, text) {
  const c = document.getElementById("conn");
  c.className = "badge " + (ok ? "ok" : "bad");
  c.textContent = text;
}

async function poll() {
  try {
    const r = await fetch("/api/snapshot", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    setConn(true, "live");
  } catch (e) {
    setConn(false, "dashboard unreachable: " + e.message);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
