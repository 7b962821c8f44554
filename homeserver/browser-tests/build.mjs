// Builds dist/: the bundled Hydrogen app plus the files it loads at run time.
// Usage: node build.mjs
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const modules = join(here, "node_modules");

// hydrogen-view-sdk has a bare `import "@matrix-org/olm/olm.js"` (a hint for vite to ship the file),
// but it loads olm at run time itself with a <script> tag from assetPaths.olm. Bundling olm.js
// fails (it requires node's fs/path/crypto in its node branch), so that import becomes empty.
const olmStub = {
    name: "olm-stub",
    setup(b) {
        b.onResolve({ filter: /^@matrix-org\/olm\/olm\.js$/ }, () => ({ path: "olm-stub", namespace: "olm-stub" }));
        b.onLoad({ filter: /.*/, namespace: "olm-stub" }, () => ({ contents: "", loader: "js" }));
    },
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
    entryPoints: [join(here, "app/main.js")],
    outfile: join(dist, "app.js"),
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    logLevel: "warning",
    plugins: [olmStub],
});

cpSync(join(here, "app/index.html"), join(dist, "index.html"));
// Theme CSS, fonts, icons, the download sandbox and the olm worker.
cpSync(join(modules, "hydrogen-view-sdk/asset-build/assets"), join(dist, "assets"), { recursive: true });
// The service worker must be served from the app's root to control the whole scope.
cpSync(join(modules, "hydrogen-view-sdk/lib-build/sw.js"), join(dist, "sw.js"));
for (const f of ["olm.js", "olm.wasm", "olm_legacy.js"]) {
    cpSync(join(modules, "@matrix-org/olm", f), join(dist, "olm", f), { recursive: true });
}
console.log(`built ${dist}`);
