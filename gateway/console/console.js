// The mediatasks web console: a single page served by the gateway itself, talking only to
// the public REST API (/api/v1/media/...) with the user's X-API-Key. Plain modern
// JavaScript, no build step: the DOM is built with h() (textContent only, never HTML from
// data), routes live in the URL hash, live views use the SSE stream (read with fetch, since
// EventSource cannot send the key header) or a short poll.
"use strict";

const API = "/api/v1/media";
const KEY_STORE = "mediatasks.apiKey";
const FINISHED = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const STATUSES = ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"];
const SORTS = [
  ["-created_at", "newest first"],
  ["created_at", "oldest first"],
  ["-updated_at", "recently updated"],
  ["updated_at", "least recently updated"],
  ["priority", "priority"],
];
const PRIORITIES = ["", "urgent", "high", "medium", "low"];
const LONG_TEXT_FIELDS = new Set(["text", "subtitles", "prompt", "negative_prompt"]);
const LIST_POLL_MS = 2000;

// --- small helpers ----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// replaceChildren() would print false/null and arrays as text; this skips and flattens them.
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "—";
}

function relative(timestamp) {
  if (!timestamp) return "—";
  const seconds = Math.round((new Date(timestamp).getTime() - Date.now()) / 1000);
  const span = Math.abs(seconds);
  const text = span < 90 ? `${span} s` : span < 5400 ? `${Math.round(span / 60)} min` : `${Math.round(span / 3600)} h`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function duration(seconds) {
  const value = Number(seconds || 0);
  return value < 90 ? `${value.toFixed(1)} s` : `${(value / 60).toFixed(1)} min`;
}

function bytes(size) {
  const value = Number(size || 0);
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
}

function statusBadge(status) {
  return h("span", { class: `badge status-${String(status || "").toLowerCase()}`, dataset: { status } }, status);
}

function progressBar(percent) {
  const bar = h("span", { class: "bar" });
  bar.style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
  return h("span", { class: "progress", role: "progressbar", "aria-valuenow": percent || 0 }, bar);
}

function showBanner(text, kind = "error") {
  const banner = document.getElementById("banner");
  fill(banner, h("span", {}, text), h("button", { type: "button", class: "link", onclick: () => (banner.hidden = true) }, "dismiss"));
  banner.className = kind;
  banner.hidden = false;
}

function clearBanner() {
  document.getElementById("banner").hidden = true;
}

// --- the API ----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const info = (body && Array.isArray(body.details) ? body.details : []).find((d) => d.reason) || {};
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.reason = info.reason || "";
  }
  toString() {
    return this.reason ? `${this.reason}: ${this.message}` : this.message;
  }
}

const session = {
  get key() {
    return sessionStorage.getItem(KEY_STORE) || localStorage.getItem(KEY_STORE) || "";
  },
  signIn(key, remember) {
    sessionStorage.setItem(KEY_STORE, key);
    if (remember) localStorage.setItem(KEY_STORE, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY_STORE);
    localStorage.removeItem(KEY_STORE);
  },
};

async function api(path, { method = "GET", body, query, headers = {}, key = session.key, signal } = {}) {
  const url = new URL(path.startsWith("/") ? path : `${API}/${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, headers: { "X-API-Key": key, ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) {
    if (response.status === 401 && key === session.key) {
      session.signOut();
      location.hash = "#/signin";
    }
    throw new ApiError(response.status, parsed);
  }
  return { status: response.status, body: parsed };
}

// Uploads with XMLHttpRequest, the one browser API that reports upload progress.
function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${API}/uploads`);
    request.setRequestHeader("X-API-Key", session.key);
    request.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    request.setRequestHeader("X-Filename", file.name);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = { message: request.responseText };
      }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new ApiError(request.status, body));
    };
    request.onerror = () => reject(new ApiError(0, { message: "the upload did not reach the gateway" }));
    request.send(file);
  });
}

// Reads the task's SSE stream with fetch (headers allowed), resuming with Last-Event-ID
// after a dropped connection, until the task has ended or the signal aborts. cursor.lastId
// carries the last event id across calls, so watching a retried task again goes on from
// there instead of replaying its history.
async function watchTask(taskId, onEvent, signal, cursor = { lastId: null }) {
  let finished = false;
  while (!signal.aborted && !finished) {
    try {
      const headers = { "X-API-Key": session.key, Accept: "text/event-stream" };
      if (cursor.lastId) headers["Last-Event-ID"] = cursor.lastId;
      const response = await fetch(`${API}/tasks/${encodeURIComponent(taskId)}/events`, { headers, signal });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = {};
          for (const line of frame.split("\n")) {
            const colon = line.indexOf(":");
            if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "");
          }
          if (fields.id) cursor.lastId = fields.id;
          if (!fields.data) continue;
          const event = JSON.parse(fields.data);
          if (event.task && FINISHED.has(event.task.status)) finished = true;
          onEvent(event);
        }
      }
      // The registry closes the stream once the task has ended and everything was sent.
      finished = true;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// --- the OpenAPI document ---------------------------------------------------------------

