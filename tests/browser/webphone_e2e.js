#!/usr/bin/env node
// End-to-end test of the web softphone (web/public/) against a running sipwarden, in real headless
// Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with Chromium's fake camera and
// microphone. Nothing is mocked: JsSIP in the page speaks SIP over WSS to the server, and the two
// pages' RTCPeerConnections exchange media over loopback host candidates.
//
//   node tests/browser/webphone_e2e.js --url https://127.0.0.1:PORT/ \
//       --caller alice@example.test --caller-password secret-a \
//       --callee bob@example.test --callee-password secret-b
//
// Two tabs of one fresh browser profile, as a person testing the phone would open them:
//   1. both load the page from the server and find JsSIP; the WebSocket URL defaults to the
//      page's own origin (wss://HOST:PORT/ws, or ws:// for a page on http://);
//   2. the caller signs in with a wrong password first: the server's digest challenge refuses it;
//   3. caller and callee sign in (REGISTER over WSS or WS, digest authentication);
//   4. the caller calls the callee; the callee sees the incoming call and answers;
//   5. both see the call connected and their RTCPeerConnection 'connected', and stay so for
//      --hold seconds (2) while RTP packets keep arriving on both sides;
//   6. the caller hangs up; the callee sees the call end (BYE from the other side); a second
//      call is rejected by the callee (486), a third cancelled by the caller while it rings;
//   7. the caller sends the callee a MESSAGE, the callee shows it; the callee answers, the caller
//      shows that.
// Prints one "ok N - ..." line per step and "webphone: N passed, 0 failed" at the end; on any
// failure prints "FAIL: ..." with both pages' state and event logs and exits 1 (2 when the whole
// run exceeds --timeout seconds, 60 by default). Every wait is bounded.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const WEB = path.resolve(__dirname, '../../web');

function usage(message) {
  if (message) console.error(`webphone_e2e: ${message}`);
  console.error('usage: webphone_e2e.js --url URL --caller USER@DOMAIN --caller-password PW ' +
                '--callee USER@DOMAIN --callee-password PW [--ws WSS_URL] [--chromium PATH] ' +
                '[--hold SECONDS] [--timeout SECONDS] [--step-timeout SECONDS] [--screenshots DIR] [--require-loopback] [--debug]');
  process.exit(64);
}

