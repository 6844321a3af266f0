// sipwarden web phone: a JsSIP user agent over WebSocket (RFC 7118) with WebRTC calls and
// MESSAGE (RFC 3428) conversations. Every SIP message is built and parsed by JsSIP; this file only
// wires its events to the page. No build step: JsSIP's browser bundle (vendor/jssip.min.js,
// copied from node_modules by scripts/setup.sh) defines the global `JsSIP`.
//
// Tests read the page through stable hooks: element ids, `data-state` attributes
// (#reg-state, #call-state, #pc-state, #hold-state), `data-direction`/`data-peer`/`data-status` on each
// message, and `window.sipwardenPhone` (below).

/* global JsSIP */

const $ = (id) => document.getElementById(id);

const el = {
  identity: $('identity'),
  regState: $('reg-state'),
  login: $('login'),
  loginForm: $('login-form'),
  loginError: $('login-error'),
  user: $('user'),
  password: $('password'),
  server: $('server'),
  displayName: $('display-name'),
  iceServers: $('ice-servers'),
  phone: $('phone'),
  callForm: $('call-form'),
  call: $('call'),
  callTarget: $('call-target'),
  callVideo: $('call-video'),
  callState: $('call-state'),
  callPeer: $('call-peer'),
  callTimer: $('call-timer'),
  callCause: $('call-cause'),
  pcState: $('pc-state'),
  answer: $('answer'),
  reject: $('reject'),
  mute: $('mute'),
  hold: $('hold'),
  holdState: $('hold-state'),
  hangup: $('hangup'),
  media: $('media'),
  remoteVideo: $('remote-video'),
  localVideo: $('local-video'),
  conversations: $('conversations'),
  threadTitle: $('thread-title'),
  messages: $('messages'),
  messageForm: $('message-form'),
  messageTo: $('message-to'),
  messageText: $('message-text'),
  signOut: $('sign-out'),
  log: $('log'),
};

const STORAGE_KEY = 'sipwarden-webphone';
const LOG_LIMIT = 300;

const state = {
  ua: null,
  domain: '',
  pcConfig: { iceServers: [] },
  session: null,        // the call in progress (one at a time; a second incoming call gets 486)
  pc: null,             // its RTCPeerConnection; kept after the call ends (then 'closed')
  incomingVideo: false, // the offer of the incoming call has a video m= line
  connectedAt: 0,
  timer: 0,
  hasCamera: false,
  conversations: new Map(), // peer "user@domain" → { peer, messages: [], unread }
  current: null,            // the peer whose conversation is shown
  nextMessageId: 1,
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function log(text, level = 'info') {
  const li = document.createElement('li');
  li.className = level;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, ' ', text);
  el.log.prepend(li);
  while (el.log.children.length > LOG_LIMIT) el.log.lastChild.remove();
  (level === 'error' ? console.warn : console.log)('[webphone] ' + text);
}

function setRegState(token, text) {
  el.regState.dataset.state = token;
  el.regState.textContent = text || token;
}

function defaultServerUrl() {
  if (location.protocol === 'https:') return `wss://${location.host}/ws`;
  if (location.protocol === 'http:') return `ws://${location.host}/ws`;
  return '';
}

// "alice@example.com" or "sip:alice@example.com" → { user, domain }.
function parseAddress(text) {
  const m = /^(?:sips?:)?([^@\s:;]+)@([^@\s;>]+)$/i.exec(text.trim());
  return m ? { user: m[1], domain: m[2].toLowerCase() } : null;
}

// What the user typed in a "to" field → a SIP URI: "bob" means bob at our own domain.
function targetUri(text) {
  const t = text.trim();
  if (!t) return null;
  if (/^sips?:/i.test(t)) return t;
  if (t.includes('@')) return 'sip:' + t;
  return `sip:${t}@${state.domain}`;
}

// The key of a conversation: the peer's address of record, "user@domain".
function peerOf(uri) {
  return uri.user ? `${uri.user}@${uri.host}` : String(uri.host);
}

// "stun:a:3478\nturn:b" or a JSON array of RTCIceServer → RTCIceServer[] (throws on bad JSON).
function parseIceServers(text) {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith('[')) {
    const list = JSON.parse(t);
    if (!Array.isArray(list)) throw new Error('ICE servers: a JSON array is expected');
    return list;
  }
  return t.split(/[\s,]+/).filter(Boolean).map((urls) => ({ urls }));
}

