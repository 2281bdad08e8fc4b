// promptmill playground, the Evaluate tab: saved prompts and their versions, a cases
// grid (typed, imported from CSV, generated, saved as a dataset), graders, runs followed
// over Server-Sent Events, results side by side, and version diffs.
//
// A classic script loaded after playground.js: it uses that file's helpers ($, api,
// ApiError, readEvents, showError, messageText, editorPrompt) from the shared global
// scope, and playground.js calls setupEvaluate() and loadEvalLists() from here.
"use strict";

// The server's placeholder rule (engine/checks.py PLACEHOLDER): any {{ name }}.
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const RESERVED_COLUMNS = ["expected", "notes"];
const EDITOR = "@editor"; // the option value of "the prompt in the editor"
const RECENT_RUNS = 10; // how many runs "Reopen a run" offers

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

// A prompt's versions, fetched once per list refresh ("Refresh lists" clears the cache).
async function promptVersions(name) {
  if (!evalState.versions.has(name)) {
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

// Columns: the variables of both prompts, then any other variable a case gives a value.
function syncColumns() {
  const names = [...choiceVariables(variantChoice("a")), ...choiceVariables(variantChoice("b"))];
  for (const testCase of evalState.cases) {
    names.push(...Object.keys(testCase.vars).filter((name) => testCase.vars[name]));
  }
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
    showError("eval-error", error instanceof ApiError ? error : new ApiError("connection_error", String(error.message || error)));
  } finally {
    runControls(false);
  }
}

// Follow the run's Server-Sent Events (fetch, since EventSource cannot send the key).
async function followRun(runId) {
  const response = await fetch(`${PM}/runs/${encodeURIComponent(runId)}/events`, {
    headers: { ...API_HEADERS, "x-api-key": apiKey(), accept: "text/event-stream" },
  });
  if (!response.ok) throw errorFromBody(await readJson(response), response.status);
  let finished = null;
  await readEvents(response, (event, payload) => {
    if (event === "progress") showProgress(payload);
    else if (event === "done") finished = payload;
  });
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
