// The lot's live socket: reconnects with backoff and `?after=` so no event is lost or repeated,
// and keeps the offset of the server's clock so countdowns follow the server, not the phone.
const SILENCE_MS = 40000; // heartbeats come every ~15 s; this much silence means a dead link
const MAX_DELAY_MS = 8000;
const CLOSE_NOT_FOUND = 4004;
const CLOSE_FORBIDDEN_ORIGIN = 4003;

/** The server's clock as seen from here: offset = server_time - Date.now() at receipt. */
export class ServerClock {
  constructor() {
    this.offset = 0;
  }

  update(serverTime) {
    const at = Date.parse(serverTime);
    if (!Number.isNaN(at)) this.offset = at - Date.now();
  }

  now() {
    return Date.now() + this.offset;
  }
}

/**
 * One lot's socket. Callbacks: onFrame(frame) for snapshots, events and personal messages in
 * order; onStatus(state, detail) with state connecting | live | reconnecting | gone.
 */
export class LiveConnection {
  constructor(lotId, { after = null, clock, onFrame, onStatus }) {
    this.lotId = lotId;
    this.lastSeq = after;
    this.clock = clock;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.attempts = 0;
    this.socket = null;
    this.timer = null;
    this.watchdog = null;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = this.lastSeq === null ? "" : `?after=${this.lastSeq}`;
    return `${scheme}//${location.host}/ws/lots/${this.lotId}${after}`;
  }

  start() {
    this.stopped = false;
    this.onStatus(this.attempts ? "reconnecting" : "connecting", { attempts: this.attempts });
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempts = 0;
      this.onStatus("live", {});
      socket.send(JSON.stringify({ type: "ping" }));
      this.armWatchdog();
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  receive(text) {
    this.armWatchdog();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.server_time) this.clock.update(frame.server_time);
    if (frame.type === "snapshot") {
      this.lastSeq = frame.seq;
    } else if (frame.type === "event") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // already seen
      if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) {
        this.socket.close(); // a gap: come back with ?after= and get exactly what was missed
        return;
      }
      this.lastSeq = frame.seq;
    }
    this.onFrame(frame);
  }

  armWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.socket && this.socket.close(), SILENCE_MS);
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    clearTimeout(this.watchdog);
    this.socket = null;
    if (this.stopped) return;
    if (code === CLOSE_NOT_FOUND || code === CLOSE_FORBIDDEN_ORIGIN) {
      this.onStatus("gone", { code });
      return;
    }
    this.attempts += 1;
    const base = Math.min(MAX_DELAY_MS, 500 * 2 ** (this.attempts - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    this.onStatus("reconnecting", { attempts: this.attempts, delay });
    this.timer = setTimeout(() => this.start(), delay);
  }

  /** Back online or back on screen: do not wait for the backoff. */
  reconnectNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.timer);
    this.start();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.socket) this.socket.close();
  }
}