function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) || {};
  } catch {
    return {};
  }
}

function saveSettings(settings) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    // Storage may be disabled; the settings are a convenience only.
  }
}

// ---------------------------------------------------------------------------------------------
// Registration

function signIn(event) {
  event.preventDefault();
  el.loginError.textContent = '';
  const address = parseAddress(el.user.value);
  if (!address) {
    el.loginError.textContent = 'Enter the full address: user@domain';
    return;
  }
  const url = el.server.value.trim() || defaultServerUrl();
  let iceServers;
  try {
    iceServers = parseIceServers(el.iceServers.value);
  } catch (e) {
    el.loginError.textContent = String(e.message || e);
    return;
  }
  let ua;
  try {
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(url)],
      uri: `sip:${address.user}@${address.domain}`,
      password: el.password.value,
      display_name: el.displayName.value.trim() || undefined,
      register: true,
      user_agent: `sipwarden-webphone JsSIP/${JsSIP.version}`,
    });
  } catch (e) {
    el.loginError.textContent = `Cannot start: ${e.message || e}`;
    return;
  }
  saveSettings({
    user: el.user.value.trim(),
    server: el.server.value.trim(),
    displayName: el.displayName.value.trim(),
    iceServers: el.iceServers.value,
  });
  state.ua = ua;
  state.domain = address.domain;
  state.pcConfig = { iceServers };
  el.identity.textContent = `${address.user}@${address.domain}`;
  el.login.hidden = true;
  el.phone.hidden = false;
  bindUa(ua, url);
  setRegState('connecting', 'connecting…');
  log(`connecting to ${url} as ${address.user}@${address.domain}`);
  ua.start();
}

function bindUa(ua, url) {
  // Events of a UA that was stopped (sign-out, refused credentials) are ignored.
  const current = () => ua === state.ua;

  ua.on('connecting', () => {
    if (current()) setRegState('connecting', 'connecting…');
  });
  ua.on('connected', () => {
    if (!current()) return;
    log(`WebSocket open: ${url}`);
    setRegState('registering', 'registering…');
  });
  ua.on('disconnected', (e) => {
    if (!current()) return;
    const code = e && e.code ? ` (close code ${e.code}${e.reason ? ', ' + e.reason : ''})` : '';
    log(`WebSocket closed${code}${e && e.error ? ' after an error' : ''}; JsSIP reconnects`, 'error');
    setRegState('disconnected', 'disconnected');
  });
  ua.on('registered', (e) => {
    if (!current()) return;
    const expires = e.response && e.response.getHeader('Expires');
    log(`registered${expires ? ` (expires in ${expires} s)` : ''}`);
    setRegState('registered', 'registered');
  });
  ua.on('unregistered', () => {
    if (current()) setRegState('unregistered', 'unregistered');
  });
  ua.on('registrationFailed', (e) => {
    if (!current()) return;
    const status = e.response ? ` (${e.response.status_code} ${e.response.reason_phrase})` : '';
    log(`registration failed: ${e.cause}${status}`, 'error');
    const C = JsSIP.C.causes;
    if ([C.AUTHENTICATION_ERROR, C.REJECTED, C.NOT_FOUND].includes(e.cause) ||
        (e.response && e.response.status_code >= 400 && e.response.status_code < 500)) {
      // Wrong user or password: back to the sign-in form (JsSIP would not get further).
      stopUa();
      el.loginError.textContent = `Registration failed: ${e.cause}${status}`;
      showLogin();
    }
    setRegState('failed', `registration failed: ${e.cause}`);
  });
  ua.on('newRTCSession', (e) => onSession(e.session, e.originator, e.request));
  ua.on('newMessage', (e) => {
    if (e.originator !== 'remote') return;
    const req = e.request;
    const type = (req.getHeader('Content-Type') || 'text/plain').toLowerCase();
    if (!type.startsWith('text/plain')) {
      log(`ignored a MESSAGE of type ${type}`);
      return;
    }
    const peer = peerOf(req.from.uri);
    addMessage(peer, 'in', req.body || '', 'received', req.from.display_name);
    log(`message from ${peer}`);
  });
}

