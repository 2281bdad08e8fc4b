// promptmill playground: vanilla JS, no build step, talks only to its own origin.
//
// The tools are called with "stream": true so the server answers with Server-Sent
// Events (progress, then result or error). EventSource cannot POST, so the stream is
// read with fetch and a reader. The API key lives in localStorage and is only ever
// sent with relative URLs, i.e. to the origin that served this page.
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
};

const PM = "/v1/promptmill";
// The server's placeholder rule (engine/checks.py PLACEHOLDER): any {{ name }}.
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const RESERVED_COLUMNS = ["expected", "notes"];
const EDITOR = "@editor"; // the option value of "the prompt in the editor"
const RECENT_RUNS = 10; // how many runs "Reopen a run" offers

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

function callSummary(call) {
  const request = call.request || {};
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

// -- evaluate: prompts and versions ----------------------------------------------

let evalListsStale = true;
let pickEditorForA = false;
const evalState = {
  prompts: [], // [{name, latest_version, versions, updated_at}]
  versions: new Map(), // prompt name -> [PromptVersion], oldest first
  columns: [], // the grid's variable columns
  cases: [], // [{vars: {NAME: text}, expected: text, notes: text}], the grid's rows
  runId: null,
  runCases: [], // the cases the current run was given, so unrun ones show too
  stream: null, // AbortController of the run's event stream
};

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function templateVariables(prompt) {
  const texts = [prompt.system || "", ...prompt.messages.map(messageText)];
  const names = [];
  for (const text of texts) {
    for (const match of text.matchAll(PLACEHOLDER)) {
      if (match[1] && !names.includes(match[1])) names.push(match[1]);
    }
  }
  return names;
}

async function promptVersions(name, refresh = false) {
  if (refresh || !evalState.versions.has(name)) {
    const page = await api("GET", `${PM}/prompts/${encodeURIComponent(name)}/versions`);
    evalState.versions.set(name, page.data);
  }
  return evalState.versions.get(name);
}

function fillPromptSelect(select, optional) {
  const previous = select.value;
  const options = [];
  if (optional) options.push(element("option", { value: "" }, "Nothing: evaluate prompt A alone"));
  if (editorPrompt) options.push(element("option", { value: EDITOR }, "The prompt in the editor"));
  for (const prompt of evalState.prompts) {
    options.push(element("option", { value: `name:${prompt.name}` }, prompt.name));
  }
  if (!options.length) {
    options.push(element("option", { value: "", disabled: true }, "No prompts yet: generate or save one"));
  }
  select.replaceChildren(...options);
  if ([...select.options].some((option) => option.value === previous && !option.disabled)) {
    select.value = previous;
  }
}

// What a variant side (a or b) is set to: {kind: none|editor|saved, name, version, model}.
function variantChoice(side) {
  const value = $(`eval-prompt-${side}`).value;
  const model = $(`eval-model-${side}`).value.trim() || null;
  if (value === EDITOR && editorPrompt) return { kind: "editor", model, prompt: editorPrompt };
  if (value.startsWith("name:")) {
    const version = Number($(`eval-version-${side}`).value) || null;
    return { kind: "saved", name: value.slice(5), version, model };
  }
  return { kind: "none", model };
}

function choiceVariables(choice) {
  if (choice.kind === "editor") return templateVariables(choice.prompt);
  if (choice.kind === "saved") {
    const versions = evalState.versions.get(choice.name) || [];
    const version = versions.find((v) => v.number === choice.version) || versions[versions.length - 1];
    return version ? version.variables : [];
  }
  return [];
}

async function showVersionsOf(side, preferOther = null) {
  const choice = variantChoice(side);
  const select = $(`eval-version-${side}`);
  if (choice.kind !== "saved") {
    select.replaceChildren(element("option", { value: "" }, choice.kind === "editor" ? "unsaved" : "—"));
    select.disabled = true;
    delete select.dataset.prompt;
    return;
  }
  if (select.dataset.prompt !== choice.name) {
    // Never show another prompt's versions while this one's are on their way.
    select.replaceChildren(element("option", { value: "" }, "loading…"));
    select.disabled = true;
    delete select.dataset.prompt;
  }
  const versions = await promptVersions(choice.name);
  // The user may have picked another prompt while the versions were on their way.
  if ($(`eval-prompt-${side}`).value !== `name:${choice.name}`) return;
  const kept = select.dataset.prompt === choice.name ? select.value : null;
  select.dataset.prompt = choice.name;
  select.replaceChildren(
    ...versions
      .slice()
      .reverse()
      .map((v, index) =>
        element("option", { value: String(v.number) }, `v${v.number}${index === 0 ? " (latest)" : ""}`),
      ),
  );
  select.disabled = false;
  if (kept && versions.some((v) => String(v.number) === kept)) {
    select.value = kept;
  } else if (preferOther !== null && versions.length > 1) {
    // Comparing a prompt with itself: start from another version when there is one.
    const other = versions.filter((v) => v.number !== preferOther).pop();
    if (other) select.value = String(other.number);
  }
}

function showVariables(side) {
  const line = $(`eval-vars-${side}`);
  const choice = variantChoice(side);
  line.replaceChildren();
  if (choice.kind === "none") return;
  const names = choiceVariables(choice);
  if (!names.length) {
    line.append("No variables: every case sends the same prompt.");
    return;
  }
  line.append("Variables: ");
  names.forEach((name) => line.append(element("mark", { class: "var" }, `{{${name}}}`), " "));
}

// A version was picked: the columns and the diff follow; the version lists stay as they are.
async function versionChanged() {
  showError("eval-error", null);
  showVariables("a");
  showVariables("b");
  syncColumns();
  try {
    await showVersionHistory();
  } catch (error) {
    showError("eval-error", error);
  }
}

async function variantsChanged(changedSide) {
  showError("eval-error", null);
  try {
    if (changedSide === "a" || changedSide === null) await showVersionsOf("a");
    if (changedSide === "b" || changedSide === null) {
      const a = variantChoice("a");
      const b = variantChoice("b");
      const same = a.kind === "saved" && b.kind === "saved" && a.name === b.name;
      await showVersionsOf("b", same ? a.version : null);
    }
    showVariables("a");
    showVariables("b");
    syncColumns();
    await showVersionHistory();
  } catch (error) {
    showError("eval-error", error);
  }
}

function fillDatasetSelect(datasets) {
  $("dataset-load").replaceChildren(
    element("option", { value: "" }, datasets.length ? "Choose a dataset…" : "No datasets yet"),
    ...datasets.map((d) =>
      element("option", { value: d.name }, `${d.name} (${d.cases} case${d.cases === 1 ? "" : "s"})`),
    ),
  );
}

async function loadEvalLists() {
  showError("eval-error", null);
  try {
    const [prompts, datasets, runs] = await Promise.all([
      api("GET", `${PM}/prompts`),
      api("GET", `${PM}/datasets`),
      api("GET", `${PM}/runs?limit=${RECENT_RUNS}`),
    ]);
    evalState.prompts = prompts.data;
    evalState.versions.clear();
    fillPromptSelect($("eval-prompt-a"), false);
    fillPromptSelect($("eval-prompt-b"), true);
    if (pickEditorForA && editorPrompt) $("eval-prompt-a").value = EDITOR;
    pickEditorForA = false;
    fillDatasetSelect(datasets.data);
    fillRunSelect(runs.data);
    evalListsStale = false;
    await variantsChanged(null);
  } catch (error) {
    showError("eval-error", error);
  }
}

// -- evaluate: version history and diff -------------------------------------------

let historyCall = 0; // only the latest call renders: earlier ones may answer later

async function showVersionHistory() {
  const call = ++historyCall;
  const choice = variantChoice("a");
  const list = $("versions-list");
  const saved = choice.kind === "saved";
  $("versions-empty").hidden = saved;
  $("diff-controls").hidden = true;
  $("diff-view").hidden = true;
  list.replaceChildren();
  if (!saved) return;
  const versions = await promptVersions(choice.name);
  if (call !== historyCall) return;
  list.replaceChildren();
  for (const version of versions.slice().reverse()) {
    list.append(
      element(
        "li",
        {},
        element("b", {}, `v${version.number}`),
        ` ${new Date(version.created_at).toLocaleString()} · `,
        element("code", { title: version.content_hash }, version.content_hash.slice(0, 12)),
        ` · ${version.variables.length ? version.variables.map((v) => `{{${v}}}`).join(" ") : "no variables"}`,
      ),
    );
  }
  if (versions.length < 2) return;
  const options = () => versions.map((v) => element("option", { value: String(v.number) }, `v${v.number}`));
  $("diff-from").replaceChildren(...options());
  $("diff-to").replaceChildren(...options());
  const a = variantChoice("a"); // read again: versions may have arrived meanwhile
  const b = variantChoice("b");
  const pair =
    b.kind === "saved" && b.name === a.name && a.version && b.version && b.version !== a.version
      ? [a.version, b.version]
      : [versions[versions.length - 2].number, versions[versions.length - 1].number];
  $("diff-from").value = String(Math.min(...pair));
  $("diff-to").value = String(Math.max(...pair));
  $("diff-controls").hidden = false;
}

function renderDiff(text) {
  const view = $("diff-view");
  view.replaceChildren();
  if (!text) {
    view.append(element("span", { class: "same" }, "The two versions are identical."));
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    let kind = "ctx";
    if (line.startsWith("+++") || line.startsWith("---")) kind = "file";
    else if (line.startsWith("@@")) kind = "hunk";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    view.append(element("span", { class: `line ${kind}` }, line));
  }
  view.hidden = false;
}

async function showDiff() {
  const choice = variantChoice("a");
  if (choice.kind !== "saved") return;
  showError("eval-error", null);
  try {
    const query = new URLSearchParams({ from: $("diff-from").value, to: $("diff-to").value });
    const diff = await api("GET", `${PM}/prompts/${encodeURIComponent(choice.name)}/diff?${query}`);
    renderDiff(diff.diff);
  } catch (error) {
    showError("eval-error", error);
  }
}

// -- evaluate: the cases grid -------------------------------------------------------

function blankCase() {
  return { vars: {}, expected: "", notes: "" };
}

function isBlank(testCase) {
  return !testCase.expected && !testCase.notes && !Object.values(testCase.vars).some((v) => v);
}

function caseFromApi(testCase) {
  return { vars: { ...testCase.vars }, expected: testCase.expected || "", notes: testCase.notes || "" };
}

// Columns: the variables of both prompts, then any other variable the cases fill.
function syncColumns() {
  const names = [...choiceVariables(variantChoice("a")), ...choiceVariables(variantChoice("b"))];
  for (const testCase of evalState.cases) names.push(...Object.keys(testCase.vars));
  const columns = [...new Set(names)];
  if (columns.join("\u0000") !== evalState.columns.join("\u0000")) {
    evalState.columns = columns;
    renderGrid();
  }
}

function cellEditor(label, value, onInput) {
  const area = element("textarea", { rows: 1, value, spellcheck: false });
  area.setAttribute("aria-label", label);
  area.addEventListener("input", () => onInput(area.value));
  return area;
}

function renderGrid() {
  const grid = $("cases-grid");
  const promptVars = new Set([...choiceVariables(variantChoice("a")), ...choiceVariables(variantChoice("b"))]);
  const head = element("tr", {}, element("th", { scope: "col", class: "num" }, "#"));
  for (const name of evalState.columns) {
    const th = element("th", { scope: "col" }, element("mark", { class: "var" }, `{{${name}}}`));
    if (!promptVars.has(name)) {
      th.classList.add("unused");
      th.title = "Neither prompt uses this variable";
    }
    head.append(th);
  }
  head.append(
    element("th", { scope: "col" }, "Expected"),
    element("th", { scope: "col" }, "Notes"),
    element("th", { scope: "col", class: "num" }, element("span", { class: "visually-hidden" }, "Delete")),
  );
  const body = element("tbody");
  evalState.cases.forEach((testCase, index) => {
    const number = index + 1;
    const row = element("tr", {}, element("th", { scope: "row", class: "num" }, String(number)));
    for (const name of evalState.columns) {
      row.append(
        element(
          "td",
          {},
          cellEditor(`Case ${number} ${name}`, testCase.vars[name] || "", (value) => {
            testCase.vars[name] = value;
          }),
        ),
      );
    }
    row.append(
      element("td", {}, cellEditor(`Case ${number} expected`, testCase.expected, (v) => (testCase.expected = v))),
      element("td", {}, cellEditor(`Case ${number} notes`, testCase.notes, (v) => (testCase.notes = v))),
    );
    const remove = element("button", { type: "button", class: "btn btn-icon", title: `Delete case ${number}` }, "×");
    remove.setAttribute("aria-label", `Delete case ${number}`);
    remove.addEventListener("click", () => {
      evalState.cases.splice(index, 1);
      if (!evalState.cases.length) evalState.cases.push(blankCase());
      renderGrid();
      const next = $("cases-grid").querySelectorAll(".btn-icon")[Math.min(index, evalState.cases.length - 1)];
      if (next) next.focus();
    });
    row.append(element("td", { class: "num" }, remove));
    body.append(row);
  });
  grid.replaceChildren(element("thead", {}, head), body);
  const filled = evalState.cases.filter((c) => !isBlank(c)).length;
  $("cases-count").textContent = `${filled} case${filled === 1 ? "" : "s"}`;
}

function setCases(cases) {
  evalState.cases = cases.length ? cases : [blankCase()];
  evalState.columns = [];
  syncColumns();
  renderGrid();
}

// The grid's filled rows as API TestCases. An empty cell is left out of `vars`, so the
// server's check names the case and the variable it does not fill.
function gridCases() {
  return evalState.cases.filter((c) => !isBlank(c)).map((c) => {
    const vars = {};
    for (const name of evalState.columns) if (c.vars[name]) vars[name] = c.vars[name];
    const testCase = { vars };
    if (c.expected) testCase.expected = c.expected;
    if (c.notes) testCase.notes = c.notes;
    return testCase;
  });
}

function casesStatus(text, failed = false) {
  const status = $("cases-status");
  status.textContent = text;
  status.classList.toggle("failed", failed);
}

// -- evaluate: CSV in and out (RFC 4180, the rules of engine/cases.py) --------------
//
// The grid is a working copy that is edited before it is saved, so a file is read in
// the page rather than uploaded; the rules match the server's reader: a header row,
// `expected` and `notes` reserved, every other column a variable, blank lines skipped.

function parseCsv(text) {
  text = text.replace(/^\uFEFF/, "");
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
    } else if (ch === '"') {
      if (field) throw new ApiError("invalid_request_error", `row ${line}: a quote inside an unquoted field`);
      quoted = true;
    } else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      line++;
    } else {
      field += ch;
    }
  }
  if (quoted) throw new ApiError("invalid_request_error", `row ${line}: a quoted field is never closed`);
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}

