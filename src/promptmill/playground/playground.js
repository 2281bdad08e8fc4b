// promptmill playground: vanilla JS, no build step, talks only to its own origin.
//
// The tools are called with "stream": true so the server answers with Server-Sent
// Events (progress, then result or error). EventSource cannot POST, so the stream is
// read with fetch and a reader. The API key lives in localStorage and is only ever
// sent with relative URLs, i.e. to the origin that served this page. The Evaluate tab
// lives in evaluate.js, loaded after this file into the same global scope.
"use strict";

const KEY_STORAGE = "promptmill.apiKey";
const API_HEADERS = {
  "anthropic-version": "2023-06-01",
  "anthropic-beta": "prompt-tools-2025-04-02",
  "content-type": "application/json",
};
const VARIABLE = /(\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})/;
const ENDPOINT_LABELS = {
  generate_prompt: "generate",
  improve_prompt: "improve",
  templatize_prompt: "templatize",
  generate_cases: "cases",
  eval_run: "eval run",
};

const PM = "/v1/promptmill";

const $ = (id) => document.getElementById(id);

// -- the key -------------------------------------------------------------------

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function showKeyState() {
  const status = $("key-status");
  if (apiKey()) {
    status.textContent = "Key saved";
    status.classList.add("ok");
  } else {
    status.textContent = "No key yet";
    status.classList.remove("ok");
  }
}

function setupKey() {
  $("api-key").value = apiKey();
  showKeyState();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("api-key").value.trim();
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
    showKeyState();
    historyLoaded = false;
    evalListsStale = true;
    if (currentTab() === "history") loadHistory();
    if (currentTab() === "evaluate") loadEvalLists();
  });
}

// -- talking to the API --------------------------------------------------------

class ApiError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

function errorFromBody(body, status) {
  const err = body && body.error;
  if (err && err.type) return new ApiError(err.type, err.message || "");
  return new ApiError("api_error", `HTTP ${status}`);
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : null;
}

// Read a text/event-stream body to its end, calling onEvent(name, parsedJson) per event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const handle = (block) => {
    const parsed = parseEvent(block);
    if (parsed) onEvent(parsed.event, JSON.parse(parsed.data));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop();
    blocks.forEach(handle);
  }
  buffer += decoder.decode();
  if (buffer.trim()) handle(buffer);
}

// POST a tool request with streaming on; calls onProgress for each progress event and
// resolves with the result body (the same JSON a non-streaming call returns).
async function callTool(path, body, onProgress) {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...API_HEADERS, "x-api-key": apiKey(), accept: "text/event-stream" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!response.ok) throw errorFromBody(await readJson(response), response.status);
  const type = response.headers.get("content-type") || "";
  if (!type.startsWith("text/event-stream") || !response.body) return readJson(response);

  let result = null;
  await readEvents(response, (event, payload) => {
    if (event === "progress") onProgress(payload);
    else if (event === "result") result = payload;
    else if (event === "error") throw errorFromBody(payload, 500);
  });
  if (result === null) throw new ApiError("api_error", "the event stream ended without a result");
  return result;
}

// A JSON call to the promptmill extensions (/v1/promptmill/...): resolves with
// {status, body}; an error answer rejects with an ApiError.
async function apiCall(method, path, body) {
  const init = { method, headers: { ...API_HEADERS, "x-api-key": apiKey() } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const data = await readJson(response);
  if (!response.ok) throw errorFromBody(data, response.status);
  return { status: response.status, body: data };
}

async function api(method, path, body) {
  return (await apiCall(method, path, body)).body;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { "x-api-key": apiKey() } });
  const body = await readJson(response);
  if (!response.ok) throw errorFromBody(body, response.status);
  return body;
}

// -- rendering -----------------------------------------------------------------

