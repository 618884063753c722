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
  const STATUSES = ["queued", "assigned", "working", "input_required", "completed", "dead_letter", "cancelled"];
  const ACTIVITY_SHOWN = 40;
  const COMPLETIONS_SHOWN = 10;

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const $ = (id) => document.getElementById(id);
  // Titles of the tasks the page has heard of, so an event naming only an id shows one.
  const titles = new Map();
  const TITLES_KEPT = 500;
  function learnTitle(id, title) {
    if (!id || !title) return;
    titles.delete(id);
    titles.set(id, title);
    if (titles.size > TITLES_KEPT) titles.delete(titles.keys().next().value);
  }
  const taskLink = (id, title) => {
    const known = title || titles.get(id);
    return `<a href="/dashboard/tasks/${encodeURIComponent(id)}" data-task-link="${esc(id)}">${
      known ? esc(known) : `<code>${esc(id)}</code>`}</a>`;
  };
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
  const time = (ms) => Live.time(ms);

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
    $("queue").innerHTML = `<p class="muted small">Tasks by status</p><div class="figures six">${status}</div>
      <p class="muted small">Queued by priority</p><div class="figures six">${lanes}</div>`;
  }

  function drawThroughput(t) {
    $("throughput").innerHTML = `<div class="figures pair">
      <div class="figure"><span>completed</span><b id="completed-hour">${t.completed_last_hour}</b></div>
      <div class="figure"><span>tasks with a failure</span><b id="failed-hour">${t.failed_last_hour ?? 0}</b></div>
      <div class="figure"><span>average time</span><b>${duration(t.avg_completion_ms)}</b></div>
      <div class="figure"><span>tokens</span><b>${t.total_tokens_hour}</b></div></div>`;
  }

  function drawCharts(series) {
    const points = series.points || [];
    window.AgentComChart.draw($("chart"), {
      points,
      title: "tasks completed and attempts failed per 5 minutes",
      unit: "tasks / 5 min",
      format: (v) => String(Math.round(v)),
      series: [
        { key: "completed", label: "completed", kind: "bar", css: "ok" },
        { key: "failed", label: "failed attempts", kind: "bar", css: "bad" },
      ],
    });
    window.AgentComChart.draw($("latency-chart"), {
      points,
      title: "dispatch latency p50 and p95 per 5 minutes",
      unit: "seconds",
      scale: 1000,
      format: (v) => (v >= 10 ? String(Math.round(v)) : String(Math.round(v * 10) / 10)),
      series: [
        { key: "p50_ms", label: "p50 (median)", kind: "line", css: "p50" },
        { key: "p95_ms", label: "p95", kind: "line", css: "p95" },
      ],
    });
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
      const since = a.fsm_state === "offline"
        ? `offline since <time title="${ago(a.last_state_change, now)}">${time(a.last_state_change)}</time>`
        : `connected since <time title="${ago(a.connected_at, now)}">${a.connected_at ? time(a.connected_at) : "–"}</time>`;
      return `<article class="card a-${esc(a.fsm_state)}" data-agent-id="${esc(a.agent_id)}" data-state="${esc(a.fsm_state)}">
        <header>${agentLink(a.agent_id)} <span class="badge a-${esc(a.fsm_state)}">${esc(a.fsm_state)}</span>${flags}</header>
        <p class="task">${task}</p>
        <p>${caps || "<span class='muted'>no capabilities</span>"}</p>
        <p class="muted small">${since} · ${a.tasks_done_today} done today${saysMore(a) ? ` · “${esc(a.status)}”` : ""}</p>
      </article>`;
    }).join("") : `<p class="muted">No agents yet. Onboard one with <code>manage.py onboard_agent AGENT_ID</code>.</p>`;
  }

  function drawCompletions(rows, now) {
    $("completions").innerHTML = rows.length ? `<table class="grid"><thead><tr><th>Task</th><th>Agent</th><th class="n">Took</th><th class="n">Tokens</th><th>PR</th><th class="n">Finished (UTC)</th></tr></thead><tbody>${
      rows.slice(0, COMPLETIONS_SHOWN).map((c) => `<tr data-task-id="${esc(c.task_id)}"><td>${taskLink(c.task_id, c.title)}</td><td class="nowrap">${agentLink(c.agent_id)}</td>
        <td class="n">${duration(c.duration_ms)}</td><td class="n">${c.tokens_used ?? "–"}</td>
        <td>${c.pr_url ? `<a href="${esc(c.pr_url)}" rel="noopener" target="_blank">pull request</a>` : "–"}</td>
        <td class="n nowrap"><time title="${ago(c.completed_at, now)}">${time(c.completed_at)}</time></td></tr>`).join("")}</tbody></table>` : `<p class="muted">Nothing completed yet.</p>`;
  }

  function drawDeadLetters(rows, total) {
    $("dead-count").textContent = total ? `(${total})` : "";
    $("dead-letters").innerHTML = rows.length ? `<table class="grid"><thead><tr><th>Task</th><th>Last error</th><th>Tries</th><th></th></tr></thead><tbody>${
      rows.map((d) => `<tr data-dead-letter="${esc(d.id)}"><td>${taskLink(d.id, d.title)}</td><td>${esc(d.last_error || "–")}</td>
        <td>${d.retry_count}</td><td><button type="button" class="primary" data-retry="${esc(d.id)}">Retry</button></td></tr>`).join("")}</tbody></table>`
      : `<p class="muted">The dead letter queue is empty.</p>`;
  }

  // Tasks whose agent asked a question come first: the answer box is on the task's page.
  function drawQuestions(rows, now) {
    $("questions-panel").hidden = !rows.length;
    $("question-count").textContent = rows.length ? `(${rows.length})` : "";
    $("questions").innerHTML = rows.map((q) => `<article class="waiting" data-question-task="${esc(q.task_id)}">
      <p>${taskLink(q.task_id, q.title)} · ${q.agent_id ? agentLink(q.agent_id) : "no agent"}
        <span class="muted small">asked ${q.asked_at ? ago(q.asked_at, now) : ""}</span></p>
      <blockquote class="question-text">${esc(q.question)}</blockquote>
      <a class="button primary" href="/dashboard/tasks/${encodeURIComponent(q.task_id)}#answer">Answer</a>
    </article>`).join("");
  }

  function draw(state) {
    const now = state.timestamp;
    drawQuestions(state.waiting_questions || [], now);
    drawHealth(state.health);
    drawQueue(state.queue);
    drawThroughput(state.throughput);
    for (const e of state.recent_events || []) learnTitle(e.task_id, e.title);
    for (const c of state.recent_completions || []) learnTitle(c.task_id, c.title);
    for (const d of state.dead_letter_tasks || []) learnTitle(d.id, d.title);
    for (const a of state.agents || []) learnTitle(a.current_task_id, a.current_task_title);
    drawCharts(state.series || {});
    drawAgents(state.agents, now);
    drawCompletions(state.recent_completions, now);
    drawDeadLetters(state.dead_letter_tasks, state.queue.dead_letter);
    nameTasks();
  }

  // Events that arrived before their task's title was known get it once it is.
  function nameTasks() {
    for (const link of document.querySelectorAll("#activity a[data-task-link]")) {
      const title = titles.get(link.dataset.taskLink);
      if (title && link.querySelector("code")) link.textContent = title;
    }
  }

  // --- the live event list ---------------------------------------------------------------
  function describe(e) {
    switch (e.type) {
      case "task_event": return `${taskLink(e.task_id, e.title)} ${esc(e.event.replace("task_", ""))}${e.agent_id ? " · " + agentLink(e.agent_id) : ""}`;
      case "agent_joined": return `${agentLink(e.agent_id)} joined`;
      case "agent_left": return `${agentLink(e.agent_id)} left`;
      case "agent_state": return `${agentLink(e.agent_id)} is ${esc(e.fsm_state)}`;
      case "status_changed": return `${agentLink(e.agent_id)} status: ${esc(e.status)}`;
      case "channel_message": return `${esc(e.from)} wrote in <a href="/dashboard/channels/${encodeURIComponent(e.channel)}">#${esc(e.channel)}</a>`;
      case "direct_message": return `${esc(e.from)} wrote to ${e.to ? agentLink(e.to) : "operators"}`;
      default: return esc(e.type);
    }
  }
  function addActivity(events) {
    if (!events.length) return;
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
      // Chat changes nothing the snapshot shows.
      if (frame.data.some((e) => !e.type.endsWith("_message"))) wantSnapshot();
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

  // What each UTC day cost (completed and failed attempts): drawn once from the page.
  const costDays = $("cost-days");
  if (costDays) {
    window.AgentComChart.draw($("cost-chart"), {
      points: JSON.parse(costDays.textContent),
      title: "cost per UTC day, completed and failed attempts",
      unit: "USD",
      tick: (t) => new Date(t).toISOString().slice(0, 10),
      series: [{ key: "cost_usd", label: "USD spent", kind: "bar", css: "ok" }],
    });
  }

  const first = JSON.parse($("snapshot").textContent);
  draw(first);
  // Backfill: the latest task events, oldest first so the newest ends on top.
  addActivity((first.recent_events || []).slice().reverse());
})();