function stopUa() {
  const ua = state.ua;
  state.ua = null;
  if (!ua) return;
  if (state.session && !state.session.isEnded()) {
    try {
      state.session.terminate();
    } catch {
      // Already ending.
    }
  }
  ua.stop(); // un-REGISTERs (Expires: 0), then closes the WebSocket
}

function showLogin() {
  el.phone.hidden = true;
  el.login.hidden = false;
  el.identity.textContent = '';
}

function signOut() {
  stopUa();
  setRegState('signed-out', 'signed out');
  log('signed out');
  showLogin();
}

// ---------------------------------------------------------------------------------------------
// Calls

function setCallState(token, text) {
  if (token !== 'ended' && token !== 'failed') delete el.callState.dataset.by;
  el.callState.dataset.state = token;
  el.callState.textContent = text || token;
  const incomingUnanswered = token === 'incoming';
  const active = ['calling', 'ringing', 'connecting', 'connected'].includes(token);
  el.answer.hidden = !incomingUnanswered;
  el.reject.hidden = !incomingUnanswered;
  el.hangup.hidden = !active;
  el.mute.hidden = token !== 'connected';
  el.hold.hidden = token !== 'connected';
  el.call.disabled = incomingUnanswered || active;
  if (token === 'connected') {
    state.connectedAt = Date.now();
    clearInterval(state.timer);
    state.timer = setInterval(showTimer, 1000);
    showTimer();
  } else if (!active) {
    clearInterval(state.timer);
    state.timer = 0;
  }
}

