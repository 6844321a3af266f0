#!/usr/bin/env node
// The web softphone against another kind of user agent: one tab of headless Chromium (JsSIP over
// WS/WSS) calls a peer registered on another transport (a baresip on UDP, in
// tests/integration/test_webphone.py), then takes a call from it. The proxy changes transport in
// both directions, so ACK, BYE and the media negotiation only work when its Record-Route is right.
//
//   node tests/browser/webphone_peer.js --url https://127.0.0.1:PORT/ \
//       --user alice@example.test --password secret-a --peer carol@example.test \
//       [--media-prefix 198.18.] [--no-loopback-candidates]
//
// Steps (audio only):
//   1. the page loads and signs in;
//   2. it calls --peer, which answers by itself; the call is connected, the RTCPeerConnection
//      'connected', and RTP flows both ways for --hold seconds (2);
//   3. the page hangs up; the call ends;
//   4. it prints "ready: waiting for a call from PEER" and waits (--incoming-timeout, 20 s) for
//      the peer to call; it answers; connected, RTP both ways as in 2;
//   5. it prints "ready: waiting for the peer to hang up" and waits for the call to end by the
//      other side (the peer's BYE).
// The driver of the peer reacts to the "ready:" lines. Output and exit status as webphone_e2e.js.
'use strict';

const { parseArgs, createHarness } = require('./phone_harness');

const opts = parseArgs('webphone_peer.js', process.argv.slice(2), {
  names: { '--user': 'user', '--password': 'password', '--peer': 'peer', '--media-prefix': 'mediaPrefix',
           '--incoming-timeout': 'incomingTimeout' },
  required: ['user', 'password', 'peer'],
  flags: { '--no-loopback-candidates': 'noLoopbackCandidates' },
  usage: '--url URL --user USER@DOMAIN --password PW --peer USER@DOMAIN [--media-prefix PREFIX] ' +
         '[--incoming-timeout SECONDS] [--no-loopback-candidates]',
});
const incomingMs = Number(opts.incomingTimeout || 20) * 1000;
const {
  StepError, sleep, ok, launch, makePhone, openPhone, signIn, click, waitInPage, waitState, summary,
  mediaStats, start,
} = createHarness(opts, { loopbackCandidates: !opts.noLoopbackCandidates });

// Connected, and stays so for opts.hold seconds while RTP (audio) flows both ways.
async function holdWithMedia(phone, what) {
  await waitInPage(phone, "RTCPeerConnection 'connected'",
                   () => window.sipwardenPhone.peerConnectionState() === 'connected');
  const before = await mediaStats(phone);
  const until = Date.now() + opts.hold * 1000;
  while (Date.now() < until) {
    const s = await phone.page.evaluate(() => [window.sipwardenPhone.peerConnectionState(),
                                               window.sipwardenPhone.callState()]);
    if (s[0] !== 'connected' || s[1] !== 'connected') {
      throw new StepError(`${phone.name}: RTCPeerConnection "${s[0]}", call "${s[1]}" during the hold ` +
                          `(page shows: ${await summary(phone)})`);
    }
    await sleep(200);
  }
  const after = await mediaStats(phone);
  const got = after.packetsReceived - before.packetsReceived;
  const sent = after.packetsSent - before.packetsSent;
  if (got <= 0 || sent <= 0 || !after.kinds.includes('audio')) {
    throw new StepError(`${phone.name}: ${what}: no RTP both ways during the ${opts.hold} s hold ` +
                        `(received ${got}, sent ${sent} packets; kinds ${after.kinds.join(', ') || 'none'})`);
  }
  if (opts.mediaPrefix && !(after.pair && after.pair.split(' ⇄ ').every((a) => a.startsWith(opts.mediaPrefix)))) {
    throw new StepError(`${phone.name}: ${what}: the ICE pair in use is ${after.pair}, not on ${opts.mediaPrefix}*`);
  }
  return `RTCPeerConnection 'connected' for ${opts.hold} s, ${got} RTP packets received and ${sent} sent; ` +
         `ICE pair ${after.pair}`;
}

async function run() {
  const phone = makePhone('browser', opts.user, opts.password);
  const version = await launch();
  const check = await openPhone(phone);
  ok(`page loaded in Chromium ${version}: JsSIP ${check.jssip}, WebSocket URL ${opts.ws || check.server}`);

  await signIn(phone, opts.password);
  await waitState(phone, '#reg-state', 'registered', ['failed']);
  ok(`${phone.address} registered`);

  // The page calls the peer.
  await phone.page.uncheck('#call-video');
  await phone.page.fill('#call-target', opts.peer);
  await click(phone, '#call');
  await waitState(phone, '#call-state', 'connected', ['failed', 'ended']);
  ok(`called ${opts.peer}: answered, call connected; ${await holdWithMedia(phone, 'outgoing call')}`);
  await click(phone, '#hangup');
  await waitState(phone, '#call-state', 'ended', ['failed']);
  ok('hung up: the call ended');

  // The peer calls the page.
  console.log(`ready: waiting for a call from ${opts.peer}`);
  await waitState(phone, '#call-state', 'incoming', [], incomingMs);
  const from = await phone.page.textContent('#call-peer');
  if (!from.includes(opts.peer)) throw new StepError(`browser: the incoming call shows "${from}", expected ${opts.peer}`);
  await click(phone, '#answer');
  await waitState(phone, '#call-state', 'connected', ['failed', 'ended']);
  ok(`answered a call from ${from}; ${await holdWithMedia(phone, 'incoming call')}`);
  console.log('ready: waiting for the peer to hang up');
  await waitState(phone, '#call-state', 'ended', ['failed'], incomingMs);
  const by = await phone.page.evaluate(() => document.getElementById('call-cause').dataset.originator);
  if (by !== 'remote') throw new StepError(`browser: the call ended by "${by}", expected the peer's BYE`);
  ok('the peer hung up: the call ended by the other side');
}

start(run);
