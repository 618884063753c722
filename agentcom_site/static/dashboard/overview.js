/* AgentCom overview: drawn from the dashboard snapshot, kept current by socket events.
 *
 * The page starts from the snapshot embedded in it, then every `snapshot` frame redraws
 * it. A batch of `events` is shown in the live list at once and asks for a fresh
 * snapshot (one request in flight at a time), so figures never drift from the hub.
 */
(function () {
  "use strict";
  const Live = window.AgentComLive;
  const PRIORITY = ["urgent", "high", "normal", "low"];
  const STATUSES = ["queued", "assigned", "working", "completed", "dead_letter", "cancelled"];
  const ACTIVITY_SHOWN = 40;
  const COMPLETIONS_SHOWN = 10;

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const $ = (id) => document.getElementById(id);
  const taskLink = (id, title) => `<a href="/dashboard/tasks/${encodeURIComponent(id)}">${
    title ? esc(title) : `<code>${esc(id)}</code>`}</a>`;
  const agentLink = (id) => (id ? `<a href="/dashboard/agents/${encodeURIComponent(id)}">${esc(id)}</a>` : "–");

  function ago(ms, now) {
    if (!ms) return "–";
    const s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    return `${(ms / 60000).toFixed(1)} min`;
  }
  const time = (ms) => new Date(ms).toISOString().slice(11, 19);

  // --- drawing -----------------------------------------------------------------------
  function drawHealth(health) {
    const box = $("health");
    box.className = `health h-${health.status}`;
    const items = health.items || health.conditions.map((text) => ({ level: "warning", text }));
    box.innerHTML = items.length
      ? `<strong>${esc(health.status)}</strong><ul>${items
        .map((c) => `<li class="${esc(c.level)}">${esc(c.text)}</li>`).join("")}</ul>`
      : "<strong>ok</strong> <span>All agents and queues look healthy.</span>";
  }

  function drawQueue(queue) {
    const status = STATUSES.map((s) =>
      `<div class="figure"><span class="badge s-${s}">${s.replace("_", " ")}</span><b data-status-count="${s}">${queue.by_status[s] ?? 0}</b></div>`).join("");
    const lanes = PRIORITY.map((name, i) =>
      `<div class="figure"><span>${name}</span><b>${queue.by_priority[String(i)] ?? 0}</b></div>`).join("");
    $("queue").innerHTML = `<div class="figures">${status}</div>
      <p class="muted small">Queued by priority</p><div class="figures">${lanes}</div>`;
  }

  function drawThroughput(t) {
    $("throughput").innerHTML = `<div class="figures">
      <div class="figure"><span>completed</span><b id="completed-hour">${t.completed_last_hour}</b></div>
      <div class="figure"><span>average time</span><b>${duration(t.avg_completion_ms)}</b></div>
      <div class="figure"><span>tokens</span><b>${t.total_tokens_hour}</b></div></div>`;
  }

  function drawChart(chart) {
    const points = chart.points || [];
    if (!points.length) { $("chart").innerHTML = ""; return; }
    const W = 600, H = 150, PAD = 22;
    const maxQ = Math.max(1, ...points.map((p) => p.queued));
    const maxC = Math.max(1, ...points.map((p) => p.completed));
    const step = (W - 2 * PAD) / points.length;
    const y = (v, max) => H - PAD - (v / max) * (H - 2 * PAD);
    const bars = points.map((p, i) => {
      const h = (p.completed / maxC) * (H - 2 * PAD);
      return `<rect class="bar" x="${(PAD + i * step + 1).toFixed(1)}" y="${(H - PAD - h).toFixed(1)}" width="${Math.max(1, step - 2).toFixed(1)}" height="${h.toFixed(1)}"><title>${time(p.t)} UTC: ${p.completed} completed</title></rect>`;
    }).join("");
    const line = points.map((p, i) =>
      `${(PAD + (i + 0.5) * step).toFixed(1)},${y(p.queued, maxQ).toFixed(1)}`).join(" ");
    const first = points[0].t, last = points[points.length - 1].t;
    $("chart").innerHTML = `<svg viewBox="0 0 ${W} ${H}" class="chart" role="img" aria-label="queue depth and completions">
      <line class="axis" x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}"/>
      ${bars}<polyline class="depth" points="${line}"/>
      <text x="${PAD}" y="${H - 6}">${time(first)}</text>
      <text x="${W - PAD}" y="${H - 6}" text-anchor="end">${time(last)} UTC</text>
      <text x="${PAD}" y="14">queued (line, max ${maxQ})</text>
      <text x="${W - PAD}" y="14" text-anchor="end">completed per 5 min (bars, max ${maxC})</text>
    </svg>`;
  }

  // The agent's own status text, when it tells more than its lifecycle state does.
  const saysMore = (a) => a.status && !["idle", "connected", "assigned", "working", "offline"].includes(a.status);

  function drawAgents(agents, now) {
    $("agent-count").textContent = `${agents.filter((a) => a.fsm_state !== "offline").length} connected of ${agents.length}`;
    $("agents").innerHTML = agents.length ? agents.map((a) => {
      const flags = (a.flags || []).map((f) => `<span class="badge flag">${esc(f)}</span>`).join("");
      const caps = (a.capabilities || []).map((c) => `<span class="chip">${esc(c.name ?? c)}</span>`).join("");
      const task = a.current_task_id
        ? taskLink(a.current_task_id, a.current_task_title) : "<span class='muted'>no task</span>";
      const since = a.fsm_state === "offline" ? `offline since ${ago(a.last_state_change, now)}` : `connected ${ago(a.connected_at, now)}`;
      return `<article class="card a-${esc(a.fsm_state)}" data-agent-id="${esc(a.agent_id)}" data-state="${esc(a.fsm_state)}">
        <header>${agentLink(a.agent_id)} <span class="badge a-${esc(a.fsm_state)}">${esc(a.fsm_state)}</span>${flags}</header>
        <p class="task">${task}</p>
        <p>${caps || "<span class='muted'>no capabilities</span>"}</p>
        <p class="muted small">${since} · ${a.tasks_done_today} done today${saysMore(a) ? ` · “${esc(a.status)}”` : ""}</p>
      </article>`;
    }).join("") : `<p class="muted">No agents yet. Onboard one with <code>manage.py onboard_agent AGENT_ID</code>.</p>`;
  }

  function drawCompletions(rows, now) {
    $("completions").innerHTML = rows.length ? `<table class="grid"><thead><tr><th>Task</th><th>Agent</th><th class="n">Took</th><th class="n">Tokens</th><th>PR</th><th class="n">When</th></tr></thead><tbody>${
      rows.slice(0, COMPLETIONS_SHOWN).map((c) => `<tr data-task-id="${esc(c.task_id)}"><td>${taskLink(c.task_id, c.title)}</td><td class="nowrap">${agentLink(c.agent_id)}</td>
        <td class="n">${duration(c.duration_ms)}</td><td class="n">${c.tokens_used ?? "–"}</td>
        <td>${c.pr_url ? `<a href="${esc(c.pr_url)}" rel="noopener" target="_blank">pull request</a>` : "–"}</td>
        <td class="n">${ago(c.completed_at, now)}</td></tr>`).join("")}</tbody></table>` : `<p class="muted">Nothing completed yet.</p>`;
  }

  function drawDeadLetters(rows, total) {
    $("dead-count").textContent = total ? `(${total})` : "";
    $("dead-letters").innerHTML = rows.length ? `<table class="grid"><thead><tr><th>Task</th><th>Last error</th><th>Tries</th><th></th></tr></thead><tbody>${
      rows.map((d) => `<tr data-dead-letter="${esc(d.id)}"><td>${taskLink(d.id, d.title)}</td><td>${esc(d.last_error || "–")}</td>
        <td>${d.retry_count}</td><td><button type="button" class="primary" data-retry="${esc(d.id)}">Retry</button></td></tr>`).join("")}</tbody></table>`
      : `<p class="muted">The dead letter queue is empty.</p>`;
  }

  function draw(state) {
    const now = state.timestamp;
    drawHealth(state.health);
    drawQueue(state.queue);
    drawThroughput(state.throughput);
    drawChart(state.chart || {});
    drawAgents(state.agents, now);
    drawCompletions(state.recent_completions, now);
    drawDeadLetters(state.dead_letter_tasks, state.queue.dead_letter);
  }

  // --- the live event list ---------------------------------------------------------------
  function describe(e) {
    switch (e.type) {
      case "task_event": return `${taskLink(e.task_id)} ${esc(e.event.replace("task_", ""))}${e.agent_id ? " · " + agentLink(e.agent_id) : ""}`;
      case "agent_joined": return `${agentLink(e.agent_id)} joined`;
      case "agent_left": return `${agentLink(e.agent_id)} left`;
      case "agent_state": return `${agentLink(e.agent_id)} is ${esc(e.fsm_state)}`;
      case "status_changed": return `${agentLink(e.agent_id)} status: ${esc(e.status)}`;
      default: return esc(e.type);
    }
  }
  function addActivity(events) {
    const list = $("activity");
    const placeholder = list.querySelector(".muted");
    if (placeholder) placeholder.remove();
    for (const e of events) {
      const item = document.createElement("li");
      item.innerHTML = `<time>${time(e.timestamp || Date.now())}</time> ${describe(e)}`;
      list.prepend(item);
    }
    while (list.children.length > ACTIVITY_SHOWN) list.lastElementChild.remove();
  }

  // --- snapshots on demand -------------------------------------------------------------
  let waiting = false;
  let stale = false;
  function wantSnapshot() {
    if (waiting) { stale = true; return; }
    waiting = Live.send({ type: "request_snapshot" });
  }

  Live.on((frame) => {
    if (frame.type === "snapshot") {
      draw(frame.data);
      waiting = false;
      if (stale) { stale = false; wantSnapshot(); }
    } else if (frame.type === "events") {
      addActivity(frame.data);
      wantSnapshot();
    } else if (frame.type === "retry_result") {
      const ok = frame.status === "requeued";
      Live.flash(ok ? `Task ${frame.task_id} is queued again.` : `Task ${frame.task_id} was not retried: ${frame.status.replace("_", " ")}.`, ok ? "success" : "error");
    } else if (frame.type === "error") {
      Live.flash(`Dashboard socket: ${frame.detail || frame.error}`, "error");
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-retry]");
    if (!button) return;
    button.disabled = true;
    if (!Live.send({ type: "retry_task", task_id: button.dataset.retry })) {
      button.disabled = false;
      Live.flash("Not connected to the hub; try again in a moment.", "error");
    }
  });

  draw(JSON.parse($("snapshot").textContent));
})();