function showTimer() {
  const seconds = Math.floor((Date.now() - state.connectedAt) / 1000);
  el.callTimer.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function setPcState(value) {
  el.pcState.dataset.state = value;
  el.pcState.textContent = value;
}

function describe(identity) {
  const aor = peerOf(identity.uri);
  return identity.display_name ? `${identity.display_name} <${aor}>` : aor;
}

function onSession(session, originator, request) {
  if (state.session && state.session !== session && !state.session.isEnded()) {
    if (originator === 'remote') {
      log(`busy: refused a call from ${describe(session.remote_identity)}`);
      session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    }
    return;
  }
  state.session = session;
  state.pc = null;
  setPcState('none');
  el.callCause.textContent = '';
  delete el.callCause.dataset.cause;
  delete el.callCause.dataset.originator;
  el.callTimer.textContent = '';
  el.callPeer.textContent = describe(session.remote_identity);

  // For an outgoing call JsSIP creates the RTCPeerConnection before 'newRTCSession'; for an
  // incoming one, when it is answered ('peerconnection').
  if (session.connection) watchPeerConnection(session.connection);
  session.on('peerconnection', (e) => watchPeerConnection(e.peerconnection));

  const mine = () => session === state.session;
  session.on('progress', (e) => {
    if (mine() && originator === 'local') {
      const code = e.response ? e.response.status_code : 0;
      setCallState('ringing', code === 183 ? 'ringing (early media)' : 'ringing…');
    }
  });
  session.on('accepted', () => {
    if (mine()) setCallState('connecting', 'connecting…');
  });
  session.on('confirmed', () => {
    if (!mine()) return;
    setCallState('connected', 'connected');
    showLocalMedia(session.connection);
    log(`call with ${describe(session.remote_identity)} connected`);
  });
  session.on('ended', (e) => {
    if (!mine()) return;
    endCall('ended', e);
  });
  session.on('failed', (e) => {
    if (!mine()) return;
    endCall('failed', e);
  });
  session.on('muted', () => updateMute(session));
  session.on('unmuted', () => updateMute(session));
  // A hold by the other side arrives as a re-INVITE (or UPDATE) whose SDP says sendonly/inactive;
  // our own shows once our re-INVITE is answered (toggleHold).
  session.on('hold', (e) => {
    if (mine() && e.originator === 'remote') updateHold(session);
  });
  session.on('unhold', (e) => {
    if (mine() && e.originator === 'remote') updateHold(session);
  });

  if (originator === 'remote') {
    state.incomingVideo = /^m=video [1-9]/m.test((request && request.body) || '');
    setCallState('incoming', `incoming call${state.incomingVideo ? ' (video)' : ''}`);
    log(`incoming call from ${describe(session.remote_identity)}`);
    notify(`Call from ${describe(session.remote_identity)}`);
  } else {
    setCallState('calling', 'calling…');
  }
}

function endCall(token, e) {
  const who = e.originator === 'local' ? 'you' : e.originator === 'remote' ? 'the other side' : 'the system';
  const status = e.message && e.message.status_code ? ` ${e.message.status_code}` : '';
  el.callCause.textContent = `${e.cause}${status}, by ${who}`;
  el.callCause.dataset.cause = e.cause;
  el.callCause.dataset.originator = e.originator;
  log(`call ${token}: ${e.cause}${status} (by ${who})`, token === 'failed' ? 'error' : 'info');
  // A call that I cancelled or rejected "failed" in JsSIP's terms; it is shown as a plain end.
  el.callState.dataset.by = e.originator;
  setCallState(token, token === 'ended' ? 'ended' : `${e.originator === 'local' ? 'ended' : 'failed'}: ${e.cause}`);
  // JsSIP closes the RTCPeerConnection as the session ends; close() fires no
  // 'connectionstatechange', so the state is read again here.
  const pc = state.pc;
  const showPc = () => setPcState(pc ? pc.connectionState : 'none');
  showPc();
  setTimeout(showPc, 0);
  el.remoteVideo.srcObject = null;
  el.localVideo.srcObject = null;
  el.media.hidden = true;
  el.mute.textContent = 'Mute';
  el.mute.setAttribute('aria-pressed', 'false');
  state.session = null;
  updateHold(null);
}

function watchPeerConnection(pc) {
  if (!pc || pc === state.pc) return;
  state.pc = pc;
  setPcState(pc.connectionState || 'new');
  pc.addEventListener('connectionstatechange', () => {
    if (pc !== state.pc) return;
    setPcState(pc.connectionState);
    log(`media: ${pc.connectionState}`);
  });
  pc.addEventListener('track', (e) => {
    if (pc !== state.pc) return;
    const stream = e.streams[0] || new MediaStream([e.track]);
    if (el.remoteVideo.srcObject !== stream) el.remoteVideo.srcObject = stream;
    if (e.track.kind === 'video') el.media.hidden = false;
    el.remoteVideo.play().catch(() => {
      // Autoplay refused before any click on the page: the next click resumes it.
    });
  });
}

function showLocalMedia(pc) {
  if (!pc) return;
  const video = pc.getSenders().map((s) => s.track).filter((t) => t && t.kind === 'video');
  if (video.length) {
    el.localVideo.srcObject = new MediaStream(video);
    el.media.hidden = false;
  }
}

function updateMute(session) {
  const muted = session.isMuted().audio;
  el.mute.textContent = muted ? 'Unmute' : 'Mute';
  el.mute.setAttribute('aria-pressed', String(muted));
}

function updateHold(session) {
  const h = session ? session.isOnHold() : { local: false, remote: false };
  const token = h.local && h.remote ? 'both' : h.local ? 'local' : h.remote ? 'remote' : 'none';
  el.holdState.dataset.state = token;
  el.holdState.textContent = { none: '', local: 'on hold', remote: 'held by the other side',
                               both: 'on hold (both sides)' }[token];
  el.hold.textContent = h.local ? 'Resume' : 'Hold';
  el.hold.setAttribute('aria-pressed', String(h.local));
  el.hold.disabled = false;
}

// Hold and resume are re-INVITEs through the proxy (RFC 3264 §8.4: sendonly, then sendrecv).
function toggleHold() {
  const s = state.session;
  if (!s || !s.isEstablished()) return;
  const resume = s.isOnHold().local;
  const done = () => {
    if (s !== state.session) return;
    log(resume ? 'call resumed' : 'call on hold');
    updateHold(s);
  };
  if (resume ? s.unhold({}, done) : s.hold({}, done)) {
    el.hold.disabled = true;
    el.hold.textContent = resume ? 'Resuming…' : 'Holding…';
  } else {
    log('cannot change hold now (an offer is in progress)', 'error');
  }
}

function call(event) {
  event.preventDefault();
  if (!state.ua || !state.ua.isRegistered()) {
    log('not registered: cannot call yet', 'error');
    return;
  }
  if (!navigator.mediaDevices) {
    log('calls need a secure page (https:// or localhost)', 'error');
    return;
  }
  const uri = targetUri(el.callTarget.value);
  const video = el.callVideo.checked && state.hasCamera;
  try {
    log(`calling ${uri}${video ? ' with video' : ''}`);
    state.ua.call(uri, {
      mediaConstraints: { audio: true, video },
      pcConfig: state.pcConfig,
    });
  } catch (e) {
    log(`cannot call ${uri}: ${e.message || e}`, 'error');
  }
}

function answer() {
  const s = state.session;
  if (!s || s.direction !== 'incoming') return;
  const video = state.incomingVideo && state.hasCamera;
  s.answer({ mediaConstraints: { audio: true, video }, pcConfig: state.pcConfig });
}

function reject() {
  const s = state.session;
  if (s && !s.isEnded()) s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
}

function hangup() {
  const s = state.session;
  if (s && !s.isEnded()) s.terminate(); // CANCEL, BYE or a rejection, as the state requires
}

function toggleMute() {
  const s = state.session;
  if (!s || !s.isEstablished()) return;
  if (s.isMuted().audio) s.unmute({ audio: true });
  else s.mute({ audio: true });
}

async function detectCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
    state.hasCamera = false;
  } else {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      state.hasCamera = devices.some((d) => d.kind === 'videoinput');
    } catch {
      state.hasCamera = false;
    }
  }
  el.callVideo.disabled = !state.hasCamera;
  el.callVideo.checked = state.hasCamera;
  el.callVideo.parentElement.title = state.hasCamera ? 'Send video' : 'No camera found';
}

