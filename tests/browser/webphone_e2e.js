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
//   6. the caller puts the call on hold and resumes it (re-INVITEs), the callee sees both;
//      the caller hangs up; the callee sees the call end (BYE from the other side); a second
//      call is rejected by the callee (486), a third cancelled by the caller while it rings;
//   7. the caller sends the callee a MESSAGE, the callee shows it; the callee answers, the caller
//      shows that.
// Prints one "ok N - ..." line per step and "webphone: N passed, 0 failed" at the end; on any
// failure prints "FAIL: ..." with both pages' state and event logs and exits 1 (2 when the whole
// run exceeds --timeout seconds, 60 by default). Every wait is bounded.
'use strict';

const { parseArgs, createHarness } = require('./phone_harness');

const opts = parseArgs('webphone_e2e.js', process.argv.slice(2), {
  names: { '--caller': 'caller', '--caller-password': 'callerPassword', '--callee': 'callee',
           '--callee-password': 'calleePassword' },
  required: ['caller', 'callerPassword', 'callee', 'calleePassword'],
  flags: { '--require-loopback': 'requireLoopback' },
  usage: '--url URL --caller USER@DOMAIN --caller-password PW --callee USER@DOMAIN --callee-password PW ' +
         '[--require-loopback]',
});
const {
  StepError, sleep, ok, launch, makePhone, openPhone, signIn, click, waitInPage, waitState, summary,
  mediaStats, isLoopbackPair, screenshot, start,
} = createHarness(opts);

async function run() {
  const caller = makePhone('caller', opts.caller, opts.callerPassword);
  const callee = makePhone('callee', opts.callee, opts.calleePassword);

  const version = await launch();

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

  // Hold and resume: re-INVITEs through the proxy; the callee sees the hold from the SDP, and
  // RTP comes back after the resume.
  await click(caller, '#hold');
  await waitState(caller, '#hold-state', 'local');
  await waitState(callee, '#hold-state', 'remote');
  await click(caller, '#hold');
  await waitState(caller, '#hold-state', 'none');
  await waitState(callee, '#hold-state', 'none');
  // While held the callee answered recvonly and sent nothing; after the resume it sends again.
  const resumed = await mediaStats(caller);
  await waitInPage(caller, 'RTP from the callee after the resume', (n) => window.sipwardenPhone.mediaStats()
    .then((s) => s.packetsReceived > n + 25), resumed.packetsReceived);
  ok('caller put the call on hold and resumed it (re-INVITEs); callee saw both, RTP flows again');

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

start(run);
