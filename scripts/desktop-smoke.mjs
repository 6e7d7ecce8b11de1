// Drives crema-desktop through tauri-driver (W3C WebDriver over HTTP, plain
// fetch). Started by scripts/desktop-smoke.sh, which sets the environment:
// CREMA_SMOKE_APP (binary), CREMA_SMOKE_DRIVER (tauri-driver),
// CREMA_SMOKE_OUT (screenshot folder), CREMA_SMOKE_FIXTURE (short clip),
// CREMA_SMOKE_LONG_FIXTURE (a clip long enough to close the window mid-encode), DISPLAY.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { writeFileSync, statSync, createWriteStream } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run scripts/desktop-smoke.sh`);
  return v;
};
const APP = env("CREMA_SMOKE_APP");
const DRIVER = env("CREMA_SMOKE_DRIVER");
const OUT = env("CREMA_SMOKE_OUT");
const FIXTURE = env("CREMA_SMOKE_FIXTURE");
const LONG_FIXTURE = env("CREMA_SMOKE_LONG_FIXTURE");
const FILE_NAME = FIXTURE.split("/").pop();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log("desktop-smoke:", ...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitFor(what, fn, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
    await sleep(intervalMs);
  }
}

class Driver {
  constructor(base) {
    this.base = base;
    this.session = null;
  }
  async call(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value ?? json)}`);
    return json.value;
  }
  s(path) {
    return `/session/${this.session}${path}`;
  }
  async start() {
    const value = await this.call("POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: APP } } },
    });
    this.session = value.sessionId;
  }
  async end() {
    if (this.session) await this.call("DELETE", this.s("")).catch(() => {});
    this.session = null;
  }
  title() {
    return this.call("GET", this.s("/title"));
  }
  // Runs `script` in the page; it gets `done` as its last argument.
  async invoke(cmd, args = {}) {
    const r = await this.call("POST", this.s("/execute/async"), {
      script: `const [cmd, args, done] = arguments;
        window.__TAURI_INTERNALS__.invoke(cmd, args).then((ok) => done({ ok }), (err) => done({ err }));`,
      args: [cmd, args],
    });
    if (r && "err" in r) {
      const e = new Error(`${cmd}: ${JSON.stringify(r.err)}`);
      e.payload = r.err;
      throw e;
    }
    return r.ok;
  }
  // Subscribes to job events with a raw Tauri channel (what @tauri-apps/api's
  // Channel does); messages collect in window.__smokeEvents.
  async subscribe() {
    const r = await this.call("POST", this.s("/execute/async"), {
      script: `const done = arguments[0];
        window.__smokeEvents = [];
        const id = window.__TAURI_INTERNALS__.transformCallback((m) => {
          if (m && "message" in m) window.__smokeEvents.push({ at: Date.now(), ...m.message });
        });
        window.__TAURI_INTERNALS__.invoke("subscribe", { on_event: "__CHANNEL__:" + id })
          .then((ok) => done({ ok }), (err) => done({ err }));`,
      args: [],
    });
    if (r && "err" in r) throw new Error(`subscribe: ${JSON.stringify(r.err)}`);
    return r.ok;
  }
  events() {
    return this.call("POST", this.s("/execute/sync"), { script: "return window.__smokeEvents || []", args: [] });
  }
  rowText(id) {
    return this.call("POST", this.s("/execute/sync"), {
      script: "const el = document.querySelector(`[data-job-id='${arguments[0]}']`); return el ? el.innerText : null;",
      args: [id],
    });
  }
  bodyText() {
    return this.call("POST", this.s("/execute/sync"), { script: "return document.body.innerText", args: [] });
  }
  async screenshot(name) {
    const png = await this.call("GET", this.s("/screenshot"));
    writeFileSync(join(OUT, `${name}.webdriver.png`), Buffer.from(png, "base64"));
    // The whole X screen too: shows the real window as the user sees it.
    execFileSync("import", ["-window", "root", join(OUT, `${name}.screen.png`)]);
    log(`screenshot ${name}`);
  }
}

async function startDriver() {
  const port = await freePort();
  const nativePort = await freePort();
  const logFile = createWriteStream(join(OUT, "tauri-driver.log"), { flags: "a" });
  const child = spawn(DRIVER, ["--port", String(port), "--native-port", String(nativePort)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(logFile);
  child.stderr.pipe(logFile);
  const base = `http://127.0.0.1:${port}`;
  await waitFor("tauri-driver", async () => (await fetch(base + "/status")).ok, 20000);
  return { child, driver: new Driver(base) };
}