// ---------------------------------------------------------------------------------------------
// Messages

function conversation(peer) {
  let c = state.conversations.get(peer);
  if (!c) {
    c = { peer, messages: [], unread: 0 };
    state.conversations.set(peer, c);
  }
  return c;
}

function addMessage(peer, direction, text, status, displayName) {
  const c = conversation(peer);
  const m = { id: state.nextMessageId++, direction, text, status, time: new Date(), displayName };
  c.messages.push(m);
  if (direction === 'in') {
    if (state.current === null) state.current = peer;
    if (state.current !== peer || document.hidden) c.unread++;
    if (document.hidden || state.current !== peer) notify(`Message from ${peer}`);
  }
  render();
  return m;
}

function selectConversation(peer) {
  state.current = peer;
  conversation(peer).unread = 0;
  el.messageTo.value = peer;
  render();
}

function render() {
  // Conversation list, most recent first.
  const list = [...state.conversations.values()].sort((a, b) => {
    const ta = a.messages.length ? a.messages[a.messages.length - 1].time : 0;
    const tb = b.messages.length ? b.messages[b.messages.length - 1].time : 0;
    return tb - ta;
  });
  el.conversations.replaceChildren(...list.map((c) => {
    const li = document.createElement('li');
    li.dataset.peer = c.peer;
    li.classList.toggle('selected', c.peer === state.current);
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = c.peer;
    button.addEventListener('click', () => selectConversation(c.peer));
    li.append(button);
    if (c.unread) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(c.unread);
      li.append(badge);
    }
    return li;
  }));

  const c = state.current ? state.conversations.get(state.current) : null;
  el.threadTitle.textContent = c ? c.peer : 'No conversation selected';
  if (c && !el.messageTo.value) el.messageTo.value = c.peer;
  el.messages.replaceChildren(...(c ? c.messages : []).map((m) => {
    const li = document.createElement('li');
    li.dataset.direction = m.direction;
    li.dataset.peer = c.peer;
    li.dataset.status = m.status;
    li.dataset.id = String(m.id);
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = m.text;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = m.time.toLocaleTimeString() + (m.direction === 'out' ? ` · ${m.status}` : '');
    li.append(text, meta);
    return li;
  }));
  el.messages.scrollTop = el.messages.scrollHeight;
  if (c && !document.hidden) c.unread = 0;
}

