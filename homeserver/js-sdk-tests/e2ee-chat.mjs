// Element Web's crypto stack outside Element: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm through initRustCrypto), in Node, with fake-indexeddb
// for the stores that want IndexedDB. Logs in, joins the encrypted room it is invited to,
// waits for the peer's message and checks that it arrived encrypted and was decrypted, then
// answers with an encrypted reply. Prints PASS; exits non-zero with the reason otherwise.
//
// Usage: node e2ee-chat.mjs CONFIG.json   (JS_SDK_DEBUG=1 logs every request and /sync answer)
//   {"base_url", "user", "password", "room_id", "expect", "reply"}
import "fake-indexeddb/auto";
import { readFileSync } from "node:fs";

// matrix-js-sdk 43 calls Promise.withResolvers, which Node.js has from version 22 only.
if (!Promise.withResolvers) {
    Promise.withResolvers = function withResolvers() {
        let resolve;
        let reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}
const sdk = await import("matrix-js-sdk");

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const log = (...args) => console.error(new Date().toISOString(), ...args);
const fail = (why) => {
    console.log(`FAIL: ${why}`);
    process.exit(1);
};
setTimeout(() => fail("timed out"), 120_000).unref();

// matrix-js-sdk logs a lot at debug level; keep warnings and errors.
sdk.logger?.setLevel?.("warn");

const login = await sdk
    .createClient({ baseUrl: config.base_url })
    .loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: config.user },
        password: config.password,
        initial_device_display_name: "matrix-js-sdk test",
    });
log("logged in", login.user_id, login.device_id);
const debugFetch = async (url, init) => {
    const res = await fetch(url, init);
    if (process.env.JS_SDK_DEBUG) {
        const u = String(url);
        const clone = res.clone();
        const text = await clone.text();
        if (u.includes("/sync")) {
            const j = JSON.parse(text);
            log("sync", res.status, "to_device", JSON.stringify(j.to_device ?? null).slice(0, 400), "dl", JSON.stringify(j.device_lists ?? null), "otk", JSON.stringify(j.device_one_time_keys_count ?? null));
        } else {
            log(init?.method ?? "GET", u.replace(config.base_url, ""), res.status, (init?.body ? String(init.body).slice(0, 300) : ""), "->", text.slice(0, 300));
        }
    }
    return res;
};
const client = sdk.createClient({
    fetchFn: debugFetch,
    baseUrl: config.base_url,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
});
await client.initRustCrypto({ useIndexedDB: false });

let received = null;
const check = async (event) => {
    if (event.getRoomId() !== config.room_id || received) return;
    await client.decryptEventIfNeeded(event);
    if (event.getType() !== "m.room.message") return;
    if (event.getContent()?.body !== config.expect) return;
    if (!event.isEncrypted()) fail("the peer's message arrived unencrypted");
    received = event;
};
client.on(sdk.RoomEvent.Timeline, (event) => void check(event));
client.on(sdk.MatrixEventEvent.Decrypted, (event) => void check(event));

await new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve());
    client.startClient({ initialSyncLimit: 10 });
});
log("first sync done");

// The Rust crypto publishes this device's keys from its outgoing-request loop, a moment after
// the first sync. Join only once they are on the server: a peer that encrypts for the room
// before then has no device of ours to share its room key with (the same holds on Synapse).
for (let i = 0; ; i++) {
    const answer = await fetch(`${config.base_url}/_matrix/client/v3/keys/query`, {
        method: "POST",
        headers: { Authorization: `Bearer ${login.access_token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ device_keys: { [login.user_id]: [login.device_id] } }),
    }).then((r) => r.json());
    if (answer.device_keys?.[login.user_id]?.[login.device_id]) break;
    if (i > 600) fail("this device's keys were never published");
    await new Promise((r) => setTimeout(r, 100));
}
log("device keys published");

// Join once the invite is there.
for (let i = 0; ; i++) {
    const room = client.getRoom(config.room_id);
    if (room?.getMyMembership() === "invite") break;
    if (room?.getMyMembership() === "join") break;
    if (i > 600) fail("no invite");
    await new Promise((r) => setTimeout(r, 100));
}
await client.joinRoom(config.room_id);
log("joined", config.room_id);

for (let i = 0; !received; i++) {
    if (i > 900) fail(`never decrypted ${JSON.stringify(config.expect)}`);
    await new Promise((r) => setTimeout(r, 100));
}
log("decrypted the peer's message", received.getId());
const room = client.getRoom(config.room_id);
if (!(await client.getCrypto().isEncryptionEnabledInRoom(config.room_id))) {
    fail("the room is not encrypted for the client");
}
const sent = await client.sendTextMessage(config.room_id, config.reply);
log("sent the reply", sent.event_id, "in", room?.roomId);
// Stay a moment so that key requests from the peer can be answered, then stop.
await new Promise((r) => setTimeout(r, 3000));
client.stopClient();
console.log("PASS");
process.exit(0);
