// The whole Hydrogen web app, started the way Hydrogen's own web entry point does it
// (RootViewModel + RootView), but from the npm package so we can bundle it ourselves.
import {
    Platform,
    FeatureSet,
    RootViewModel,
    createNavigation,
    createRouter,
} from "hydrogen-view-sdk";

// Paths are relative to the page; build.mjs copies the files to these places in dist/.
const assetPaths = {
    downloadSandbox: "assets/download-sandbox.html",
    worker: "assets/main.js",
    olm: {
        wasm: "olm/olm.wasm",
        legacyBundle: "olm/olm_legacy.js",
        wasmBundle: "olm/olm.js",
    },
    // Session load hands the access token to the service worker (it adds it to media
    // requests); without one it crashes: "Cannot read properties of null (reading 'updateAuthData')".
    serviceWorker: "sw.js",
};

async function main() {
    const container = document.getElementById("app");
    // No defaultHomeServer: the test types the homeserver URL into the login form.
    const platform = new Platform({ container, assetPaths, config: {}, options: { development: false } });
    const navigation = createNavigation();
    platform.setNavigation(navigation);
    await platform.init();
    const features = await FeatureSet.load(platform.settingsStorage);
    const urlRouter = createRouter({ navigation, history: platform.history });
    urlRouter.attach();
    const vm = new RootViewModel({ platform, urlRouter, navigation, features });
    await vm.load();
    platform.createAndMountRootView(vm);
}

main().catch(err => {
    console.error(`hydrogen failed to start: ${err.message}\n${err.stack}`);
});
