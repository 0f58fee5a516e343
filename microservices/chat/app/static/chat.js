// The chat page: plain browser JavaScript, no build step. Every URL is relative to the page,
// so it works on the service itself (/) and behind the gateway (/chat/).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pageBase = new URL(".", location.href);
  // The accounts service sits next to chat behind the gateway (/accounts/ beside /chat/).
  const tokenUrl = new URL("../accounts/auth/token", pageBase);
  const MAX_RETRY_DELAY_MS = 30000;

  const state = {
    room: null,
    socket: null,
    token: sessionStorage.getItem("chat.token"),
    retries: 0,
    reconnectTimer: null,
    watchdogTimer: null,
    pingInterval: 20,
    seen: new Set(),
  };

  // -- connection status and notices ----------------------------------------------------------

  function setStatus(kind, text) {
    const status = $("status");
    status.dataset.state = kind;
    status.textContent = text;
    $("send").disabled = kind !== "online";
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text;
    notice.hidden = false;
  }

  function hideNotice() {
    $("notice").hidden = true;
  }

  // -- messages ------------------------------------------------------------------------------

  function render(message) {
    if (state.seen.has(message.id)) return;
    state.seen.add(message.id);
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.id = message.id;

    let picture;
    if (/^https:\/\//.test(message.avatar || "")) {
      picture = document.createElement("img");
      picture.src = message.avatar;
      picture.alt = "";
    } else {
      picture = document.createElement("span");
      picture.className = "initial";
      const name = message.phone_number || "?";
      // Phone numbers are told apart by their last digits, names by their first letter.
      picture.textContent = /^[+\d]/.test(name) ? name.slice(-2) : name.slice(0, 1).toUpperCase();
    }

    const body = document.createElement("div");
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.phone_number;
    meta.append(author);
    if (message.authenticated) {
      const verified = document.createElement("span");
      verified.className = "verified";
      verified.title = "Signed in";
      verified.textContent = "✓";
      author.append(verified);
    }
    const time = document.createElement("time");
    time.dateTime = message.sent_at;
    time.textContent = new Date(message.sent_at).toLocaleTimeString();
    meta.append(time);
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = message.message;
    body.append(meta, text);

    item.append(picture, body);
    $("messages").append(item);
    item.scrollIntoView({ block: "end" });
  }

  async function loadHistory(room) {
    try {
      const url = new URL(`rooms/${encodeURIComponent(room)}/messages?limit=50`, pageBase);
      const response = await fetch(url);
      if (!response.ok || room !== state.room) return;
      const page = await response.json();
      // History may arrive after live messages; keep the list in time order.
      for (const message of page.messages) render(message);
      sortMessages();
    } catch (error) {
      showNotice("Could not load the history of this room.");
    }
  }

  function sortMessages() {
    const list = $("messages");
    const items = [...list.children];
    items.sort((a, b) => a.querySelector("time").dateTime.localeCompare(b.querySelector("time").dateTime));
    list.append(...items);
  }

  function showPresence(frame) {
    $("count").textContent = String(frame.active_connections);
    const list = $("members");
    list.replaceChildren(
      ...frame.members.map((name) => {
        const item = document.createElement("li");
        item.textContent = name;
        return item;
      }),
    );
    const anonymous = frame.active_connections - frame.members.length;
    const others = frame.members.length ? `and ${anonymous} more` : `${anonymous}`;
    $("anonymous-count").textContent = anonymous > 0 ? `${others} not signed in` : "";
  }

  // -- the socket ----------------------------------------------------------------------------

  function socketUrl(room) {
    const url = new URL(`ws/${encodeURIComponent(room)}`, pageBase);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("presence", "true");
    if (state.token) url.searchParams.set("token", state.token);
    return url.toString();
  }

  function armWatchdog(socket) {
    clearTimeout(state.watchdogTimer);
    // The server pings every ping_interval seconds; silence well beyond that is a dead link.
    state.watchdogTimer = setTimeout(() => abandon(socket, "The connection went quiet"),
      state.pingInterval * 2500);
  }

  function abandon(socket, reason) {
    if (state.socket !== socket) return;
    socket.onclose = null;
    socket.close();
    onClosed(socket, { code: 1006, reason }, true);
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    const room = state.room;
    setStatus("connecting", `connecting to ${room}…`);
    const socket = new WebSocket(socketUrl(room));
    state.socket = socket;
    let opened = false;

    socket.onopen = () => {
      opened = true;
      state.retries = 0;
      setStatus("online", `connected to ${room}`);
      hideNotice();
      loadHistory(room);
      armWatchdog(socket);
    };
    socket.onmessage = (event) => {
      armWatchdog(socket);
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      switch (frame.type) {
        case "message":
          render(frame);
          break;
        case "error":
          showNotice(frame.detail);
          break;
        case "ping":
          socket.send(JSON.stringify({ type: "pong" }));
          break;
        case "welcome":
          state.pingInterval = frame.ping_interval || state.pingInterval;
          showIdentity(frame);
          break;
        case "presence":
          showPresence(frame);
          break;
      }
    };
    socket.onclose = (event) => onClosed(socket, event, opened);
  }

  function onClosed(socket, event, opened) {
    if (state.socket !== socket) return;
    state.socket = null;
    clearTimeout(state.watchdogTimer);
    const delay = Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** state.retries);
    state.retries += 1;
    setStatus("offline", `disconnected — reconnecting in ${Math.round(delay / 1000)} s`);
    if (event.reason) {
      showNotice(`Disconnected: ${event.reason}`);
    } else if (!opened && state.token) {
      showNotice("Could not connect. If this keeps happening, sign out and sign in again.");
    }
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function join(room) {
    if (state.socket) {
      const old = state.socket;
      state.socket = null;
      old.onclose = null;
      old.close(1000);
    }
    state.room = room;
    state.retries = 0;
    state.seen.clear();
    $("messages").replaceChildren();
    history.replaceState(null, "", `#${encodeURIComponent(room)}`);
    connect();
  }

  function rejoin() {
    if (state.room) join(state.room);
  }

  // -- signing in ----------------------------------------------------------------------------

  function showIdentity(welcome) {
    const signedIn = Boolean(welcome.authenticated);
    $("signin-form").hidden = signedIn;
    $("signed-in").hidden = !signedIn;
    $("name").hidden = signedIn;
    $("me").textContent = signedIn ? welcome.phone_number || welcome.user_id : "";
  }

  async function signIn(event) {
    event.preventDefault();
    const error = $("signin-error");
    error.hidden = true;
    try {
      const response = await fetch(tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          phone_number: $("signin-phone").value.trim(),
          password: $("signin-password").value,
        }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(typeof body.detail === "string" ? body.detail : "Sign-in failed");
      }
      const { access_token: token } = await response.json();
      state.token = token;
      sessionStorage.setItem("chat.token", token);
      $("signin-password").value = "";
      rejoin();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  }

  function signOut() {
    state.token = null;
    sessionStorage.removeItem("chat.token");
    showIdentity({ authenticated: false });
    rejoin();
  }

  // -- wiring --------------------------------------------------------------------------------

  function send(event) {
    event.preventDefault();
    const input = $("message");
    const text = input.value;
    if (!text.trim() || !state.socket || state.socket.readyState !== WebSocket.OPEN) return;
    const frame = { message: text, avatar: "" };
    const name = $("name").value.trim();
    if (name) frame.phone_number = name;
    state.socket.send(JSON.stringify(frame));
    input.value = "";
    input.focus();
  }

  $("room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const room = $("room").value.trim();
    if (room) join(room);
  });
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("send-form").addEventListener("submit", send);

  const initial = decodeURIComponent(location.hash.slice(1));
  if (/^[A-Za-z0-9_-]{1,64}$/.test(initial)) $("room").value = initial;
  join($("room").value);
})();