function casesFromCsv(text) {
  const rows = parseCsv(text);
  if (!rows.length) throw new ApiError("invalid_request_error", "the CSV is empty (a header row is required)");
  const header = rows[0].map((name) => name.trim());
  header.forEach((name, index) => {
    if (!name) throw new ApiError("invalid_request_error", `header column ${index + 1} has no name`);
    if (header.indexOf(name) !== index) throw new ApiError("invalid_request_error", `header column '${name}' appears twice`);
  });
  return rows.slice(1).map((row, index) => {
    if (row.length !== header.length) {
      throw new ApiError("invalid_request_error", `row ${index + 1} has ${row.length} fields, the header has ${header.length}`);
    }
    const testCase = blankCase();
    header.forEach((name, column) => {
      if (RESERVED_COLUMNS.includes(name)) testCase[name] = row[column];
      else testCase.vars[name] = row[column];
    });
    return testCase;
  });
}

function csvField(value) {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function casesToCsv(cases) {
  const names = [...new Set(cases.flatMap((c) => Object.keys(c.vars)))];
  const extra = RESERVED_COLUMNS.filter((column) => cases.some((c) => c[column] !== undefined));
  const lines = [[...names, ...extra]];
  for (const c of cases) lines.push([...names.map((n) => c.vars[n] || ""), ...extra.map((col) => c[col] || "")]);
  return lines.map((fields) => fields.map(csvField).join(",")).join("\r\n") + "\r\n";
}

async function importCsv(file) {
  showError("eval-error", null);
  try {
    const cases = casesFromCsv(await file.text());
    setCases(cases);
    if (!$("dataset-name").value) $("dataset-name").value = file.name.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "-");
    casesStatus(`Imported ${cases.length} case${cases.length === 1 ? "" : "s"} from ${file.name}`);
  } catch (error) {
    showError("eval-error", new ApiError(error.type || "invalid_request_error", `${file.name}: ${error.message}`));
  }
}

