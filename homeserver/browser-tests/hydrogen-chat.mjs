// End-to-end chat test with the Hydrogen web client in a real (headless) chromium.
//
//   node hydrogen-chat.mjs CONFIG.json
//
// Hydrogen logs in through its login form, opens the room and sends `message`; the peer, a plain
// client-server API client, waits for that message with /sync, answers with `reply`, and the
// test waits until the reply is shown in Hydrogen's timeline. With `peer.external`, the peer is
// another program (e.g. a matrix-sdk client in an encrypted room): it must see `message` and
// answer with `reply` by itself, and this script only waits for the reply in Hydrogen. Exit 0 on success, 1 on failure
// (after saving a screenshot, the browser console and the request log in screenshot_dir),
// 2 on a bad command line or config. See README.md.
import { createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

function usage(msg) {
    console.error(`hydrogen-chat: ${msg}\nusage: node hydrogen-chat.mjs CONFIG.json`);
    process.exit(2);
}

function loadConfig(path) {
    if (!path) usage("missing CONFIG.json");
    let cfg;
    try {
        cfg = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
        usage(`cannot read ${path}: ${e.message}`);
    }
    for (const k of ["homeserver", "user", "password", "room_id", "message", "reply", "screenshot_dir"]) {
        if (typeof cfg[k] !== "string" || !cfg[k]) usage(`config: "${k}" must be a non-empty string`);
    }
    for (const k of cfg.peer?.external === true ? [] : ["base_url", "access_token", "user_id"]) {
        if (typeof cfg.peer?.[k] !== "string" || !cfg.peer[k]) usage(`config: "peer.${k}" must be a non-empty string`);
    }
    cfg.step_timeout_ms ??= 60_000;
    cfg.chromium ??= "/usr/bin/chromium";
    return cfg;
}

const cfg = loadConfig(process.argv[2]);
if (!existsSync(join(dist, "index.html"))) {
    usage(`${dist} is missing: run setup.sh first`);
}

const started = Date.now();
function log(msg) {
    console.log(`[hydrogen-chat +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// Static server for the bundled app. The service worker only works from a secure context, and
// 127.0.0.1 counts as one.
const contentTypes = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
    ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml",
    ".woff": "font/woff", ".woff2": "font/woff2", ".png": "image/png",
};

function serveApp(req, res) {
    const urlPath = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = normalize(join(dist, urlPath === "/" ? "index.html" : urlPath));
    if (!file.startsWith(dist + sep) || !existsSync(file)) {
        res.writeHead(404).end("not found");
        return;
    }
    res.writeHead(200, { "Content-Type": contentTypes[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" });
    res.end(readFileSync(file));
}

// ---------------------------------------------------------------------------------------------
// A transparent logging proxy in front of the homeserver: Hydrogen is pointed at it, so every
// client-server call it makes ends up in the request log (what the homeserver must implement,
// and what failed). Access tokens are not logged. CORS headers come from the homeserver itself.
const requestLog = [];
const upstream = new URL(cfg.homeserver);

function redact(url) {
    return url.replace(/access_token=[^&]*/g, "access_token=<redacted>");
}

function proxy(req, res) {
    const t0 = Date.now();
    const chunks = [];
    req.on("data", c => chunks.push(c));
    req.on("end", () => {
        const body = Buffer.concat(chunks);
        let fields = "";
        if (body.length && (req.headers["content-type"] ?? "").includes("json")) {
            try { fields = ` {${Object.keys(JSON.parse(body)).join(",")}}`; } catch { /* not JSON after all */ }
        }
        const headers = { ...req.headers, host: upstream.host };
        const send = upstream.protocol === "https:" ? httpsRequest : httpRequest;
        const up = send({
            hostname: upstream.hostname, port: upstream.port, method: req.method,
            path: req.url, headers,
        }, upRes => {
            requestLog.push(`${req.method} ${redact(req.url)}${fields} -> ${upRes.statusCode} (${Date.now() - t0} ms)`);
            res.writeHead(upRes.statusCode, upRes.headers);
            upRes.pipe(res);
        });
        up.on("error", e => {
            requestLog.push(`${req.method} ${redact(req.url)}${fields} -> proxy error ${e.message}`);
            res.writeHead(502).end();
        });
        up.end(body);
    });
}

function listen(handler) {
    return new Promise((resolve, reject) => {
        const server = createServer(handler);
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
    });
}

// ---------------------------------------------------------------------------------------------
// The peer: raw client-server API with fetch.
const peerBase = (cfg.peer.base_url ?? "").replace(/\/+$/, "");

async function peerCall(method, path, body, timeoutMs = 30_000) {
    const res = await fetch(peerBase + path, {
        method,
        headers: { Authorization: `Bearer ${cfg.peer.access_token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`peer ${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
}

// The peer's sync position, taken before Hydrogen sends, so that only new events count (a message
// left in the room by an earlier run with the same text must not pass the test).
async function peerSyncToken() {
    const sync = await peerCall("GET", "/_matrix/client/v3/sync?timeout=0");
    if (!sync.rooms?.join?.[cfg.room_id]) {
        throw new Error(`peer ${cfg.peer.user_id} is not joined to ${cfg.room_id}`);
    }
    return sync.next_batch;
}

// Long-polls /sync from `since` until a m.room.message with `body` from `senderPrefix` arrives.
async function peerWaitForMessage(since, body, senderPrefix, deadline) {
    while (Date.now() < deadline) {
        const wait = Math.max(0, Math.min(10_000, deadline - Date.now()));
        const q = new URLSearchParams({ since, timeout: String(wait) });
        const sync = await peerCall("GET", `/_matrix/client/v3/sync?${q}`, undefined, wait + 15_000);
        const events = sync.rooms?.join?.[cfg.room_id]?.timeline?.events ?? [];
        const hit = events.find(e => e.type === "m.room.message" && e.content?.body === body);
        if (hit) {
            if (!hit.sender?.startsWith(senderPrefix)) {
                throw new Error(`peer saw the message, but from ${hit.sender}, not ${senderPrefix}…`);
            }
            return hit;
        }
        since = sync.next_batch;
    }
    throw new Error(`peer did not receive "${body}" in ${cfg.room_id}`);
}

// ---------------------------------------------------------------------------------------------
let currentStep = "start";
async function step(name, fn) {
    currentStep = name;
    log(`${name} ...`);
    const result = await fn();
    log(`${name}: ok`);
    return result;
}

const consoleLog = [];
let appServer, proxyServer, context, page, userDataDir;

async function saveEvidence() {
    mkdirSync(cfg.screenshot_dir, { recursive: true });
    const saved = [];
    if (page) {
        const shot = join(cfg.screenshot_dir, "hydrogen-failure.png");
        try {
            await page.screenshot({ path: shot, fullPage: true, timeout: 10_000 });
            saved.push(shot);
        } catch (e) {
            console.error(`could not take a screenshot: ${e.message}`);
        }
    }
    const consoleFile = join(cfg.screenshot_dir, "hydrogen-console.log");
    writeFileSync(consoleFile, consoleLog.join("\n") + "\n");
    const requestsFile = join(cfg.screenshot_dir, "hydrogen-requests.log");
    writeFileSync(requestsFile, requestLog.join("\n") + "\n");
    saved.push(consoleFile, requestsFile);
    return saved;
}

// A message body in Hydrogen's timeline. The body element also holds the time stamp, so match
// a substring; the bodies carry random tokens, so that cannot hit another message.
function timelineMessage(text) {
    return page.locator(".Timeline .Timeline_messageBody", { hasText: text });
}

// The timeline tile of one event (by id) that shows `text`.
function timelineEvent(eventId, text) {
    return page.locator(`.Timeline .Timeline_message[data-event-id=${JSON.stringify(eventId)}]`, { hasText: text });
}

// Waits for `wanted`; fails early with Hydrogen's own words when the pre-session screen shows
// an error (or `alsoBad` appears) instead.
async function waitOrExplain(wanted, what, alsoBad = null) {
    let bad = page.locator(".PreSessionScreen .error");
    if (alsoBad) bad = bad.or(alsoBad);
    await wanted.or(bad).first().waitFor();
    if (!await wanted.first().isVisible()) {
        const why = (await page.locator(".PreSessionScreen").innerText()).replace(/\s+/g, " ");
        throw new Error(`${what}: ${why}`);
    }
}

async function run() {
    const timeout = cfg.step_timeout_ms;
    appServer = await listen(serveApp);
    proxyServer = await listen(proxy);
    const appUrl = `http://127.0.0.1:${appServer.address().port}/`;
    const hsUrl = `http://127.0.0.1:${proxyServer.address().port}`;
    log(`app at ${appUrl}, homeserver ${cfg.homeserver} via logging proxy ${hsUrl}`);

    const external = cfg.peer.external === true;
    const peerSince = external ? null : await step("peer syncs", peerSyncToken);

    await step("launch chromium", async () => {
        userDataDir = mkdtempSync(join(tmpdir(), "hydrogen-chat-"));
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: cfg.chromium,
            headless: true,
            args: [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
            ],
            viewport: { width: 1280, height: 800 },
            timeout,
        });
        context.setDefaultTimeout(timeout);
        page = context.pages()[0] ?? await context.newPage();
        page.on("console", m => consoleLog.push(`[${m.type()}] ${m.text()}`));
        page.on("pageerror", e => consoleLog.push(`[pageerror] ${e.message}\n${e.stack ?? ""}`));
        // Calls that bypass the proxy (a .well-known base_url sends Hydrogen straight to the
        // homeserver) are logged from the browser's side.
        page.on("response", r => {
            const url = r.url();
            if (!url.startsWith(appUrl) && !url.startsWith(hsUrl)) {
                requestLog.push(`[direct] ${r.request().method()} ${redact(url)} -> ${r.status()}`);
            }
        });
        page.on("requestfailed", r => consoleLog.push(`[requestfailed] ${r.method()} ${redact(r.url())}: ${r.failure()?.errorText}`));
    });

    await step("open Hydrogen", async () => {
        await page.goto(appUrl);
        await page.locator("#homeserver").waitFor();
    });

    await step("log in", async () => {
        // Typing fires Hydrogen's input handler; it queries the homeserver's login flows
        // (after a short debounce, or at once on change), then shows the password form.
        await page.locator("#homeserver").fill(hsUrl);
        await page.locator("#homeserver").press("Tab");
        await waitOrExplain(page.locator("#username"), "no password login form");
        await page.locator("#username").fill(cfg.user);
        await page.locator("#password").fill(cfg.password);
        await page.getByRole("button", { name: "Log In" }).click();
        // Logged in and the session loaded once the session view (with the room list) is up;
        // a failed session load shows its error with "Export logs" / "Log out" buttons.
        await waitOrExplain(page.locator(".SessionView"), "login or session load failed",
            page.locator(".SessionLoadStatusView button"));
    });

    await step("open the room", async () => {
        // Room list entries link to #/session/<id>/open-room/<encoded room id>.
        const link = page.locator(`.RoomList a[href$="/open-room/${encodeURIComponent(cfg.room_id)}"]`);
        await link.click();
        if (cfg.accept_invite) {
            // The invite view ("… wants to chat with you." for a direct chat) and its button.
            await page.locator(".InviteView").waitFor();
            await page.locator(".InviteView").getByRole("button", { name: "Accept" }).click();
        }
        await page.locator(".MessageComposer textarea").waitFor();
    });

    if (cfg.expect_encrypted) {
        await step("Hydrogen treats the room as encrypted", async () => {
            // Hydrogen's composer says so once the room's m.room.encryption state is known.
            await page.locator('.MessageComposer textarea[placeholder^="Send an encrypted message"]').waitFor();
        });
    }

    await step("send the message from Hydrogen", async () => {
        const composer = page.locator(".MessageComposer textarea");
        const before = await timelineMessage(cfg.message).count();
        await composer.fill(cfg.message);
        await composer.press("Enter");
        // The local echo; the peer check below is what proves it reached the server.
        await timelineMessage(cfg.message).nth(before).waitFor();
    });

    if (external) {
        await step("Hydrogen shows the reply of the external peer", async () => {
            await timelineMessage(cfg.reply).waitFor({ timeout: Math.max(timeout, 120_000) });
        });
        return;
    }

    const sent = await step("peer receives the message", async () => {
        return await peerWaitForMessage(peerSince, cfg.message, `@${cfg.user}:`, Date.now() + timeout);
    });

    await step("Hydrogen gets its message back from sync", async () => {
        // The local echo's tile is keyed by the transaction id; once Hydrogen's own /sync returns
        // the event, the tile carries the event id that the peer saw.
        await timelineEvent(sent.event_id, cfg.message).waitFor();
    });

    const reply = await step("peer sends the reply", async () => {
        const txn = `hydrogen-chat-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        const path = `/_matrix/client/v3/rooms/${encodeURIComponent(cfg.room_id)}/send/m.room.message/${txn}`;
        const res = await peerCall("PUT", path, { msgtype: "m.text", body: cfg.reply });
        if (typeof res.event_id !== "string") throw new Error(`send answered without an event_id: ${JSON.stringify(res)}`);
        return res;
    });

    await step("Hydrogen shows the reply", async () => {
        await timelineEvent(reply.event_id, cfg.reply).waitFor();
    });
}

async function cleanup() {
    await context?.close().catch(() => {});
    appServer?.close();
    proxyServer?.close();
    proxyServer?.closeAllConnections();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}

let code = 0;
try {
    await run();
    log("PASS: Hydrogen sent the message, the peer received it, and Hydrogen shows the reply");
    if (cfg.always_save_logs) await saveEvidence();
} catch (e) {
    code = 1;
    console.error(`hydrogen-chat FAILED at step "${currentStep}": ${e.message}`);
    try {
        const saved = await saveEvidence();
        console.error(`saved: ${saved.join(", ")}`);
    } catch (e2) {
        console.error(`could not save the evidence: ${e2.message}`);
    }
}
await cleanup();
process.exit(code);