function highlighted(text) {
  const fragment = document.createDocumentFragment();
  text.split(VARIABLE).forEach((part, index) => {
    if (!part) return;
    if (index % 2 === 1) {
      const mark = document.createElement("mark");
      mark.className = "var";
      mark.textContent = part;
      fragment.append(mark);
    } else {
      fragment.append(document.createTextNode(part));
    }
  });
  return fragment;
}

function messageText(message) {
  if (typeof message.content === "string") return message.content;
  return message.content.map((block) => block.text || "").join("");
}

function promptCard(title, text, kind) {
  const card = $("prompt-card").content.firstElementChild.cloneNode(true);
  card.classList.add(kind);
  card.dataset.kind = kind;
  card.querySelector(".card-title").textContent = title;
  card.querySelector(".prompt-text").append(highlighted(text));
  const copy = card.querySelector(".btn-copy");
  copy.setAttribute("aria-label", `Copy ${title.toLowerCase()}`);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed";
    }
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  });
  return card;
}

function chip(label, value) {
  const span = document.createElement("span");
  span.className = "chip";
  const b = document.createElement("b");
  b.textContent = value;
  span.append(`${label} `, b);
  return span;
}

function metaLine(result, latencyMs) {
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.dataset.role = "meta";
  const usage = result.usage || [];
  const input = usage.reduce((sum, u) => sum + (u.input_tokens || 0), 0);
  const output = usage.reduce((sum, u) => sum + (u.output_tokens || 0), 0);
  meta.append(
    chip("input tokens", input.toLocaleString()),
    chip("output tokens", output.toLocaleString()),
    chip("model calls", String(usage.length)),
  );
  if (latencyMs != null) meta.append(chip("latency", `${(latencyMs / 1000).toFixed(2)} s`));
  return meta;
}