let openapiPromise = null;

function openapi() {
  openapiPromise ||= fetch("/api/v1/openapi.json").then((response) => {
    if (!response.ok) throw new Error(`the OpenAPI document answered ${response.status}`);
    return response.json();
  });
  return openapiPromise;
}

function resolveSchema(doc, schema) {
  let current = schema || {};
  for (let depth = 0; current.$ref && depth < 10; depth++) {
    current = { ...doc.components.schemas[current.$ref.split("/").pop()], description: current.description };
  }
  return current;
}

// One entry per task type, read from the submit operations the document marks.
function jobTypes(doc) {
  const types = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [verb, operation] of Object.entries(item)) {
      const taskType = operation["x-mediatasks-task-type"];
      if (!taskType) continue;
      const schema = resolveSchema(doc, operation.requestBody.content["application/json"].schema);
      types.push({ taskType, path, verb, operation, schema });
    }
  }
  return types.sort((a, b) => a.taskType.localeCompare(b.taskType));
}

// --- pages ------------------------------------------------------------------------------

const routes = [
  [/^#\/signin$/, signInPage],
  [/^#\/tasks\/([^/?]+)$/, taskPage],
  [/^#\/tasks(\?.*)?$/, taskListPage],
  [/^#\/submit(?:\/([a-z0-9_]+))?$/, submitPage],
  [/^#\/queues$/, queuesPage],
  [/^#\/statistics$/, statisticsPage],
  [/^#\/providers$/, providersPage],
  [/^#\/health$/, healthPage],
  [/^#\/api$/, apiPage],
];

let pageController = new AbortController();
let flash = null; // a message for the next page, shown after it is drawn

async function render() {
  pageController.abort();
  pageController = new AbortController();
  const signal = pageController.signal;
  clearBanner();
  if (flash) {
    showBanner(flash, "info");
    flash = null;
  }
  let hash = location.hash || "#/tasks";
  if (!session.key && hash !== "#/signin" && hash !== "#/api") {
    hash = "#/signin";
    history.replaceState(null, "", hash); // no hashchange: this render draws it
  }
  const signedIn = Boolean(session.key);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  const main = document.getElementById("main");
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    const section = hash.split(/[/?]/)[1];
    for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === section);
    fill(main, h("p", { class: "muted" }, "Loading…"));
    try {
      await page(main, signal, ...match.slice(1));
    } catch (error) {
      if (!signal.aborted) {
        fill(main, h("h1", {}, "Something went wrong"), h("p", { class: "error-text" }, String(error)));
      }
    }
    return;
  }
  location.hash = "#/tasks";
}

function signInPage(main) {
  const key = h("input", { id: "api-key", type: "password", name: "api_key", autocomplete: "off", required: true, placeholder: "mt_…" });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const error = h("p", { class: "error-text", id: "sign-in-error" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        try {
          await api("tasks", { query: { limit: 1 }, key: key.value.trim() });
          session.signIn(key.value.trim(), remember.checked);
          location.hash = "#/tasks";
        } catch (failure) {
          error.textContent = failure.status === 401 ? "That API key was not accepted." : String(failure);
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Use an API key (", h("code", {}, "mediatasks apikey create"), " or the one ", h("code", {}, "mediatasks up"), " prints)."),
    h("label", { for: "api-key" }, "API key"),
    key,
    h("label", { class: "inline" }, remember, " Remember on this device"),
    h("button", { type: "submit" }, "Sign in"),
    error,
    h("p", { class: "muted" }, h("a", { href: "#/api" }, "Browse the API"), " without signing in."),
  );
  fill(main, form);
  key.focus();
}

// The list: filters, sort and page live in the hash query, so a view can be bookmarked.
async function taskListPage(main, signal, queryText) {
  const params = new URLSearchParams((queryText || "").slice(1));
  const state = {
    task_type: params.get("task_type") || "",
    status: params.get("status") || "",
    sort: params.get("sort") || "-created_at",
    limit: Number(params.get("limit") || 20),
    offset: Number(params.get("offset") || 0),
  };
  const go = (change) => {
    const next = { ...state, ...change };
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(next)) if (value !== "" && value !== null) query.set(name, value);
    location.hash = `#/tasks?${query}`;
  };
  const doc = await openapi();
  const select = (name, options, label) =>
    h(
      "label",
      {},
      label,
      h(
        "select",
        { id: `filter-${name}`, onchange: (event) => go({ [name]: event.target.value, offset: 0 }) },
        options.map(([value, text]) => h("option", { value, selected: String(state[name]) === String(value) }, text)),
      ),
    );
  const tbody = h("tbody", { id: "task-rows" });
  const pager = h("div", { class: "pager" });
  const live = h("span", { class: "live", title: "refreshed every 2 s" }, "live");
  fill(main, 
    h("div", { class: "title-row" }, h("h1", {}, "Tasks"), live, h("span", { class: "spacer" }), h("a", { class: "button", href: "#/submit" }, "Submit a job")),
    h(
      "div",
      { class: "filters" },
      select("task_type", [["", "any type"], ...jobTypes(doc).map((t) => [t.taskType, t.taskType])], "Type "),
      select("status", [["", "any status"], ...STATUSES.map((s) => [s, s])], "Status "),
      select("sort", SORTS, "Sort "),
      select("limit", [10, 20, 50, 100].map((n) => [n, `${n} a page`]), "Show "),
    ),
    h(
      "table",
      { class: "tasks" },
      h("thead", {}, h("tr", {}, ["Task", "Type", "Status", "Progress", "Stage", "Priority", "Created", "Updated"].map((c) => h("th", {}, c)))),
      tbody,
    ),
    pager,
  );

  const refresh = async () => {
    const { body } = await api("tasks", { query: state, signal });
    fill(tbody, 
      ...body.items.map((task) =>
        h(
          "tr",
          { dataset: { taskId: task.task_id } },
          h("td", {}, h("a", { href: `#/tasks/${task.task_id}`, class: "mono" }, task.task_id.slice(0, 8))),
          h("td", {}, task.task_type),
          h("td", {}, statusBadge(task.status)),
          h("td", {}, progressBar(task.progress), ` ${task.progress}%`),
          h("td", {}, task.stage || "", task.status === "QUEUED" && task.queue_position ? ` (#${task.queue_position})` : ""),
          h("td", {}, task.priority),
          h("td", { title: when(task.created_at) }, relative(task.created_at)),
          h("td", { title: when(task.updated_at) }, relative(task.updated_at)),
        ),
      ),
    );
    if (!body.items.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No tasks match.")));
    const first = body.total ? body.offset + 1 : 0;
    const last = body.offset + body.items.length;
    fill(pager, 
      h("button", { type: "button", class: "secondary", disabled: state.offset === 0, onclick: () => go({ offset: Math.max(0, state.offset - state.limit) }) }, "← Previous"),
      h("span", { id: "page-info" }, `${first}–${last} of ${body.total}`),
      h("button", { type: "button", class: "secondary", disabled: last >= body.total, onclick: () => go({ offset: state.offset + state.limit }) }, "Next →"),
    );
  };
  await refresh();
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") refresh().catch((error) => !signal.aborted && showBanner(String(error)));
  }, LIST_POLL_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
}

async function taskPage(main, signal, taskId) {
  let task = (await api(`tasks/${encodeURIComponent(taskId)}`, { signal })).body;
  const header = h("div", { class: "title-row" });
  const facts = h("dl", { class: "facts", id: "task-facts" });
  const actions = h("div", { class: "actions" });
  const events = h("ol", { class: "events", id: "task-events" });
  const logs = h("pre", { class: "logs", id: "task-logs" });
  const webhooks = h("div", { id: "task-webhooks" });
  const output = h("div", { id: "task-output" });
  const input = h("pre", { class: "json", id: "task-input" });
  fill(main, 
    h("p", {}, h("a", { href: "#/tasks" }, "← all tasks")),
    header,
    actions,
    h("div", { class: "grid" }, h("section", { class: "card" }, h("h2", {}, "State"), facts), h("section", { class: "card" }, h("h2", {}, "Live events"), events)),
    h("section", { class: "card" }, h("h2", {}, "Output"), output),
    h("section", { class: "card" }, h("h2", {}, "Logs"), logs),
    h("section", { class: "card" }, h("h2", {}, "Webhook deliveries"), webhooks),
    h("section", { class: "card" }, h("h2", {}, "Input"), h("p", { class: "muted" }, "The request as submitted; fields left at their defaults are not shown."), input),
  );

  const act = (label, run, attrs = {}) =>
    h(
      "button",
      {
        type: "button",
        ...attrs,
        onclick: async () => {
          try {
            task = (await run()).body;
            draw();
            if (!FINISHED.has(task.status)) startWatch();
          } catch (error) {
            showBanner(String(error));
          }
        },
      },
      label,
    );

  let outputDrawnFor = null;
  const draw = () => {
    fill(header, h("h1", {}, task.task_type, " ", h("small", { class: "mono" }, task.task_id)), statusBadge(task.status));
    const live = !FINISHED.has(task.status);
    const rows = [
      ["Status", statusBadge(task.status)],
      ["Progress", h("span", { id: "task-progress" }, progressBar(task.progress), ` ${task.progress}%`)],
      ["Stage", h("span", { id: "task-stage" }, task.stage || "—")],
      live && ["Estimated completion", h("span", { id: "task-eta", title: when(task.estimated_completion) }, relative(task.estimated_completion))],
      task.status === "QUEUED" && ["Queue position", String(task.queue_position || 0)],
      task.queued_reason && ["Waiting because", task.queued_reason],
      ["Attempt", `${task.attempt} of ${task.max_attempts}`],
      task.next_attempt_at && ["Next attempt", relative(task.next_attempt_at)],
      ["Priority", task.priority],
      ["Provider", [task.provider || "—", task.model ? ` (${task.model})` : ""]],
      ["Cost", `$${Number(task.cost_usd || 0).toFixed(4)}`],
      task.cache_hit && ["Result cache", "hit"],
      task.error && ["Error", h("span", { class: "error-text" }, `${task.error.reason}: ${task.error.message}`, task.error.retryable ? " (retryable)" : "")],
      task.status === "CANCELLED" && ["Provider confirmed cancel", task.cancel_confirmed ? "yes" : "no"],
      ["Created", when(task.created_at)],
      ["Started", when(task.started_at)],
      ["Completed", when(task.completed_at)],
      ["Expires", when(task.expires_at)],
      Object.keys(task.metadata || {}).length && ["Metadata", Object.entries(task.metadata).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ")],
    ].filter(Boolean);
    fill(facts, ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    fill(actions, 
      live && act("Cancel", () => api(`tasks/${task.task_id}/cancel`, { method: "POST", body: { reason: "cancelled from the console" } }), { id: "cancel-task", class: "danger" }),
      (task.status === "FAILED" || task.status === "CANCELLED") && act("Retry", () => api(`tasks/${task.task_id}/retry`, { method: "POST", body: {} }), { id: "retry-task" }),
      h(
        "button",
        {
          type: "button",
          id: "delete-task",
          class: "secondary",
          onclick: async () => {
            if (!confirm(live ? "Cancel this task?" : "Delete this task and its output files?")) return;
            try {
              const answer = (await api(`tasks/${task.task_id}`, { method: "DELETE" })).body;
              if (live) {
                task = answer;
                draw();
              } else {
                // A finished task is gone with its files: back to the list.
                flash = `Task ${task.task_id} deleted, with its output files.`;
                location.hash = "#/tasks";
              }
            } catch (error) {
              showBanner(String(error));
            }
          },
        },
        "Delete",
      ),
    );
    input.textContent = JSON.stringify(givenFields(task.input || {}), null, 2);
    if (task.status === "COMPLETED" && outputDrawnFor !== task.updated_at) {
      outputDrawnFor = task.updated_at;
      drawOutput(output, task, signal);
    } else if (task.status !== "COMPLETED") {
      fill(output, h("p", { class: "muted" }, live ? "The output appears here when the task completes." : "No output."));
      outputDrawnFor = null;
    }
  };

  const refreshSide = async () => {
    const [logBody, hookBody] = await Promise.all([
      api(`tasks/${task.task_id}/logs`, { signal }).then((r) => r.body),
      api(`tasks/${task.task_id}/webhooks`, { signal }).then((r) => r.body),
    ]);
    logs.textContent = (logBody.entries || []).map((e) => `${when(e.timestamp)}  [${e.attempt}] ${e.level.padEnd(7)} ${e.message}`).join("\n") || "No log lines yet.";
    drawWebhooks(webhooks, hookBody.deliveries || [], () => refreshSide().catch(() => {}));
  };

  // Events carry the task as of the event; the full read adds queue position and ETA.
  // Progress events come fast: at most one such read (and logs, webhooks) per half second.
  let refreshTimer = null;
  const refreshSoon = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      try {
        task = (await api(`tasks/${task.task_id}`, { signal })).body;
        draw();
        await refreshSide();
      } catch (error) {
        if (!signal.aborted) showBanner(String(error));
      }
    }, 500);
  };
  let watching = null;
  const cursor = { lastId: null };
  const startWatch = () => {
    if (watching) return;
    watching = watchTask(
      task.task_id,
      (event) => {
        events.append(h("li", { dataset: { event: event.event_type } }, h("span", { class: "mono" }, event.event_type), " ", h("span", { class: "muted" }, when(event.timestamp)), event.task ? ` ${event.task.status} ${event.task.progress}% ${event.task.stage || ""}` : ""));
        if (event.task) {
          task = { ...task, ...event.task };
          draw();
        }
        refreshSoon();
      },
      signal,
      cursor,
    )
      .catch((error) => !signal.aborted && showBanner(`event stream: ${error}`))
      .finally(() => {
        watching = null;
      });
  };

  draw();
  await refreshSide();
  startWatch();
  const ticker = setInterval(() => {
    const eta = document.getElementById("task-eta");
    if (eta) eta.textContent = relative(task.estimated_completion);
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(ticker));
}

// The request as the client gave it: proto3 JSON prints every field, defaults included.
function givenFields(value) {
  if (Array.isArray(value)) return value.map(givenFields);
  if (value === null || typeof value !== "object") return value;
  const kept = {};
  for (const [name, field] of Object.entries(value)) {
    const empty = field === "" || field === 0 || field === false || (Array.isArray(field) && !field.length) || (field && typeof field === "object" && !Array.isArray(field) && !Object.keys(field).length);
    if (!empty) kept[name] = givenFields(field);
  }
  return kept;
}

function previewKind(contentType) {
  const type = String(contentType || "").split(";")[0].trim();
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  if (type.startsWith("image/")) return "image";
  if (type.startsWith("text/") || ["application/x-subrip", "application/json"].includes(type) || type.includes("subtitle")) return "text";
  return null;
}

async function drawOutput(container, task, signal) {
  const artifacts = (task.output && task.output.artifacts) || [];
  const result = task.output && task.output.result;
  fill(container, 
    artifacts.length ? h("ul", { class: "artifacts" }, artifacts.map((artifact) => artifactItem(artifact, signal))) : h("p", { class: "muted" }, "No files."),
    result ? h("details", {}, h("summary", {}, "Result"), h("pre", { class: "json", id: "task-result" }, JSON.stringify(result, null, 2))) : null,
  );
}

function artifactItem(artifact, signal) {
  const preview = h("div", { class: "preview", dataset: { artifactId: artifact.artifact_id } });
  const kind = previewKind(artifact.content_type);
  // Downloads need the key header, so bytes come by fetch and play from a blob: URL.
  const load = async () => {
    const response = await fetch(artifact.url, { headers: { "X-API-Key": session.key }, signal });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return response.blob();
  };
  const download = async () => {
    try {
      const link = h("a", { href: URL.createObjectURL(await load()), download: artifact.filename || artifact.artifact_id });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      showBanner(String(error));
    }
  };
  if (kind) {
    load()
      .then(async (blob) => {
        if (kind === "text") fill(preview, h("pre", { class: "subtitle-text" }, await blob.text()));
        else if (kind === "image") fill(preview, h("img", { src: URL.createObjectURL(blob), alt: artifact.filename || "image" }));
        else fill(preview, h(kind, { src: URL.createObjectURL(blob), controls: true, preload: "metadata" }));
      })
      .catch((error) => !signal.aborted && fill(preview, h("p", { class: "error-text" }, `preview failed: ${error}`)));
  }
  return h(
    "li",
    {},
    h("strong", {}, artifact.filename || artifact.artifact_id),
    " ",
    h("span", { class: "muted" }, `${artifact.role || "file"} · ${artifact.content_type} · ${bytes(artifact.size_bytes)}`),
    " ",
    h("button", { type: "button", class: "link", onclick: download }, "download"),
    preview,
  );
}

function drawWebhooks(container, deliveries, refresh) {
  if (!deliveries.length) {
    fill(container, h("p", { class: "muted" }, "No webhook deliveries (the task has no webhook_url, or nothing was sent yet)."));
    return;
  }
  fill(container, 
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["Event", "State", "Attempts", "Last answer", "Next attempt", ""].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        deliveries.map((delivery) => {
          const last = delivery.attempts[delivery.attempts.length - 1];
          return h(
            "tr",
            {},
            h("td", {}, delivery.event_type),
            h("td", {}, delivery.state),
            h("td", {}, String(delivery.attempts.length)),
            h("td", {}, last ? (last.status_code ? `HTTP ${last.status_code}` : last.error || "no answer") : "—"),
            h("td", {}, relative(delivery.next_attempt_at)),
            h(
              "td",
              {},
              h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  onclick: async () => {
                    try {
                      await api(`webhooks/${delivery.delivery_id}/redeliver`, { method: "POST", body: {} });
                      refresh();
                    } catch (error) {
                      showBanner(String(error));
                    }
                  },
                },
                "Redeliver",
              ),
            ),
          );
        }),
      ),
    ),
  );
}

// --- the submit form, built from the OpenAPI request schema of the chosen type ----------

async function submitPage(main, signal, chosen) {
  const doc = await openapi();
  const types = jobTypes(doc);
  const type = types.find((t) => t.taskType === chosen) || types.find((t) => t.taskType === "subtitle_generation") || types[0];
  const optionNames = new Set(Object.keys(resolveSchema(doc, { $ref: "#/components/schemas/SubmitOptions" }).properties || {}));
  const fields = Object.entries(type.schema.properties || {});
  const readers = [];
  const field = ([name, schema]) => {
    const { control, read } = fieldControl(doc, name, schema);
    readers.push([name, read]);
    return h("div", { class: "field" }, h("label", { for: `field-${name}` }, name), control, schema.description ? h("small", { class: "muted" }, schema.description) : null);
  };
  const error = h("p", { class: "error-text", id: "submit-error" });
  const waitSeconds = h("input", { id: "prefer-wait", type: "number", min: 0, max: 60, step: 1, placeholder: "0" });
  const form = h(
    "form",
    {
      class: "card",
      id: "submit-form",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        const body = {};
        try {
          for (const [name, read] of readers) {
            const value = read();
            if (value !== undefined) body[name] = value;
          }
          const headers = { "Idempotency-Key": crypto.randomUUID() };
          if (Number(waitSeconds.value) > 0) headers.Prefer = `wait=${Number(waitSeconds.value)}`;
          const { body: task } = await api(type.path, { method: "POST", body, headers });
          location.hash = `#/tasks/${task.task_id}`;
        } catch (failure) {
          error.textContent = String(failure);
        }
      },
    },
    h("p", { class: "muted" }, type.operation.summary, ". ", h("code", {}, `${type.verb.toUpperCase()} ${type.path}`)),
    fields.filter(([name]) => !optionNames.has(name)).map(field),
    h("details", {}, h("summary", {}, "Submit options (priority, webhook, provider, …)"), fields.filter(([name]) => optionNames.has(name)).map(field)),
    h("div", { class: "field" }, h("label", { for: "prefer-wait" }, "wait for the answer (seconds, Prefer: wait=N)"), waitSeconds),
    h("button", { type: "submit", id: "submit-job" }, "Submit"),
    error,
  );
  fill(main, 
    h(
      "div",
      { class: "title-row" },
      h("h1", {}, "Submit a job"),
      h(
        "select",
        { id: "job-type", onchange: (event) => (location.hash = `#/submit/${event.target.value}`) },
        types.map((t) => h("option", { value: t.taskType, selected: t === type }, t.taskType)),
      ),
    ),
    form,
  );
}

function exampleOf(doc, schema, depth = 0) {
  const resolved = resolveSchema(doc, schema);
  if (depth > 3) return null;
  if (resolved.type === "array") return [exampleOf(doc, resolved.items, depth + 1)];
  if (resolved.type === "object" && resolved.properties) {
    return Object.fromEntries(Object.entries(resolved.properties).slice(0, 6).map(([name, s]) => [name, exampleOf(doc, s, depth + 1)]));
  }
  if (resolved.type === "object") return {};
  if (resolved.type === "integer" || resolved.type === "number") return 0;
  if (resolved.type === "boolean") return false;
  if (resolved.enum) return resolved.enum[1] || resolved.enum[0];
  return "";
}

// One input per request field: its kind follows the schema; a URL-or-artifact field gets a
// file picker that uploads and fills in the artifact id. read() returns undefined for an
// empty field, so only what the user gave is sent.
function fieldControl(doc, name, rawSchema) {
  const schema = resolveSchema(doc, rawSchema);
  const id = `field-${name}`;
  if (name === "priority") {
    const control = h("select", { id, name }, PRIORITIES.map((p) => h("option", { value: p }, p || "default (medium)")));
    return { control, read: () => control.value || undefined };
  }
  if (schema.type === "boolean") {
    const control = h("input", { id, name, type: "checkbox" });
    return { control, read: () => (control.checked ? true : undefined) };
  }
  if (schema.enum) {
    const control = h("select", { id, name }, h("option", { value: "" }, "default"), schema.enum.slice(1).map((v) => h("option", { value: v }, v)));
    return { control, read: () => control.value || undefined };
  }
  if (schema.type === "integer" || schema.type === "number") {
    const control = h("input", { id, name, type: "number", step: schema.type === "integer" ? 1 : "any" });
    return { control, read: () => (control.value === "" ? undefined : Number(control.value)) };
  }
  if (schema.type === "array" && resolveSchema(doc, schema.items).type === "string") {
    const control = h("input", { id, name, placeholder: "comma-separated" });
    return { control, read: () => (control.value.trim() ? control.value.split(",").map((s) => s.trim()).filter(Boolean) : undefined) };
  }
  if (schema.type === "object" && schema.additionalProperties && !schema.properties) {
    const control = h("textarea", { id, name, rows: 2, placeholder: "key=value, one a line" });
    return {
      control,
      read: () => {
        const pairs = control.value.split("\n").map((line) => line.trim()).filter(Boolean);
        if (!pairs.length) return undefined;
        return Object.fromEntries(pairs.map((line) => [line.split("=")[0].trim(), line.split("=").slice(1).join("=").trim()]));
      },
    };
  }
  if (schema.type === "object" || schema.type === "array") {
    const control = h("textarea", { id, name, rows: 4, class: "mono", placeholder: JSON.stringify(exampleOf(doc, schema), null, 1) });
    return {
      control,
      read: () => {
        if (!control.value.trim()) return undefined;
        try {
          return JSON.parse(control.value);
        } catch (error) {
          throw new Error(`${name} is not valid JSON: ${error.message}`);
        }
      },
    };
  }
  const input = LONG_TEXT_FIELDS.has(name) ? h("textarea", { id, name, rows: 4 }) : h("input", { id, name, type: name.includes("secret") ? "password" : "text" });
  const read = () => (input.value.trim() ? input.value.trim() : undefined);
  if (!/artifact id/i.test(schema.description || "")) return { control: input, read };
  const status = h("small", { class: "upload-status", id: `${id}-upload-status` });
  const picker = h("input", {
    type: "file",
    id: `${id}-file`,
    onchange: async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      status.textContent = `uploading ${file.name}…`;
      try {
        const artifact = await uploadFile(file, (share) => (status.textContent = `uploading ${file.name}: ${Math.round(share * 100)}%`));
        input.value = artifact.artifact_id;
        status.textContent = `uploaded ${file.name} (${bytes(artifact.size_bytes)}) as ${artifact.artifact_id}`;
      } catch (error) {
        status.textContent = `upload failed: ${error}`;
      }
    },
  });
  return { control: h("div", { class: "with-upload" }, input, h("label", { class: "inline" }, "or upload ", picker), status), read };
}

// --- queues, statistics, providers, health ----------------------------------------------

function barChart(title, entries, format = String) {
  const width = 380;
  const rowHeight = 24;
  const labelWidth = 150;
  const max = Math.max(1, ...entries.map(([, value]) => Number(value)));
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${Math.max(1, entries.length) * rowHeight + 8}`, class: "chart", role: "img", "aria-label": title },
    entries.map(([label, value], index) => {
      const y = index * rowHeight + 4;
      const barWidth = ((width - labelWidth - 70) * Number(value)) / max;
      return svg(
        "g",
        {},
        svg("text", { x: 0, y: y + 15, class: "chart-label" }, label),
        svg("rect", { x: labelWidth, y, width: Math.max(1, barWidth), height: rowHeight - 8, rx: 3, class: "chart-bar" }),
        svg("text", { x: labelWidth + barWidth + 6, y: y + 15, class: "chart-value" }, format(value)),
      );
    }),
  );
  return h("figure", { class: "card" }, h("figcaption", {}, title), entries.length ? chart : h("p", { class: "muted" }, "No data yet."));
}

async function queuesPage(main, signal) {
  const [{ body: stats }, { body: health }, { body: dead }] = await Promise.all([
    api("statistics", { signal }),
    api("health", { signal }),
    api("dead-letters", { signal }),
  ]);
  const byPriority = ["urgent", "high", "medium", "low"].map((p) => [p, Number((stats.queue_by_priority || {})[p] || 0)]);
  const workers = Object.entries(health.workers || {}).sort();
  fill(main, 
    h("h1", {}, "Queues"),
    h("div", { class: "grid" }, barChart("Queued tasks by priority", byPriority), barChart("Live workers by task type", workers)),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Dead letters"),
      (dead.items || []).length
        ? h(
            "table",
            { id: "dead-letters" },
            h("thead", {}, h("tr", {}, ["Task", "Type", "Reason", "Deliveries", "Dead since", ""].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              dead.items.map((item) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("a", { href: `#/tasks/${item.task_id}`, class: "mono" }, item.task_id.slice(0, 8))),
                  h("td", {}, item.task_type),
                  h("td", {}, item.reason),
                  h("td", {}, String(item.deliveries)),
                  h("td", {}, when(item.dead_lettered_at)),
                  h(
                    "td",
                    {},
                    h(
                      "button",
                      {
                        type: "button",
                        onclick: async () => {
                          try {
                            await api(`dead-letters/${item.task_id}/requeue`, { method: "POST", body: {} });
                            render();
                          } catch (error) {
                            showBanner(String(error));
                          }
                        },
                      },
                      "Requeue",
                    ),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No dead letters."),
    ),
  );
}

async function statisticsPage(main, signal) {
  const windows = [
    [3600, "last hour"],
    [86400, "last 24 hours"],
    [604800, "last 7 days"],
  ];
  const chosen = Number(sessionStorage.getItem("mediatasks.window") || 86400);
  const { body: stats } = await api("statistics", { query: { window_seconds: chosen }, signal });
  const byType = stats.by_type || [];
  fill(main, 
    h(
      "div",
      { class: "title-row" },
      h("h1", {}, "Statistics"),
      h(
        "select",
        {
          id: "stats-window",
          onchange: (event) => {
            sessionStorage.setItem("mediatasks.window", event.target.value);
            render();
          },
        },
        windows.map(([seconds, label]) => h("option", { value: seconds, selected: seconds === chosen }, label)),
      ),
    ),
    h(
      "div",
      { class: "tiles" },
      h("div", { class: "tile" }, h("span", { class: "tile-value", id: "stat-total" }, String(stats.total_tasks)), "tasks"),
      h("div", { class: "tile" }, h("span", { class: "tile-value" }, `${(Number(stats.success_rate) * 100).toFixed(1)}%`), "success rate"),
      h("div", { class: "tile" }, h("span", { class: "tile-value" }, `$${Object.values(stats.cost_by_provider || {}).reduce((a, b) => a + Number(b), 0).toFixed(2)}`), "provider cost"),
    ),
    h(
      "div",
      { class: "grid" },
      barChart("Tasks by status", Object.entries(stats.by_status || {}).map(([k, v]) => [k, Number(v)])),
      barChart("Tasks by type", byType.map((t) => [t.task_type, Number(t.total)])),
      barChart("Failed by type", byType.map((t) => [t.task_type, Number(t.failed)])),
      barChart("Mean run time by type", byType.map((t) => [t.task_type, t.mean_duration_seconds]), duration),
      barChart("95th percentile run time by type", byType.map((t) => [t.task_type, t.p95_duration_seconds]), duration),
      barChart("Cost by provider (USD)", Object.entries(stats.cost_by_provider || {}), (v) => `$${Number(v).toFixed(4)}`),
    ),
  );
}

async function providersPage(main, signal) {
  const { body } = await api("providers", { signal });
  fill(main, 
    h("h1", {}, "Providers"),
    h(
      "table",
      { id: "providers" },
      h("thead", {}, h("tr", {}, ["Provider", "Vendor", "Service", "Task types", "Health", "Configured", "Success", "Latency", "Cost"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        (body.providers || []).map((p) =>
          h(
            "tr",
            {},
            h("td", {}, h("strong", {}, p.name)),
            h("td", {}, p.vendor),
            h("td", {}, p.service),
            h("td", {}, p.task_types.join(", ")),
            h("td", {}, h("span", { class: `badge health-${p.health}` }, p.health)),
            h("td", { title: p.settings.join(", ") }, p.configured ? "yes" : `no (needs ${p.settings.join(", ")})`),
            h("td", {}, `${(Number(p.success_rate) * 100).toFixed(0)}%`),
            h("td", {}, duration(p.mean_latency_seconds)),
            h("td", {}, `$${Number(p.cost_usd).toFixed(4)}`),
          ),
        ),
      ),
    ),
  );
}

async function healthPage(main, signal) {
  const { body } = await api("health", { signal });
  fill(main, 
    h("div", { class: "title-row" }, h("h1", {}, "Health"), h("span", { class: `badge health-${body.status}`, id: "health-status" }, body.status)),
    h("p", { class: "muted" }, `registry version ${body.version}`),
    h(
      "div",
      { class: "grid" },
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Dependencies"),
        h("dl", { class: "facts" }, Object.entries(body.dependencies || {}).sort().flatMap(([name, state]) => [h("dt", {}, name), h("dd", { class: state === "ok" ? "" : "error-text" }, state)])),
      ),
      barChart("Live workers by task type", Object.entries(body.workers || {}).sort()),
    ),
  );
}

// --- the API browser ----------------------------------------------------------------------

function typeLabel(doc, schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `${typeLabel(doc, schema.items)}[]`;
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") return `map<string, ${typeLabel(doc, schema.additionalProperties)}>`;
  return [schema.type, schema.format].filter(Boolean).join(" ") || "any";
}

function schemaView(doc, schema, depth = 0) {
  const resolved = resolveSchema(doc, schema);
  if (resolved.enum) return h("p", {}, "One of ", resolved.enum.map((v) => h("code", {}, v, " ")));
  if (!resolved.properties) return h("p", { class: "mono" }, typeLabel(doc, schema));
  return h(
    "table",
    { class: "schema" },
    h(
      "tbody",
      {},
      Object.entries(resolved.properties).map(([name, property]) => {
        const nested = property.$ref || (property.items && property.items.$ref);
        return h(
          "tr",
          {},
          h("td", { class: "mono" }, name),
          h("td", { class: "mono muted" }, typeLabel(doc, property)),
          h("td", {}, property.description || "", nested && depth < 3 ? h("details", {}, h("summary", {}, "fields"), schemaView(doc, property.$ref ? property : property.items, depth + 1)) : null),
        );
      }),
    ),
  );
}

async function apiPage(main) {
  const doc = await openapi();
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [verb, operation] of Object.entries(item)) {
      const tag = (operation.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, verb, operation });
    }
  }
  fill(main, 
    h("div", { class: "title-row" }, h("h1", {}, doc.info.title, " ", h("small", {}, doc.info.version)), h("span", { class: "spacer" }), h("a", { href: "/api/v1/openapi.json", class: "button secondary", download: "openapi.json" }, "openapi.json")),
    h("p", { class: "muted" }, doc.info.description),
    [...byTag.entries()].map(([tag, operations]) =>
      h(
        "section",
        { class: "card" },
        h("h2", {}, tag),
        h("p", { class: "muted" }, (doc.tags.find((t) => t.name === tag) || {}).description || ""),
        operations.map(({ path, verb, operation }) =>
          h(
            "details",
            { class: "operation", dataset: { operationId: operation.operationId } },
            h("summary", {}, h("span", { class: `verb verb-${verb}` }, verb.toUpperCase()), " ", h("code", {}, path), " ", h("span", { class: "muted" }, operation.summary)),
            h("p", {}, operation.description),
            operation.parameters
              ? h(
                  "table",
                  { class: "schema" },
                  h("thead", {}, h("tr", {}, h("th", {}, "parameter"), h("th", {}, "in"), h("th", {}, "type"), h("th", {}, ""))),
                  h("tbody", {}, operation.parameters.map((p) => h("tr", {}, h("td", { class: "mono" }, p.name), h("td", {}, p.in), h("td", { class: "mono muted" }, typeLabel(doc, p.schema)), h("td", {}, p.description || "")))),
                )
              : null,
            operation.requestBody
              ? Object.entries(operation.requestBody.content).map(([type, media]) => h("div", {}, h("h3", {}, "Request body ", h("code", {}, type)), schemaView(doc, media.schema)))
              : null,
            Object.entries(operation.responses).map(([code, response]) =>
              h(
                "div",
                {},
                h("h3", {}, `${code === "default" ? "Errors" : code} `, h("span", { class: "muted" }, response.description)),
                Object.entries(response.content || {}).map(([type, media]) => h("div", {}, h("code", {}, type), schemaView(doc, media["x-mediatasks-event-data"] || media.schema))),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

// --- start ------------------------------------------------------------------------------

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  location.hash = "#/signin";
});
window.addEventListener("hashchange", render);
render();