// The job's row as the window renders it (the UI's `li.job` and the fallback
// page's `tr` both carry data-job-id): its file name and a done marker
// ("Done" in the UI, "completed" on the fallback page).
async function showsDone(driver, id, name) {
  const text = await driver.rowText(id);
  return text !== null && text.includes(name) && /\bdone\b|\bcompleted\b/i.test(text);
}

function xdo(...args) {
  return execFileSync("xdotool", args, { encoding: "utf8" }).trim();
}

async function appGone(driver) {
  try {
    await driver.title();
    return false;
  } catch {
    return true;
  }
}

async function waitForJob(driver, id, timeoutMs, onRunning) {
  let sawRunning = false;
  return waitFor(`job ${id} to finish`, async () => {
    const j = await driver.invoke("get_job", { id });
    if (!sawRunning && ["probing", "encoding", "muxing"].includes(j.status)) {
      sawRunning = true;
      if (onRunning) await onRunning(j);
    }
    return ["completed", "failed", "canceled"].includes(j.status) ? j : null;
  }, timeoutMs, 200);
}

async function main() {
  // Launch 1: the window opens; a real file queued through the command layer
  // is encoded and shown as done; closing while an encode runs asks first.
  let { child, driver } = await startDriver();
  let stoppedJob;
  try {
    await driver.start();
    await waitFor("the window titled Crema", async () => (await driver.title()) === "Crema", 30000);
    // Rendered: the page has text (the UI mounts after the title is set).
    await waitFor("the page to render", async () => ((await driver.bodyText()) ?? "").trim().length > 0, 20000);
    log("window open: title", JSON.stringify(await driver.title()));
    await driver.screenshot("01-window-open");

    const profiles = await driver.invoke("list_profiles");
    if (!profiles.profiles.some((p) => p.id === "sophon-espresso")) throw new Error("sophon-espresso missing from list_profiles");
    const encoders = await driver.invoke("encoders");
    log("encoders:", encoders.map((e) => `${e.backend}=${e.available}`).join(" "));

    // Bad input comes back as {code, message}, never a debug string.
    try {
      await driver.invoke("submit_job", { spec: { source: { type: "path", path: FIXTURE }, profile: "no-such" } });
      throw new Error("an unknown profile was accepted");
    } catch (e) {
      if (e.payload?.code !== "validation_error" || !/profile/.test(e.payload?.message)) throw e;
      log("unknown profile refused:", e.payload.message.slice(0, 80));
    }

    const subscription = await driver.subscribe();
    log("subscribed to job events, subscription", subscription);
    const spec = { source: { type: "path", path: FIXTURE }, profile: "sophon-espresso", output: { container: "mp4" } };
    const job = await driver.invoke("submit_job", { spec });
    log("submitted", job.id, job.status);
    const done = await waitForJob(driver, job.id, 180000, async () => {
      await waitFor("the running row", async () => /\d+\s?%/.test((await driver.rowText(job.id)) ?? ""), 3000).catch(() => {});
      await driver.screenshot("02-encoding");
    });
    if (done.status !== "completed") throw new Error(`job ended ${done.status}: ${JSON.stringify(done.error)}`);
    const size = statSync(done.output.path).size;
    log(`completed: ${done.output.path} (${size} bytes, source ${done.source.bytes}, saved ${done.saved_percent}%)`);
    if (size <= 0) throw new Error("empty output");

    // The live events reached the window over the channel.
    const events = await waitFor("the job.updated completed event", async () => {
      const evs = (await driver.events()).filter((e) => (e.job?.id ?? e.job_id) === job.id);
      return evs.some((e) => e.type === "job.updated" && e.job.status === "completed") ? evs : null;
    }, 5000);
    const count = (t) => events.filter((e) => e.type === t).length;
    const progress = events.filter((e) => e.type === "job.progress");
    if (count("job.created") !== 1 || progress.length === 0) {
      throw new Error(`events: ${JSON.stringify(events.map((e) => e.type))}`);
    }
    const gaps = progress.slice(1).map((e, i) => e.at - progress[i].at);
    log(`events: ${count("job.created")} job.created, ${progress.length} job.progress (closest ${Math.min(...gaps, Infinity)} ms apart), ${count("job.updated")} job.updated`);

    await waitFor("the window to show the job as done", () => showsDone(driver, job.id, FILE_NAME), 15000);
    log("row:", JSON.stringify(await driver.rowText(job.id)));
    log("the window shows the job as done");
    await driver.screenshot("03-done");

    // The output is reachable through the asset protocol (what the player loads).
    const asset = await driver.call("POST", driver.s("/execute/async"), {
      script: `const [path, done] = arguments;
        const url = window.__TAURI_INTERNALS__.convertFileSrc(path, "asset");
        fetch(url).then((r) => r.arrayBuffer().then((b) => done({ url, status: r.status, bytes: b.byteLength })),
                        (e) => done({ url, error: String(e) }));`,
      args: [done.output.path],
    });
    if (asset.status !== 200 || asset.bytes !== size) throw new Error(`asset protocol: ${JSON.stringify(asset)}`);
    const codecs = await driver.call("POST", driver.s("/execute/sync"), {
      script: `const v = document.createElement("video");
        const t = (c) => v.canPlayType('video/mp4; codecs="' + c + '"') || "no";
        const m = (c) => (window.MediaSource ? MediaSource.isTypeSupported('video/mp4; codecs="' + c + '"') : "no MSE");
        return { hevc: t("hvc1.1.6.L93.B0"), h264: t("avc1.640028"), mse_hevc: m("hvc1.1.6.L93.B0"), mse_h264: m("avc1.640028") };`,
      args: [],
    });
    log("webview playback support (informational):", JSON.stringify(codecs));
    log(`the window fetched the output through ${asset.url.split("/").slice(0, 3).join("/")}/…: ${asset.bytes} bytes`);

    // Playback in the window: `playback_url` gives a loopback HTTP URL that
    // WebKitGTK's player streams (it cannot read the asset: scheme; decoding
    // HEVC needs gstreamer1.0-libav).
    const playUrl = await driver.invoke("playback_url", { id: job.id });
    const played = await waitFor("a <video> on playback_url to pass 1 s", async () => {
      const r = await driver.call("POST", driver.s("/execute/sync"), {
        script: `let v = document.getElementById("smoke-video");
          if (!v) {
            v = Object.assign(document.createElement("video"), { id: "smoke-video", muted: true, autoplay: true, controls: true, src: arguments[0] });
            v.style.cssText = "position:fixed;right:8px;bottom:8px;width:320px;z-index:99999";
            document.body.append(v);
            v.play().catch(() => {});
          }
          return { t: v.currentTime, err: v.error ? v.error.code : null };`,
        args: [playUrl],
      });
      if (r.err) throw new Error(`media error ${r.err} on ${playUrl}`);
      return r.t > 1 ? r : null;
    }, 20000);
    await driver.screenshot("03b-playing");
    log(`playback_url ${playUrl.replace(/downloads\/[^/]+/, "downloads/…")} played to ${played.t.toFixed(2)} s in the window`);
    await driver.call("POST", driver.s("/execute/sync"), { script: "document.getElementById('smoke-video')?.remove()", args: [] });

    // The UI's own Play button (informational until ui/ uses playback_url).
    const clicked = await driver.call("POST", driver.s("/execute/sync"), {
      script: `const row = document.querySelector("[data-job-id='" + arguments[0] + "']");
        const b = row && [...row.querySelectorAll("button")].find((b) => b.textContent.trim() === "Play");
        if (!b) return false;
        b.click();
        return true;`,
      args: [job.id],
    });
    if (clicked) {
      const r = await waitFor("the UI player", async () => {
        const r = await driver.call("POST", driver.s("/execute/sync"), {
          script: `const v = document.querySelector("dialog video");
            return v ? { t: v.currentTime, err: v.error ? v.error.code : null, src: v.currentSrc.slice(0, 40) } : null;`,
          args: [],
        });
        return r && (r.err || r.t > 1) ? r : null;
      }, 15000).catch((e) => ({ timeout: e.message }));
      log("UI Play button:", r.err ? `media error ${r.err} loading ${r.src}… (the UI uses convertFileSrc; switch it to playback_url)` : JSON.stringify(r));
      await driver.call("POST", driver.s("/execute/sync"), { script: "document.querySelector('dialog[open]')?.close()", args: [] });
    }
    const settings = await driver.invoke("settings_get");
    log("settings:", JSON.stringify(settings));

    // Close while an encode runs: the app asks; "Stop and quit" requeues it.
    stoppedJob = await driver.invoke("submit_job", {
      spec: { source: { type: "path", path: LONG_FIXTURE }, profile: "sophon-cortado" },
    });
    await waitFor("the second job to encode", async () => {
      const j = await driver.invoke("get_job", { id: stoppedJob.id });
      return j.status === "encoding" && j.progress.percent > 0;
    }, 60000);
    await driver.invoke("plugin:window|close", { label: "main" });
    const dialog = await waitFor("the close dialog", async () => xdo("search", "--name", "^Stop 1 encode and quit\\?$").split("\n")[0], 10000)
      .catch(() => null);
    if (!dialog) throw new Error("no 'Stop 1 encode and quit?' dialog after closing the window");
    await driver.screenshot("04-close-dialog");
    const still = await driver.invoke("get_job", { id: stoppedJob.id });
    if (still.status !== "encoding") throw new Error(`closing did not wait for the answer: job is ${still.status}`);
    log("close asked first: 'Stop 1 encode and quit?'; the encode kept running meanwhile");
    // Click the dialog's first button ("Stop and quit"): left half of its button row.
    const geo = Object.fromEntries(
      xdo("getwindowgeometry", "--shell", dialog).split("\n").map((l) => l.split("=")),
    );
    xdo("mousemove", "--window", dialog, String(Math.round(geo.WIDTH / 4)), String(geo.HEIGHT - 16), "click", "1");
    await waitFor("the app to quit", () => appGone(driver), 20000);
    log("'Stop and quit' closed the app");
  } finally {
    await driver.end();
    child.kill();
  }

  // Launch 2 on the same data folder: the queue is the same SQLite store; the
  // stopped job was requeued (same attempt: not counted as a crash) and runs again.
  ({ child, driver } = await startDriver());
  try {
    await driver.start();
    await waitFor("the window after restart", async () => (await driver.title()) === "Crema", 30000);
    const page = await driver.invoke("list_jobs", { limit: 10 });
    if (!page.jobs.some((j) => j.source.name === FILE_NAME && j.status === "completed")) {
      throw new Error(`after restart list_jobs lacks the completed job: ${JSON.stringify(page.jobs.map((j) => j.status))}`);
    }
    const again = page.jobs.find((j) => j.id === stoppedJob.id);
    if (!again || again.attempt !== 1 || ["failed", "canceled"].includes(again.status)) {
      throw new Error(`the stopped job was not requeued: ${JSON.stringify(again && { status: again.status, attempt: again.attempt })}`);
    }
    log(`after restart: the completed job is listed, the stopped one is ${again.status} (attempt ${again.attempt})`);
    const first = page.jobs.find((j) => j.source.name === FILE_NAME);
    await waitFor("the restarted window to show the job", () => showsDone(driver, first.id, FILE_NAME), 15000);
    await driver.screenshot("05-after-restart");

    // The Settings panel's LAN server: same service, the window's UI for browsers, API keys.
    const server = await driver.invoke("server_start", { listen: "127.0.0.1:0" });
    if (!server.running || !server.url) throw new Error(`server_start: ${JSON.stringify(server)}`);
    const home = await fetch(server.url + "/");
    const html = await home.text();
    if (!home.ok || !html.includes("<title>Crema</title>")) throw new Error(`GET / on the LAN server: ${home.status}`);
    const key = await driver.invoke("keys_create", { name: "desktop smoke" });
    const listed = await fetch(server.url + "/v1/jobs", { headers: { authorization: `Bearer ${key.key}` } });
    const body = await listed.json();
    if (!listed.ok || !body.jobs.some((j) => j.id === stoppedJob.id)) throw new Error(`GET /v1/jobs: ${listed.status}`);
    await driver.invoke("keys_revoke", { id: key.id });
    const keys = await driver.invoke("keys_list");
    if (!keys.some((k) => k.id === key.id && k.revoked)) throw new Error(`keys_list: ${JSON.stringify(keys)}`);
    const refused = await fetch(server.url + "/v1/jobs", { headers: { authorization: `Bearer ${key.key}` } });
    if (refused.status !== 401) throw new Error(`a revoked key got ${refused.status}`);
    const stopped = await driver.invoke("server_stop");
    if (stopped.running) throw new Error("server_stop left it running");
    log(`LAN server at ${server.url}: served the UI and /v1 to a new key, refused it after revoke, stopped`);
    const resumed = await waitForJob(driver, stoppedJob.id, 240000);
    if (resumed.status !== "completed") throw new Error(`the requeued job ended ${resumed.status}`);
    log("the requeued job completed after the restart");
    await waitFor("the requeued job's row to show done", () => showsDone(driver, stoppedJob.id, LONG_FIXTURE.split("/").pop()), 15000);
    await driver.screenshot("06-requeued-done");
  } finally {
    await driver.end();
    child.kill();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error("desktop-smoke: FAILED:", e.message);
    process.exit(1);
  },
);