function sendMessage(event) {
  event.preventDefault();
  if (!state.ua) return;
  const uri = targetUri(el.messageTo.value);
  const text = el.messageText.value;
  if (!uri || !text) return;
  const parsed = JsSIP.URI.parse(uri);
  if (!parsed) {
    log(`not a SIP address: ${el.messageTo.value}`, 'error');
    return;
  }
  const peer = peerOf(parsed);
  state.current = peer;
  el.messageTo.value = peer;
  const m = addMessage(peer, 'out', text, 'sending');
  el.messageText.value = '';
  const settle = (status, detail) => {
    m.status = status;
    if (detail) log(detail, status === 'failed' ? 'error' : 'info');
    render();
  };
  try {
    state.ua.sendMessage(uri, text, {
      contentType: 'text/plain',
      eventHandlers: {
        succeeded: () => settle('sent'),
        failed: (e) => {
          const status = e.response ? ` (${e.response.status_code} ${e.response.reason_phrase})` : '';
          settle('failed', `message to ${peer} failed: ${e.cause}${status}`);
        },
      },
    });
  } catch (e) {
    settle('failed', `message to ${peer} failed: ${e.message || e}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Notifications in the tab title, for a phone in a background tab.

let titleTimer = 0;
function notify(text) {
  if (!document.hidden) return;
  clearInterval(titleTimer);
  let on = false;
  titleTimer = setInterval(() => {
    on = !on;
    document.title = on ? text : 'sipwarden web phone';
  }, 1000);
}
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  clearInterval(titleTimer);
  document.title = 'sipwarden web phone';
  render();
});

// ---------------------------------------------------------------------------------------------
// Start-up

function init() {
  if (typeof JsSIP === 'undefined') {
    el.loginError.textContent = 'JsSIP is missing (vendor/jssip.min.js): run scripts/setup.sh';
    el.loginForm.querySelector('button').disabled = true;
    return;
  }
  if (new URLSearchParams(location.search).has('debug')) JsSIP.debug.enable('JsSIP:*');
  else JsSIP.debug.disable();

  const saved = loadSettings();
  el.user.value = saved.user || '';
  el.server.value = saved.server || defaultServerUrl();
  el.displayName.value = saved.displayName || '';
  el.iceServers.value = saved.iceServers || '';
  if (!el.server.value) el.login.querySelector('details').open = true;
  if (!window.isSecureContext) {
    log('this page is not a secure context (https:// or localhost): calls are unavailable', 'error');
  }

  el.loginForm.addEventListener('submit', signIn);
  el.signOut.addEventListener('click', signOut);
  el.callForm.addEventListener('submit', call);
  el.answer.addEventListener('click', answer);
  el.reject.addEventListener('click', reject);
  el.hangup.addEventListener('click', hangup);
  el.mute.addEventListener('click', toggleMute);
  el.hold.addEventListener('click', toggleHold);
  el.messageForm.addEventListener('submit', sendMessage);
  el.remoteVideo.addEventListener('click', () => el.remoteVideo.play().catch(() => {}));
  window.addEventListener('pagehide', () => stopUa());
  if (navigator.mediaDevices) navigator.mediaDevices.addEventListener('devicechange', detectCamera);
  detectCamera();
  setRegState('signed-out', 'signed out');
  setCallState('idle', 'idle');
  render();
  log(`JsSIP ${JsSIP.version} ready`);
}

// What the end-to-end test (tests/browser/) reads; also handy from the developer console.
window.sipwardenPhone = {
  get ua() {
    return state.ua;
  },
  get session() {
    return state.session;
  },
  registrationState: () => el.regState.dataset.state,
  callState: () => el.callState.dataset.state,
  peerConnectionState: () => (state.pc ? state.pc.connectionState : 'none'),
  holdState: () => el.holdState.dataset.state,
  // RTP counters and the ICE pair in use, from getStats() of the current (or last) call.
  async mediaStats() {
    const out = { bytesReceived: 0, packetsReceived: 0, bytesSent: 0, packetsSent: 0, kinds: [], pair: null };
    if (!state.pc) return out;
    const report = await state.pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out.bytesReceived += s.bytesReceived || 0;
        out.packetsReceived += s.packetsReceived || 0;
        if (s.packetsReceived) out.kinds.push(s.kind);
      } else if (s.type === 'outbound-rtp') {
        out.bytesSent += s.bytesSent || 0;
        out.packetsSent += s.packetsSent || 0;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        const local = pair && byId.get(pair.localCandidateId);
        const remote = pair && byId.get(pair.remoteCandidateId);
        if (local && remote) {
          out.pair = `${local.address}:${local.port} ⇄ ${remote.address}:${remote.port} ${local.protocol}`;
        }
      }
    });
    out.kinds = [...new Set(out.kinds)].sort();
    return out;
  },
};

init();
