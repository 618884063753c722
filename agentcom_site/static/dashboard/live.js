/* AgentCom dashboard: the /ws/dashboard connection shared by every page.
 *
 * Keeps one socket open, reconnecting with backoff; after a reconnect the server's
 * snapshot resyncs the page. Pages subscribe with AgentComLive.on(frame => ...).
 * Server-rendered pages mark a [data-live-region] and what they watch on <body>
 * (data-watch="tasks|agents", data-watch-task, data-watch-agent, data-watch-channel); a relevant event
 * re-reads the page and swaps the regions in, so they never need a reload.
 */
(function () {
  "use strict";
  const handlers = [];
  let socket = null;
  let attempt = 0;
  let opened = 0;

  const Live = {
    on(handler) { handlers.push(handler); },
    send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    },
    get resyncs() { return Math.max(0, opened - 1); },
    // The one way a moment is written on the pages (as the `when` filter and the admin
    // write it): UTC, with seconds, "2026-01-02 03:04:05".
    time(ms) { return new Date(ms).toISOString().slice(0, 19).replace("T", " "); },
    clock(ms) { return new Date(ms).toISOString().slice(11, 19); },
    flash(text, level) {
      const box = document.getElementById("flash");
      if (!box) return;
      const p = document.createElement("p");
      p.className = "flash " + (level || "info");
      p.textContent = text;
      box.prepend(p);
      setTimeout(() => p.remove(), 8000);
    },
  };
  window.AgentComLive = Live;

  function setStatus(text, cls) {
    const badge = document.getElementById("live-status");
    if (badge) { badge.textContent = text; badge.className = "live " + cls; }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/dashboard");
    socket.onopen = () => { attempt = 0; opened += 1; setStatus("live", "on"); };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      frame.resync = frame.type === "snapshot" && opened > 1;
      for (const handler of handlers) {
        try { handler(frame); } catch (e) { console.error(e); }
      }
    };
    socket.onclose = () => {
      setStatus("reconnecting", "off");
      const delay = Math.min(5000, 250 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt += 1;
      setTimeout(connect, delay);
    };
  }

  // --- live regions of server-rendered pages ----------------------------------------
  const body = document.body;
  const watching = (body.dataset.watch || "").split(/\s+/).filter(Boolean);
  const watchTask = body.dataset.watchTask;
  const watchAgent = body.dataset.watchAgent;
  const watchChannel = body.dataset.watchChannel;
  // Conversation events concern their channel's page and the agent's page only.
  const CHAT = ["channel_message", "direct_message"];
  const hasRegions = document.querySelector("[data-live-region]") !== null;

  function relevant(event) {
    if (watchTask && event.task_id === watchTask) return true;
    if (watchAgent && event.agent_id === watchAgent) return true;
    if (watchChannel && event.type === "channel_message") return event.channel === watchChannel;
    if (CHAT.includes(event.type)) return false;
    if (watching.includes("tasks") && event.type === "task_event") return true;
    // Task moves reach the agents page through the agent_state events they cause.
    return watching.includes("agents") && event.type !== "task_event";
  }

  // An answer being typed survives a refresh of its region (same id, same text, focus).
  function swapKeepingTyping(region, replacement) {
    const typed = [...region.querySelectorAll("textarea[id]")].filter((f) => f.value);
    const focused = document.activeElement && document.activeElement.id;
    region.innerHTML = replacement.innerHTML;
    for (const old of typed) {
      const field = document.getElementById(old.id);
      if (field) field.value = old.value;
    }
    const again = focused && document.getElementById(focused);
    if (again && region.contains(again)) again.focus();
  }

  let refreshing = false;
  let again = false;
  async function refreshRegions() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (response.redirected && response.url.includes("/login")) { location.reload(); return; }
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of document.querySelectorAll("[data-live-region]")) {
        const replacement = region.id && fresh.getElementById(region.id);
        if (replacement) swapKeepingTyping(region, replacement);
      }
    } catch (e) {
      console.warn("refresh failed", e);
    } finally {
      refreshing = false;
      if (again) { again = false; setTimeout(refreshRegions, 50); }
    }
  }

  if (hasRegions) {
    Live.on((frame) => {
      // Every snapshot, the first too: the regions were rendered before this socket
      // joined the feed, and an event in between would otherwise never show.
      if (frame.type === "snapshot") refreshRegions();
      else if (frame.type === "events" && frame.data.some(relevant)) refreshRegions();
    });
  }

  connect();
})();
