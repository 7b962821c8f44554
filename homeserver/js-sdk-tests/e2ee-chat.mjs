// Element Web's crypto stack outside Element: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm through initRustCrypto), in Node, with fake-indexeddb
// for the stores that want IndexedDB. Logs in, joins the encrypted room it is invited to,
// waits for the peer's message and checks that it arrived encrypted and was decrypted, then
// answers with an encrypted reply. Prints PASS; exits non-zero with the reason otherwise.
//
// Usage: node e2ee-chat.mjs CONFIG.json
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
const client = sdk.createClient({
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