function valuesTable(values) {
  const card = document.createElement("article");
  card.className = "card output-card values-card";
  const head = document.createElement("header");
  head.className = "card-head";
  const title = document.createElement("h3");
  title.className = "card-title";
  title.textContent = "Variable values";
  head.append(title);
  const table = document.createElement("table");
  table.id = "variable-values";
  const thead = table.createTHead().insertRow();
  for (const name of ["Variable", "Original value"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    thead.append(th);
  }
  const tbody = table.createTBody();
  if (Object.keys(values).length === 0) {
    const cell = tbody.insertRow().insertCell();
    cell.colSpan = 2;
    cell.className = "empty";
    cell.textContent = "No concrete values were found to turn into variables.";
  }
  for (const [name, value] of Object.entries(values)) {
    const row = tbody.insertRow();
    row.insertCell().append(highlighted(`{{${name}}}`));
    row.insertCell().textContent = value;
  }
  card.append(head, table);
  return card;
}

function renderResult(container, result, latencyMs) {
  container.replaceChildren();
  if (result.system) container.append(promptCard("System", result.system, "system"));
  for (const message of result.messages || []) {
    const isUser = message.role === "user";
    container.append(
      promptCard(isUser ? "Prompt" : "Prefill (assistant)", messageText(message), isUser ? "prompt" : "prefill"),
    );
  }
  if (result.variable_values) container.append(valuesTable(result.variable_values));
  container.append(metaLine(result, latencyMs));
}

// -- progress and errors -------------------------------------------------------

function progressView(id) {
  const box = $(id);
  const seen = [];
  return {
    start() {
      seen.length = 0;
      box.replaceChildren();
      const step = document.createElement("span");
      step.className = "step current";
      step.textContent = "sending";
      box.append(step);
      box.hidden = false;
    },
    update(progress) {
      if (!seen.includes(progress.stage)) seen.push(progress.stage);
      box.replaceChildren();
      seen.forEach((stage, index) => {
        const step = document.createElement("span");
        step.className = index === seen.length - 1 ? "step current" : "step";
        step.textContent = stage;
        box.append(step);
      });
      const message = document.createElement("span");
      message.className = "message";
      const attempt = progress.attempt > 1 ? ` (attempt ${progress.attempt})` : "";
      message.textContent = `${progress.message || ""}${attempt}`;
      box.append(message);
    },
    stop() {
      box.hidden = true;
    },
  };
}

function showError(id, error) {
  const box = $(id);
  box.replaceChildren();
  if (!error) {
    box.hidden = true;
    return;
  }
  const type = document.createElement("strong");
  type.textContent = error.type || "error";
  let message = error.message;
  if (error.type === "authentication_error") message += " — enter a valid API key at the top.";
  box.append(type, document.createTextNode(message));
  box.hidden = false;
}

async function runTool({ button, progressId, errorId, path, body, onResult }) {
  const progress = progressView(progressId);
  showError(errorId, null);
  button.disabled = true;
  progress.start();
  const started = performance.now();
  try {
    const result = await callTool(path, body, (event) => progress.update(event));
    onResult(result, performance.now() - started);
    historyLoaded = false;
  } catch (error) {
    showError(errorId, error instanceof ApiError ? error : new ApiError("connection_error", String(error.message || error)));
  } finally {
    progress.stop();
    button.disabled = false;
  }
}

// -- the generate / improve panel ----------------------------------------------

let currentPrompt = null; // {messages, system, target_model} the improve box works on
let templatizedPrompt = null; // {messages, system} of the templatize panel's result
let editorPrompt = null; // the last prompt shown by any tool: what Evaluate calls "the editor"

function setEditorPrompt(result) {
  editorPrompt = { messages: result.messages, system: result.system || "" };
  evalListsStale = true;
}

function showPromptResult(result, latencyMs, targetModel) {
  currentPrompt = { messages: result.messages, system: result.system || "", target_model: targetModel };
  setEditorPrompt(result);
  renderResult($("generate-output"), result, latencyMs);
  $("generate-save-status").textContent = "";
  $("generate-result").hidden = false;
}

function showTemplatizeResult(result, latencyMs) {
  templatizedPrompt = { messages: result.messages, system: result.system || "" };
  setEditorPrompt(result);
  renderResult($("templatize-output"), result, latencyMs);
  $("templatize-save-status").textContent = "";
  $("templatize-result").hidden = false;
}

// Save the panel's prompt as a new version of a named prompt, in one step.
function setupSave(panel, promptOf) {
  $(`${panel}-save-form`).addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = promptOf();
    const status = $(`${panel}-save-status`);
    const name = $(`${panel}-save-name`).value.trim();
    if (!prompt || !name) return;
    const button = $(`${panel}-save-button`);
    button.disabled = true;
    status.classList.remove("failed");
    try {
      const saved = await apiCall("POST", `${PM}/prompts`, { name, ...prompt });
      const version = saved.body;
      status.textContent =
        saved.status === 201
          ? `Saved as ${version.name}, version ${version.number}`
          : `Unchanged: already ${version.name}, version ${version.number}`;
      evalListsStale = true;
    } catch (error) {
      status.classList.add("failed");
      status.textContent = `${error.type || "error"}: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  $(`${panel}-save-form`).querySelector("[data-evaluate-editor]").addEventListener("click", () => {
    const prompt = promptOf();
    if (prompt) editorPrompt = { ...prompt };
    evalListsStale = true;
    pickEditorForA = true;
    selectTab("evaluate", true);
  });
}

function setupGenerate() {
  $("generate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const task = $("task").value.trim();
    if (!task) {
      $("task").focus();
      return;
    }
    const targetModel = $("target-model").value.trim() || null;
    const body = { task };
    if (targetModel) body.target_model = targetModel;
    runTool({
      button: $("generate-button"),
      progressId: "generate-progress",
      errorId: "generate-error",
      path: "/v1/experimental/generate_prompt",
      body,
      onResult: (result, latency) => showPromptResult(result, latency, targetModel),
    });
  });

  $("improve-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!currentPrompt) return;
    const body = { messages: currentPrompt.messages };
    if (currentPrompt.system) body.system = currentPrompt.system;
    const feedback = $("feedback").value.trim();
    if (feedback) body.feedback = feedback;
    const targetModel = $("target-model").value.trim() || currentPrompt.target_model;
    if (targetModel) body.target_model = targetModel;
    runTool({
      button: $("improve-button"),
      progressId: "generate-progress",
      errorId: "generate-error",
      path: "/v1/experimental/improve_prompt",
      body,
      onResult: (result, latency) => showPromptResult(result, latency, targetModel),
    });
  });
}

// -- the templatize panel ------------------------------------------------------

function setupTemplatize() {
  $("templatize-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = $("templatize-prompt").value;
    if (!prompt.trim()) {
      $("templatize-prompt").focus();
      return;
    }
    const body = { messages: [{ role: "user", content: [{ type: "text", text: prompt }] }] };
    const system = $("templatize-system").value;
    if (system) body.system = system;
    runTool({
      button: $("templatize-button"),
      progressId: "templatize-progress",
      errorId: "templatize-error",
      path: "/v1/experimental/templatize_prompt",
      body,
      onResult: (result, latency) => showTemplatizeResult(result, latency),
    });
  });
}

// -- history -------------------------------------------------------------------

let historyLoaded = false;

function endpointName(endpoint) {
  const last = String(endpoint || "").split("/").pop();
  return ENDPOINT_LABELS[last] || last;
}

// Without PROMPTMILL_STORE_BODIES a record keeps only the body sizes ({body_bytes, ...}).
function bodyStored(call) {
  return !("body_bytes" in (call.request || {}));
}

function callSummary(call) {
  const request = call.request || {};
  // An evaluation run's model calls are recorded per part (chunk) its worker evaluated.
  if (request.run_id) return `evaluation run ${request.run_id}, part ${request.chunk + 1}`;
  if (!bodyStored(call)) return `(body not kept: ${request.body_bytes.toLocaleString()} bytes)`;
  if (request.task) return request.task;
  const first = (request.messages || [])[0];
  return first ? messageText(first) : "(empty request)";
}

function historyItem(call) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "history-item";
  button.dataset.callId = call.id;
  const failed = call.status >= 400;
  const badge = document.createElement("span");
  badge.className = failed ? "badge failed" : "badge";
  badge.textContent = endpointName(call.endpoint);
  const summary = document.createElement("span");
  summary.className = "summary";
  summary.textContent = callSummary(call).replace(/\s+/g, " ");
  const when = document.createElement("time");
  when.className = "when";
  when.dateTime = call.created_at;
  when.textContent = new Date(call.created_at).toLocaleString();
  const details = document.createElement("span");
  details.className = "details";
  const tokens = (call.usage || []).reduce((s, u) => s + u.input_tokens + u.output_tokens, 0);
  const parts = [
    failed ? `failed: ${call.error_type || call.status}` : `${tokens.toLocaleString()} tokens`,
    `${Math.round(call.latency_ms)} ms`,
  ];
  if (call.target_model) parts.push(call.target_model);
  details.textContent = parts.join(" · ");
  button.append(badge, summary, when, details);
  button.addEventListener("click", () => reopen(call.id));
  item.append(button);
  return item;
}

async function loadHistory() {
  showError("history-error", null);
  try {
    const page = await getJson("/v1/promptmill/history?limit=50");
    const list = $("history-list");
    list.replaceChildren(...page.data.map(historyItem));
    $("history-empty").hidden = page.data.length > 0;
    $("history-workspace").textContent = page.workspace ? `in workspace “${page.workspace}”` : "";
    historyLoaded = true;
  } catch (error) {
    showError("history-error", error);
  }
}

async function reopen(callId) {
  let call;
  try {
    call = await getJson(`/v1/promptmill/history/${encodeURIComponent(callId)}`);
  } catch (error) {
    showError("history-error", error);
    return;
  }
  const request = call.request || {};
  const name = endpointName(call.endpoint);
  if (name === "eval run") {
    selectTab("evaluate");
    reopenRun(request.run_id);
    return;
  }
  if (name === "cases" || name === "optimize") {
    selectTab("evaluate");
    if (name === "optimize" && call.response) showOptimized(call.response);
    return;
  }
  if (!bodyStored(call)) {
    showError("history-error", new ApiError("not_stored",
      "this server keeps only the sizes of request bodies (PROMPTMILL_STORE_BODIES is off)"));
    return;
  }
  if (name === "templatize") {
    selectTab("templatize");
    const first = (request.messages || [])[0];
    $("templatize-prompt").value = first ? messageText(first) : "";
    $("templatize-system").value = request.system || "";
    showError("templatize-error", call.response ? null : new ApiError(call.error_type || "api_error", "this call failed"));
    if (call.response) showTemplatizeResult(call.response, call.latency_ms);
    $("templatize-prompt").focus();
    return;
  }
  selectTab("generate");
  if (request.task) $("task").value = request.task;
  $("target-model").value = request.target_model || "";
  if (name === "improve") $("feedback").value = request.feedback || "";
  showError("generate-error", call.response ? null : new ApiError(call.error_type || "api_error", "this call failed"));
  if (call.response) {
    showPromptResult(call.response, call.latency_ms, request.target_model || null);
    $("generate-output").querySelector(".prompt-text").focus();
  }
}

// -- tabs and keyboard -----------------------------------------------------------

const TABS = ["generate", "templatize", "evaluate", "history"];

function currentTab() {
  return TABS.find((name) => $(`tab-${name}`).getAttribute("aria-selected") === "true");
}

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const selected = tab === name;
    const button = $(`tab-${tab}`);
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
  }
  document.body.dataset.tab = name;
  if (focus) $(`tab-${name}`).focus();
  if (name === "history" && !historyLoaded) loadHistory();
  if (name === "evaluate" && (evalListsStale || pickEditorForA)) loadEvalLists();
}

function setupTabs() {
  TABS.forEach((name, index) => {
    const tab = $(`tab-${name}`);
    tab.addEventListener("click", () => selectTab(name));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) {
        event.preventDefault();
        selectTab(TABS[(index + step + TABS.length) % TABS.length], true);
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        selectTab(event.key === "Home" ? TABS[0] : TABS[TABS.length - 1], true);
      }
    });
  });
  $("history-refresh").addEventListener("click", loadHistory);
}

// Ctrl+Enter (Cmd+Enter on a Mac) submits the form the cursor is in; in the Evaluate
// tab (which has no form) it starts a run, or, in the Optimize card, an optimization.
function setupShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const inOptimize = event.target.closest && event.target.closest("#optimize-card");
    if (inOptimize) {
      event.preventDefault();
      if (!$("optimize-button").disabled) startOptimize();
      return;
    }
    const inEvaluate = event.target.closest && event.target.closest("#panel-evaluate");
    if (inEvaluate) {
      event.preventDefault();
      if (!$("run-button").disabled) startRun();
      return;
    }
    const form = event.target.closest && event.target.closest("form");
    if (!form) return;
    event.preventDefault();
    form.requestSubmit();
  });
  const mac = /Mac|iPhone|iPad/.test(navigator.platform);
  if (mac) document.querySelectorAll("kbd.shortcut").forEach((kbd) => (kbd.textContent = "⌘ ⏎"));
}

document.addEventListener("DOMContentLoaded", () => {
  setupKey();
  setupTabs();
  setupGenerate();
  setupTemplatize();
  setupSave("generate", () => currentPrompt && { messages: currentPrompt.messages, system: currentPrompt.system });
  setupSave("templatize", () => templatizedPrompt);
  setupEvaluate();
  setupShortcuts();
  (apiKey() ? $("task") : $("api-key")).focus();
});