function exportCsv() {
  const cases = gridCases();
  const blob = new Blob([casesToCsv(cases)], { type: "text/csv;charset=utf-8" });
  const link = element("a", { href: URL.createObjectURL(blob), download: `${$("dataset-name").value.trim() || "cases"}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  casesStatus(`Exported ${cases.length} case${cases.length === 1 ? "" : "s"}`);
}

// -- evaluate: generating and saving cases -------------------------------------------

function promptSelector(choice) {
  if (choice.kind === "editor") return { messages: choice.prompt.messages, system: choice.prompt.system };
  const selector = { name: choice.name };
  if (choice.version) selector.version = choice.version;
  return selector;
}

// Run work with its button disabled; an error is shown, and the result says whether it worked.
async function withBusy(button, work) {
  button.disabled = true;
  showError("eval-error", null);
  try {
    await work();
    return true;
  } catch (error) {
    showError("eval-error", error instanceof ApiError ? error : new ApiError("connection_error", String(error.message || error)));
    return false;
  } finally {
    button.disabled = false;
  }
}

function generateCases() {
  const choice = variantChoice("a");
  if (choice.kind === "none") {
    showError("eval-error", new ApiError("invalid_request_error", "pick prompt A first: the cases fill its variables"));
    return;
  }
  const count = Math.max(1, Math.min(50, Number($("generate-count").value) || 5));
  const body = { prompt: promptSelector(choice), count };
  if (choice.model) body.model = choice.model;
  return withBusy($("cases-generate"), async () => {
    casesStatus(`Generating ${count} case${count === 1 ? "" : "s"}…`);
    const generated = await api("POST", `${PM}/cases/generate`, body);
    const kept = evalState.cases.filter((c) => !isBlank(c));
    setCases([...kept, ...generated.cases.map(caseFromApi)]);
    casesStatus(`Generated ${generated.cases.length} case${generated.cases.length === 1 ? "" : "s"}`);
  }).then((worked) => worked || casesStatus(""));
}

function saveDataset() {
  const name = $("dataset-name").value.trim();
  if (!name) {
    $("dataset-name").focus();
    casesStatus("Name the dataset first", true);
    return;
  }
  return withBusy($("dataset-save"), async () => {
    const saved = await api("PUT", `${PM}/datasets/${encodeURIComponent(name)}`, { cases: gridCases() });
    casesStatus(`Saved dataset ${saved.name} (${saved.cases.length} case${saved.cases.length === 1 ? "" : "s"})`);
    fillDatasetSelect((await api("GET", `${PM}/datasets`)).data);
  });
}

async function loadDataset(name) {
  if (!name) return;
  showError("eval-error", null);
  try {
    const dataset = await api("GET", `${PM}/datasets/${encodeURIComponent(name)}`);
    setCases(dataset.cases.map(caseFromApi));
    $("dataset-name").value = dataset.name;
    casesStatus(`Loaded dataset ${dataset.name}`);
  } catch (error) {
    showError("eval-error", error);
  }
}

// -- evaluate: graders ---------------------------------------------------------------

function setupGraders() {
  for (const fieldset of document.querySelectorAll("#graders .grader")) {
    const enable = fieldset.querySelector("[data-enable]");
    // A disabled fieldset leaves its legend (and so this checkbox) usable.
    const sync = () => (fieldset.disabled = !enable.checked);
    enable.addEventListener("change", sync);
    sync();
  }
}

function graderSpecs() {
  const specs = [];
  for (const fieldset of document.querySelectorAll("#graders .grader")) {
    if (!fieldset.querySelector("[data-enable]").checked) continue;
    const spec = { type: fieldset.dataset.grader };
    for (const input of fieldset.querySelectorAll("[data-param]")) {
      const name = input.dataset.param;
      if (input.type === "checkbox") {
        spec[name] = input.checked;
        continue;
      }
      const value = input.value.trim();
      if (!value) continue;
      if (name === "schema") {
        try {
          spec.schema = JSON.parse(value);
        } catch (error) {
          throw new ApiError("invalid_request_error", `graders.${specs.length}.schema: not valid JSON: ${error.message}`);
        }
      } else if (name === "tolerance" || name === "threshold") {
        spec[name] = Number(value);
      } else if (name === "value" && spec.type === "numeric") {
        spec.value = Number(value);
        if (!Number.isFinite(spec.value)) {
          throw new ApiError("invalid_request_error", `graders.${specs.length}.value: '${value}' is not a number`);
        }
      } else {
        spec[name] = value;
      }
    }
    specs.push(spec);
  }
  return specs;
}

// -- evaluate: runs ------------------------------------------------------------------

function variantRequest(choice, other) {
  const request = { prompt: promptSelector(choice) };
  if (choice.model) request.model = choice.model;
  if (choice.kind === "editor") {
    // The server labels saved prompts name@version; an unsaved one gets a label here.
    let label = choice.model ? `editor (${choice.model})` : "editor";
    if (other && other.kind === "editor" && other.model === choice.model) label += " B";
    request.label = label;
  }
  return request;
}

// While a run is being created only Run is disabled; Cancel appears once the run exists.
function runControls(running, cancellable = false) {
  $("run-button").disabled = running;
  $("run-load").disabled = running;
  $("cancel-button").hidden = !cancellable;
  $("cancel-button").disabled = false;
}

function showProgress(progress) {
  const bar = $("run-progress-bar");
  bar.max = Math.max(1, progress.total);
  bar.value = progress.done;
  $("run-progress-text").textContent = `${progress.done} of ${progress.total} results · ${progress.status}`;
  $("run-progress").hidden = false;
}

async function startRun() {
  const a = variantChoice("a");
  const b = variantChoice("b");
  if (a.kind === "none") {
    showError("eval-error", new ApiError("invalid_request_error", "pick prompt A first"));
    return;
  }
  let body;
  try {
    const variants = [variantRequest(a, null)];
    if (b.kind !== "none") variants.push(variantRequest(b, a));
    body = { variants, cases: gridCases(), graders: graderSpecs() };
  } catch (error) {
    showError("eval-error", error);
    return;
  }
  showError("eval-error", null);
  runControls(true);
  evalState.runId = null;
  try {
    const run = await api("POST", `${PM}/runs`, body);
    evalState.runId = run.id;
    evalState.runCases = body.cases;
    runControls(true, true);
    showProgress({ done: run.done, total: run.total, status: run.status });
    await followRun(run.id);
  } catch (error) {
    if (error.name !== "AbortError") {
      showError("eval-error", error instanceof ApiError ? error : new ApiError("connection_error", String(error.message || error)));
    }
  } finally {
    runControls(false);
  }
}

// Follow the run's Server-Sent Events (fetch, since EventSource cannot send the key).
async function followRun(runId) {
  const controller = new AbortController();
  evalState.stream = controller;
  const response = await fetch(`${PM}/runs/${encodeURIComponent(runId)}/events`, {
    headers: { ...API_HEADERS, "x-api-key": apiKey(), accept: "text/event-stream" },
    signal: controller.signal,
  });
  if (!response.ok) throw errorFromBody(await readJson(response), response.status);
  let finished = null;
  await readEvents(response, (event, payload) => {
    if (event === "progress") showProgress(payload);
    else if (event === "done") finished = payload;
  });
  evalState.stream = null;
  if (!finished) finished = await api("GET", `${PM}/runs/${encodeURIComponent(runId)}`);
  showProgress({ done: finished.done, total: finished.total, status: finished.status });
  await showRun(finished);
  fillRunSelect((await api("GET", `${PM}/runs?limit=${RECENT_RUNS}`)).data);
}

function runTitle(run) {
  const labels = run.variants.map((v) => v.label).join(" vs ");
  return `${new Date(run.created_at).toLocaleString()} · ${labels} · ${run.total} results · ${run.status}`;
}

function fillRunSelect(runs) {
  $("run-load").replaceChildren(
    element("option", { value: "" }, runs.length ? "Choose a run…" : "No runs yet"),
    ...runs.map((run) => element("option", { value: run.id }, runTitle(run))),
  );
  if (runs.some((run) => run.id === evalState.runId)) $("run-load").value = evalState.runId;
}

// Show a stored run (finished, or still going: then follow it), e.g. after a reload.
async function reopenRun(runId) {
  if (!runId) return;
  showError("eval-error", null);
  runControls(true);
  try {
    const run = await api("GET", `${PM}/runs/${encodeURIComponent(runId)}`);
    evalState.runId = run.id;
    evalState.runCases = []; // the results carry their cases
    showProgress({ done: run.done, total: run.total, status: run.status });
    if (run.status === "queued" || run.status === "running") {
      runControls(true, true);
      await followRun(run.id);
    } else {
      await showRun(run);
    }
  } catch (error) {
    showError("eval-error", error);
  } finally {
    runControls(false);
  }
}

async function cancelRun() {
  if (!evalState.runId) return;
  $("cancel-button").disabled = true;
  try {
    await api("POST", `${PM}/runs/${encodeURIComponent(evalState.runId)}/cancel`);
  } catch (error) {
    showError("eval-error", error);
  }
}

async function runResults(runId) {
  const results = [];
  for (let offset = 0; ; ) {
    const page = await api("GET", `${PM}/runs/${encodeURIComponent(runId)}/results?offset=${offset}&limit=1000`);
    results.push(...page.data);
    if (!page.has_more) return results;
    offset += page.data.length;
  }
}

// -- evaluate: showing results -------------------------------------------------------

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`;
}

function formatP(p) {
  if (p < 0.001) return "p<0.001";
  return `p=${Number(p.toPrecision(2))}`;
}

// A p-value in plain words, for readers who do not think in p-values. `missing` says
// why there is none (the engine gives none when no case has both values to pair).
function pReading(p, missing) {
  if (p === null || p === undefined) return `no test: ${missing}`;
  if (p >= 1) return "no difference at all (p=1)";
  if (p < 0.05) return `the difference is unlikely to be noise (${formatP(p)})`;
  return `difference could be noise (${formatP(p)})`;
}

function renderSummary(run) {
  const head = element("tr", {});
  for (const title of ["Variant", "Pass rate", "Mean score", "Input tokens", "Output tokens", "Mean latency", "Errors"]) {
    head.append(element("th", { scope: "col" }, title));
  }
  const body = element("tbody");
  for (const s of run.summary) {
    body.append(
      element(
        "tr",
        {},
        element("th", { scope: "row" }, s.label),
        element("td", { class: "n" }, percent(s.pass_rate)),
        element("td", { class: "n" }, s.mean_score === null ? "—" : s.mean_score.toFixed(2)),
        element("td", { class: "n" }, s.input_tokens.toLocaleString()),
        element("td", { class: "n" }, s.output_tokens.toLocaleString()),
        element("td", { class: "n" }, s.mean_latency_ms === null ? "—" : `${Math.round(s.mean_latency_ms)} ms`),
        element("td", { class: "n" }, `${s.errors} of ${s.cases}`),
      ),
    );
  }
  $("summary-table").replaceChildren(element("caption", {}, "Per variant"), element("thead", {}, head), body);

  const list = $("comparison");
  list.replaceChildren();
  for (const test of run.comparison) {
    const item = element("li", { class: "paired" });
    item.append(
      element("b", {}, test.variant),
      " against ",
      element("b", {}, test.baseline),
      `: on ${test.n} paired case${test.n === 1 ? "" : "s"}, ${test.wins} win${test.wins === 1 ? "" : "s"} and ${test.losses} loss${test.losses === 1 ? "" : "es"}.`,
      element("span", { class: "reading", dataset: { test: "mcnemar" } }, `Pass/fail (McNemar): ${pReading(test.mcnemar_p, "no case was graded pass or fail for both")}.`),
      element("span", { class: "reading", dataset: { test: "wilcoxon" } }, `Scores (Wilcoxon): ${pReading(test.wilcoxon_p, "no case was scored for both")}.`),
    );
    list.append(item);
  }
  list.hidden = run.comparison.length === 0;
}

function gradeChip(grade) {
  const verdict = grade.passed === true ? "pass" : grade.passed === false ? "fail" : "none";
  const mark = { pass: "✓", fail: "✗", none: "–" }[verdict];
  let text = `${mark} ${grade.grader}`;
  if (grade.grader === "rubric" && grade.score !== null) text += ` ${grade.score}/5`;
  const chip = element("span", { class: `grade ${verdict}`, title: grade.reason, tabindex: 0 }, text);
  chip.setAttribute("aria-label", `${grade.grader}: ${verdict === "none" ? "not graded" : verdict}; ${grade.reason}`);
  return chip;
}

// The filled prompt a result was answered from, as [system] / [user] / [assistant] sections.
function filledPromptText(input) {
  const sections = [];
  if (input.system) sections.push(`[system]\n${input.system}`);
  for (const message of input.messages || []) sections.push(`[${message.role}]\n${messageText(message)}`);
  return sections.join("\n\n");
}

function resultCell(result) {
  if (!result) return element("td", { class: "result-cell missing" }, element("span", { class: "muted" }, "not run"));
  const verdict = result.passed === true ? "pass" : result.passed === false ? "fail" : "none";
  const cell = element("td", { class: `result-cell ${verdict}`, dataset: { verdict } });
  if (result.error_type) {
    cell.classList.add("errored");
    cell.append(element("p", { class: "cell-error" }, element("strong", {}, result.error_type), ` ${result.error_message || ""}`));
  } else {
    cell.append(element("pre", { class: "output", tabindex: 0 }, result.output));
  }
  const grades = element("div", { class: "grades" }, ...result.grades.map(gradeChip));
  const sent = element(
    "details",
    { class: "cell-input" },
    element("summary", {}, "Prompt sent"),
    element("pre", {}, filledPromptText(result.input)),
  );
  const meta = element(
    "div",
    { class: "cell-meta" },
    `${result.input_tokens} in · ${result.output_tokens} out · ${Math.round(result.latency_ms)} ms`,
  );
  cell.append(grades, meta, sent);
  return cell;
}

function renderResultsTable(run, results) {
  const head = element("tr", {}, element("th", { scope: "col", class: "num" }, "#"), element("th", { scope: "col" }, "Case"));
  run.variants.forEach((variant) => head.append(element("th", { scope: "col" }, variant.label)));
  const byCase = new Map();
  evalState.runCases.forEach((testCase, index) => byCase.set(index, { case: testCase, variants: [] }));
  for (const result of results) {
    if (!byCase.has(result.case_index)) byCase.set(result.case_index, { case: result, variants: [] });
    byCase.get(result.case_index).variants[result.variant_index] = result;
  }
  const body = element("tbody");
  for (const [index, entry] of [...byCase.entries()].sort((x, y) => x[0] - y[0])) {
    const details = element("dl", { class: "case-vars" });
    for (const [name, value] of Object.entries(entry.case.vars)) {
      details.append(element("dt", {}, element("mark", { class: "var" }, name)), element("dd", {}, value));
    }
    if (entry.case.expected) details.append(element("dt", {}, "expected"), element("dd", {}, entry.case.expected));
    if (entry.case.notes) details.append(element("dt", {}, "notes"), element("dd", {}, entry.case.notes));
    const row = element("tr", {}, element("th", { scope: "row", class: "num" }, String(index + 1)), element("td", { class: "case-cell" }, details));
    run.variants.forEach((_, v) => row.append(resultCell(entry.variants[v])));
    body.append(row);
  }
  $("results-table").replaceChildren(element("caption", {}, "Outputs side by side"), element("thead", {}, head), body);
}

async function showRun(run) {
  const badge = $("run-status");
  badge.textContent = run.status;
  badge.className = `badge ${run.status === "completed" ? "ok" : run.status === "failed" ? "failed" : ""}`;
  if (run.error) showError("eval-error", new ApiError("run_failed", run.error));
  renderSummary(run);
  renderResultsTable(run, await runResults(run.id));
  $("eval-results").hidden = false;
}

function setupEvaluate() {
  $("eval-refresh").addEventListener("click", loadEvalLists);
  for (const side of ["a", "b"]) {
    $(`eval-prompt-${side}`).addEventListener("change", () => variantsChanged(side));
    $(`eval-version-${side}`).addEventListener("change", versionChanged);
  }
  $("diff-button").addEventListener("click", showDiff);
  $("case-add").addEventListener("click", () => {
    evalState.cases.push(blankCase());
    renderGrid();
    const areas = $("cases-grid").querySelectorAll("tbody tr:last-child textarea");
    if (areas.length) areas[0].focus();
  });
  $("cases-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) importCsv(file);
    event.target.value = "";
  });
  $("cases-export").addEventListener("click", exportCsv);
  $("cases-generate").addEventListener("click", generateCases);
  $("dataset-save").addEventListener("click", saveDataset);
  $("dataset-load").addEventListener("change", (event) => loadDataset(event.target.value));
  $("run-button").addEventListener("click", startRun);
  $("run-load").addEventListener("change", (event) => reopenRun(event.target.value));
  $("cancel-button").addEventListener("click", cancelRun);
  setupGraders();
  setCases([]);
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
// tab (which has no form) it starts a run.
function setupShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
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
