// Shared by the browser tests here: argument parsing, one headless Chromium with fake media
// devices (playwright-core from web/node_modules, Debian's /usr/bin/chromium), the phone pages
// and bounded waits on what they show, failure diagnostics, and a run that ends exactly once
// (by its own result or by a watchdog). Each phone is one tab of one fresh browser profile.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const WEB = path.resolve(__dirname, '../../web');

const COMMON_USAGE = '[--ws WS_URL] [--chromium PATH] [--hold SECONDS] [--timeout SECONDS] ' +
                     '[--step-timeout SECONDS] [--screenshots DIR] [--debug]';

// argv → options. `names` maps more --flags to option names, `required` lists option names,
// `flags` maps boolean --flags to option names.
function parseArgs(script, argv, { names = {}, required = [], flags = {}, usage = '' }) {
  const fail = (message) => {
    if (message) console.error(`${script}: ${message}`);
    console.error(`usage: ${script} ${usage} ${COMMON_USAGE}`);
    process.exit(64);
  };
  const opts = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', hold: 2, timeout: 60, stepTimeout: 10, debug: false };
  const all = { '--url': 'url', '--ws': 'ws', '--chromium': 'chromium', '--hold': 'hold', '--timeout': 'timeout',
                '--step-timeout': 'stepTimeout', '--screenshots': 'screenshots', ...names };
  const bools = { '--debug': 'debug', ...flags };
  for (const f of Object.values(flags)) opts[f] = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (bools[a]) opts[bools[a]] = true;
    else if (a === '--help' || a === '-h') fail();
    else if (all[a] && i + 1 < argv.length) opts[all[a]] = argv[++i];
    else fail(`unknown or incomplete argument: ${a}`);
  }
  for (const k of ['url', ...required]) {
    if (!opts[k]) fail(`missing --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  }
  for (const k of ['hold', 'timeout', 'stepTimeout']) {
    opts[k] = Number(opts[k]);
    if (!(opts[k] > 0)) fail(`--${k} must be a positive number`);
  }
  return opts;
}

// Everything a run needs, bound to its options. `loopbackCandidates`: let WebRTC gather host
// candidates on 127.0.0.1/::1 too (Chromium leaves loopback out by default).
function createHarness(opts, { loopbackCandidates = true } = {}) {
  let chromium;
  try {
    ({ chromium } = require(path.join(WEB, 'node_modules', 'playwright-core')));
  } catch (e) {
    console.log(`FAIL: playwright-core is not installed in web/node_modules (run scripts/setup.sh): ${e.message}`);
    process.exit(1);
  }
  if (!fs.existsSync(opts.chromium)) {
    console.log(`FAIL: no Chromium at ${opts.chromium} (Debian package chromium; run scripts/setup.sh)`);
    process.exit(1);
  }

  const started = Date.now();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const stepMs = opts.stepTimeout * 1000;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  class StepError extends Error {}

  let passed = 0;
  let finishing = false;
  function ok(text) {
    if (finishing) return; // the watchdog fired: the run is being torn down
    passed++;
    console.log(`ok ${passed} - ${text} (${elapsed()} s)`);
  }

  // The phones: { name, address, password, page, console: [] }.
  const phones = [];
  let browserContext = null;
  let profileDir = null;

  // Polls fn (run in the page) until it returns a truthy value; the error names what was expected
  // and what the page showed instead.
  async function waitInPage(phone, what, fn, arg, timeoutMs = stepMs) {
    try {
      const handle = await phone.page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
      return await handle.jsonValue();
    } catch (e) {
      if (e.name !== 'TimeoutError' && !/Timeout/.test(e.message)) throw e;
      throw new StepError(`${phone.name}: ${what} did not happen within ${timeoutMs / 1000} s ` +
                          `(page shows: ${await summary(phone)})`);
    }
  }

  // Waits until `selector`'s data-state is `want`; fails at once on a state in `fatal`.
  async function waitState(phone, selector, want, fatal = [], timeoutMs = stepMs) {
    const seen = await waitInPage(phone, `${selector} "${want}"`, ([sel, w, f]) => {
      const s = document.querySelector(sel);
      const v = s && s.dataset.state;
      return v === w || f.includes(v) ? v : false;
    }, [selector, want, fatal], timeoutMs);
    if (seen !== want) {
      throw new StepError(`${phone.name}: ${selector} became "${seen}" while waiting for "${want}" ` +
                          `(page shows: ${await summary(phone)})`);
    }
  }

  async function summary(phone) {
    try {
      return await phone.page.evaluate(() => {
        const t = (id) => {
          const e = document.getElementById(id);
          return e ? `${e.dataset.state || ''}${e.textContent && e.textContent !== e.dataset.state ? ` "${e.textContent}"` : ''}` : '?';
        };
        return `reg-state=${t('reg-state')}, call-state=${t('call-state')}, pc-state=${t('pc-state')}, ` +
               `call-cause="${document.getElementById('call-cause').textContent}", ` +
               `login-error="${document.getElementById('login-error').textContent}"`;
      });
    } catch (e) {
      return `(page unreadable: ${e.message.split('\n')[0]})`;
    }
  }

  async function diagnostics() {
    for (const phone of phones) {
      if (!phone.page) continue;
      console.log(`--- ${phone.name} (${phone.address}): ${await summary(phone)}`);
      try {
        const lines = await phone.page.evaluate(() =>
          [...document.querySelectorAll('#log li')].reverse().map((li) => li.textContent));
        console.log(`--- ${phone.name}: page event log (oldest first)`);
        for (const l of lines.slice(-40)) console.log(`    ${l}`);
      } catch {
        // The page is gone; its console lines below still tell something.
      }
      const errors = phone.console.filter((l) => opts.debug || /^(error|warning|pageerror)/.test(l));
      if (errors.length) {
        console.log(`--- ${phone.name}: browser console${opts.debug ? '' : ' (errors and warnings)'}`);
        for (const l of errors.slice(-40)) console.log(`    ${l}`);
      }
      if (opts.screenshots) {
        try {
          const file = path.join(opts.screenshots, `${phone.name}-failure.png`);
          await phone.page.screenshot({ path: file, fullPage: true, timeout: 3000 });
          console.log(`--- ${phone.name}: screenshot ${file}`);
        } catch {
          // No screenshot: nothing more to do.
        }
      }
    }
  }

  async function cleanup() {
    try {
      if (browserContext) await Promise.race([browserContext.close(), sleep(5000)]);
    } catch {
      // Closing a browser that already died.
    }
    try {
      if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      console.log(`(could not remove ${profileDir}: ${e.message})`);
    }
  }

  async function screenshot(name) {
    if (!opts.screenshots) return;
    fs.mkdirSync(opts.screenshots, { recursive: true });
    await Promise.all(phones.map((p) =>
      p.page.screenshot({ path: path.join(opts.screenshots, `${p.name}-${name}.png`), fullPage: true })));
  }

  // ---------------------------------------------------------------------------------------------

  async function openPhone(phone) {
    const page = await browserContext.newPage();
    phone.page = page;
    page.setDefaultTimeout(stepMs);
    page.on('console', (m) => phone.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => phone.console.push(`pageerror: ${e.message}`));
    const url = new URL(opts.url);
    if (opts.debug) url.searchParams.set('debug', '1');
    const response = await page.goto(url.href, { waitUntil: 'load', timeout: stepMs });
    if (!response || !response.ok()) {
      throw new StepError(`${phone.name}: GET ${url.href} answered ${response ? response.status() : 'nothing'}`);
    }
    const check = await page.evaluate(() => ({
      jssip: typeof JsSIP !== 'undefined' ? JsSIP.version : null,
      phone: typeof window.sipwardenPhone === 'object',
      server: document.getElementById('server').value,
      secure: window.isSecureContext,
    }));
    if (!check.jssip) throw new StepError(`${phone.name}: the page has no JsSIP (vendor/jssip.min.js not served?)`);
    if (!check.phone) throw new StepError(`${phone.name}: app.js did not start (no window.sipwardenPhone)`);
    if (!check.secure) throw new StepError(`${phone.name}: the page is not a secure context`);
    const expectedWs = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}/ws`;
    if (check.server !== expectedWs) {
      throw new StepError(`${phone.name}: the WebSocket URL defaults to "${check.server}", expected "${expectedWs}"`);
    }
    return check;
  }

  async function signIn(phone, password) {
    const page = phone.page;
    await page.fill('#user', phone.address);
    await page.fill('#password', password);
    if (opts.ws) {
      await page.evaluate(() => { document.getElementById('advanced').open = true; });
      await page.fill('#server', opts.ws);
    }
    await click(phone, '#sign-in');
  }

  function isLoopbackPair(pair) {
    // "ADDR:PORT ⇄ ADDR:PORT PROTO", addresses 127.x.x.x or ::1
    const m = pair && /^(.*):\d+ ⇄ (.*):\d+ /.exec(pair);
    return !!m && [m[1], m[2]].every((a) => /^127\./.test(a) || a === '::1' || a === '[::1]');
  }

  // Clicks as a person would: on the tab in front. (A background tab's animation frames are
  // throttled, and Playwright's click waits for them.)
  async function click(phone, selector) {
    await phone.page.bringToFront();
    await phone.page.click(selector);
  }

  async function mediaStats(phone) {
    return phone.page.evaluate(() => window.sipwardenPhone.mediaStats());
  }

  let version = '?';
  async function launch() {
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipwarden-chromium-'));
    browserContext = await chromium.launchPersistentContext(profileDir, {
      executablePath: opts.chromium,
      headless: true,
      ignoreHTTPSErrors: true,
      permissions: ['microphone', 'camera'],
      timeout: stepMs * 2,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        // This machine's network is closed: without these Chromium's own connections are refused.
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
        '--ignore-certificate-errors',
        '--autoplay-policy=no-user-gesture-required',
      ].concat(loopbackCandidates ? ['--allow-loopback-in-peer-connection'] : []),
    });
    version = browserContext.browser() ? browserContext.browser().version() : '?';
    return version;
  }

  function makePhone(name, address, password) {
    const phone = { name, address, password, page: null, console: [] };
    phones.push(phone);
    return phone;
  }

  // The run ends once: by its own result or by the watchdog, whichever comes first.
  async function finish(code, message) {
    if (finishing) return;
    finishing = true;
    if (message) console.log(message);
    if (code !== 0) await Promise.race([diagnostics(), sleep(8000)]);
    await cleanup();
    console.log(`webphone e2e ${code === 0 ? 'done in' : 'stopped at'} ${elapsed()} s`);
    console.log(`webphone: ${passed} passed, ${code === 0 ? 0 : 1} failed`);
    process.exit(code);
  }

  function start(run) {
    setTimeout(() => finish(2, `FAIL: the run took more than ${opts.timeout} s (at ${elapsed()} s)`),
               opts.timeout * 1000).unref();
    run().then(() => finish(0), (e) => finish(1, `FAIL: ${e instanceof StepError ? e.message : e.stack || e}`));
  }

  return {
    StepError, sleep, elapsed, ok, launch, makePhone, openPhone, signIn, click, waitInPage, waitState,
    summary, mediaStats, isLoopbackPair, screenshot, start,
  };
}

module.exports = { parseArgs, createHarness };