function parseArgs(argv) {
  const opts = {
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    hold: 2,
    timeout: 60,
    stepTimeout: 10,
    debug: false,
    requireLoopback: false,
  };
  const names = {
    '--url': 'url', '--caller': 'caller', '--caller-password': 'callerPassword', '--callee': 'callee',
    '--callee-password': 'calleePassword', '--ws': 'ws', '--chromium': 'chromium', '--hold': 'hold',
    '--timeout': 'timeout', '--step-timeout': 'stepTimeout', '--screenshots': 'screenshots',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--debug') opts.debug = true;
    else if (a === '--require-loopback') opts.requireLoopback = true;
    else if (a === '--help' || a === '-h') usage();
    else if (names[a] && i + 1 < argv.length) opts[names[a]] = argv[++i];
    else usage(`unknown or incomplete argument: ${a}`);
  }
  for (const k of ['url', 'caller', 'callerPassword', 'callee', 'calleePassword']) {
    if (!opts[k]) usage(`missing --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  }
  for (const k of ['hold', 'timeout', 'stepTimeout']) {
    opts[k] = Number(opts[k]);
    if (!(opts[k] > 0)) usage(`--${k} must be a positive number`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

let chromium;
try {
  ({ chromium } = require(path.join(WEB, 'node_modules', 'playwright-core')));
} catch (e) {
  console.error(`FAIL: playwright-core is not installed in web/node_modules (run scripts/setup.sh): ${e.message}`);
  process.exit(1);
}
if (!fs.existsSync(opts.chromium)) {
  console.error(`FAIL: no Chromium at ${opts.chromium} (Debian package chromium; run scripts/setup.sh)`);
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

// The two phones: { name, address, password, page, console: [] }.
const phones = [];
let browserContext = null;
let profileDir = null;

function makePhone(name, address, password) {
  return { name, address, password, page: null, console: [] };
}

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

async function run() {
  const [caller, callee] = [makePhone('caller', opts.caller, opts.callerPassword),
                            makePhone('callee', opts.callee, opts.calleePassword)];
  phones.push(caller, callee);

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
      // Host candidates on 127.0.0.1/::1 too, so that the media can stay on loopback.
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  const version = browserContext.browser() ? browserContext.browser().version() : '?';

  const check = await openPhone(caller);
  await openPhone(callee);
  ok(`two tabs loaded ${opts.url} in Chromium ${version}: JsSIP ${check.jssip}, WebSocket URL ${check.server}`);

  // The server's challenge must refuse a wrong password over WSS, and the page must say so.
  await signIn(caller, opts.callerPassword + '-wrong');
  await waitState(caller, '#reg-state', 'failed', ['registered']);
  const refusal = await caller.page.textContent('#login-error');
  if (!/Authentication Error|401|403/.test(refusal)) {
    throw new StepError(`caller: a wrong password failed with "${refusal}", expected an authentication error`);
  }
  ok(`a wrong password is refused: ${refusal}`);

  await signIn(caller, opts.callerPassword);
  await signIn(callee, opts.calleePassword);
  await Promise.all([caller, callee].map((p) => waitState(p, '#reg-state', 'registered', ['failed'])));
  const transport = (opts.ws || check.server).startsWith('wss:') ? 'WSS' : 'WS';
  ok(`${caller.address} and ${callee.address} registered over ${transport} with digest authentication`);

  // The call.
  await caller.page.fill('#call-target', callee.address);
  await click(caller, '#call');
  await waitState(callee, '#call-state', 'incoming', ['failed', 'ended']);
  const callerShown = await callee.page.textContent('#call-peer');
  if (!callerShown.includes(caller.address)) {
    throw new StepError(`callee: the incoming call shows "${callerShown}", expected ${caller.address}`);
  }
  ok(`${callee.address} sees an incoming call from ${callerShown}`);

  await click(callee, '#answer');
  await Promise.all([caller, callee].map((p) => waitState(p, '#call-state', 'connected', ['failed', 'ended'])));
  await Promise.all([caller, callee].map((p) =>
    waitInPage(p, "RTCPeerConnection 'connected'", () => window.sipwardenPhone.peerConnectionState() === 'connected')));
  ok("call answered: both pages show the call connected and their RTCPeerConnection 'connected'");
  await screenshot('connected');

  // Held for opts.hold seconds: the connection never leaves 'connected' and RTP keeps arriving.
  const before = await Promise.all([caller, callee].map(mediaStats));
  const holdUntil = Date.now() + opts.hold * 1000;
  while (Date.now() < holdUntil) {
    for (const p of [caller, callee]) {
      const s = await p.page.evaluate(() => [window.sipwardenPhone.peerConnectionState(),
                                             window.sipwardenPhone.callState()]);
      if (s[0] !== 'connected' || s[1] !== 'connected') {
        throw new StepError(`${p.name}: RTCPeerConnection "${s[0]}", call "${s[1]}" during the hold ` +
                            `(page shows: ${await summary(p)})`);
      }
    }
    await sleep(200);
  }
  const after = await Promise.all([caller, callee].map(mediaStats));
  for (const [i, p] of [caller, callee].entries()) {
    const got = after[i].packetsReceived - before[i].packetsReceived;
    const sent = after[i].packetsSent - before[i].packetsSent;
    if (got <= 0 || sent <= 0) {
      throw new StepError(`${p.name}: no RTP during the ${opts.hold} s hold (received ${got}, sent ${sent} packets)`);
    }
    if (opts.requireLoopback && !isLoopbackPair(after[i].pair)) {
      throw new StepError(`${p.name}: the ICE pair in use is ${after[i].pair}, not loopback`);
    }
    if (!after[i].kinds.includes('audio')) {
      throw new StepError(`${p.name}: no audio received (media kinds: ${after[i].kinds.join(', ') || 'none'})`);
    }
  }
  ok(`RTCPeerConnection 'connected' on both sides for ${opts.hold} s; caller received ` +
     `${after[0].packetsReceived - before[0].packetsReceived} RTP packets (${after[0].kinds.join('+')}), callee ` +
     `${after[1].packetsReceived - before[1].packetsReceived} (${after[1].kinds.join('+')}); ICE pair ${after[0].pair}`);

  // Hang up: the callee must see the call end because of the caller's BYE.
  await click(caller, '#hangup');
  await waitState(caller, '#call-state', 'ended', ['failed']);
  await waitState(callee, '#call-state', 'ended', ['failed']);
  const end = await callee.page.evaluate(() => {
    const c = document.getElementById('call-cause');
    return { cause: c.dataset.cause, originator: c.dataset.originator, pc: window.sipwardenPhone.peerConnectionState() };
  });
  if (end.originator !== 'remote') {
    throw new StepError(`callee: the call ended by "${end.originator}" (${end.cause}), expected the other side's BYE`);
  }
  await waitInPage(callee, "RTCPeerConnection 'closed' (and shown)", () =>
    window.sipwardenPhone.peerConnectionState() === 'closed' &&
    document.getElementById('pc-state').dataset.state === 'closed');
  ok(`caller hung up; callee sees the call ended by the other side (${end.cause}) and its RTCPeerConnection closed`);

  // A call the callee rejects (486 through the proxy), and one the caller cancels while it rings.
  await click(caller, '#call');
  await waitState(callee, '#call-state', 'incoming'); // from the last call's end state
  await screenshot('incoming');
  await click(callee, '#reject');
  await waitState(caller, '#call-state', 'failed', ['connected', 'ended']);
  const busy = await caller.page.textContent('#call-cause');
  if (!/^Busy 486/.test(busy)) throw new StepError(`caller: the rejected call failed with "${busy}", expected Busy 486`);
  await waitState(callee, '#call-state', 'failed', ['connected', 'ended']);
  ok(`callee rejected a second call; caller sees "${busy}"`);

  await click(caller, '#call');
  await waitState(callee, '#call-state', 'incoming'); // from the last call's end state
  await waitState(caller, '#call-state', 'ringing', ['failed', 'ended', 'connected']);
  await click(caller, '#hangup');
  await waitState(callee, '#call-state', 'failed', ['connected', 'ended']);
  const canceled = await callee.page.evaluate(() => document.getElementById('call-cause').dataset.cause);
  if (canceled !== 'Canceled') throw new StepError(`callee: the cancelled call ended with "${canceled}", expected Canceled`);
  await waitState(caller, '#call-state', 'failed', ['connected', 'ended']);
  ok('caller cancelled a third call while it rang; callee sees it Canceled');

  // Messages both ways.
  const token = Math.random().toString(36).slice(2, 8);
  const text = `Watson, come here ${token}`;
  await caller.page.fill('#message-to', callee.address);
  await caller.page.fill('#message-text', text);
  await click(caller, '#send');
  await waitInPage(caller, 'the message marked sent', (t) => {
    const li = [...document.querySelectorAll('#messages li[data-direction="out"]')].find((l) => l.textContent.includes(t));
    return li && li.dataset.status !== 'sending' ? li.dataset.status : false;
  }, text).then(async (status) => {
    if (status !== 'sent') {
      throw new StepError(`caller: the message to ${callee.address} is "${status}" (page shows: ${await summary(caller)})`);
    }
  });
  await waitInPage(callee, `the message "${text}" shown`, ([t, from]) =>
    [...document.querySelectorAll('#messages li[data-direction="in"]')]
      .some((l) => l.dataset.peer === from && l.textContent.includes(t)), [text, caller.address]);
  const listed = await callee.page.$$eval('#conversations li', (lis) => lis.map((l) => l.dataset.peer));
  if (!listed.includes(caller.address)) {
    throw new StepError(`callee: the conversation list shows ${JSON.stringify(listed)}, not ${caller.address}`);
  }
  ok(`caller sent "${text}"; callee shows it in the conversation with ${caller.address}`);

  const reply = `Coming ${token}`;
  await callee.page.fill('#message-text', reply); // #message-to is the selected conversation
  await click(callee, '#send');
  await waitInPage(caller, `the reply "${reply}" shown`, ([t, from]) =>
    [...document.querySelectorAll('#messages li[data-direction="in"]')]
      .some((l) => l.dataset.peer === from && l.textContent.includes(t)), [reply, callee.address]);
  ok(`callee replied from its conversation; caller shows "${reply}"`);
  await screenshot('messages');

  // Sign out (un-REGISTER); the page goes back to the sign-in form.
  await click(caller, '#sign-out');
  await waitState(caller, '#reg-state', 'signed-out');
  ok('caller signed out');
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

setTimeout(() => finish(2, `FAIL: the run took more than ${opts.timeout} s (at ${elapsed()} s)`),
           opts.timeout * 1000).unref();

run().then(() => finish(0), (e) => finish(1, `FAIL: ${e instanceof StepError ? e.message : e.stack || e}`));
