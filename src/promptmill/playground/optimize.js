// promptmill playground, Optimize (in the Evaluate tab): prompt A (or a description),
// the cases grid and the graders go to POST /v1/promptmill/optimize; its progress
// streams (calls spent of the budget); the best prompt comes back with its training and
// held-out scores beside the original's and every candidate tried, and is saved as a
// new prompt version in one click.
//
// A classic script loaded after evaluate.js: it uses the helpers of playground.js ($,
// api, apiCall, callTool, ApiError, showError, renderResult) and evaluate.js (element,
// variantChoice, promptVersions, gridCases, graderSpecs, percent, loadEvalLists).
"use strict";

const OPTIMIZE_PATH = `${PM}/optimize`;

let optimizeResult = null; // the last OptimizeResult shown

function optimizeSource() {
  return document.querySelector('input[name="optimize-source"]:checked').value;
}

// Prompt A as the request's inline prompt ({messages, system}); the optimize endpoint
// takes prompts by content, so a saved version is read from its version list.
async function promptAForOptimize() {
  const choice = variantChoice("a");
  if (choice.kind === "editor") return { messages: choice.prompt.messages, system: choice.prompt.system || "" };
  if (choice.kind !== "saved") return null;
  const versions = await promptVersions(choice.name);
  const version = versions.find((v) => v.number === choice.version) || versions[versions.length - 1];
  return version ? { messages: version.messages, system: version.system || "" } : null;
}

// The request body from the page, or an ApiError naming what is missing.
async function optimizeBody() {
  const body = { cases: gridCases(), graders: graderSpecs(), stream: true };
  if (optimizeSource() === "task") {
    const task = $("optimize-task").value.trim();
    if (!task) throw new ApiError("invalid_request_error", "task: describe what the prompt should do first");
    body.task = task;
  } else {
    const prompt = await promptAForOptimize();
    if (!prompt) throw new ApiError("invalid_request_error", "prompt: pick prompt A first (or start from a description)");
    body.prompt = prompt;
  }
  const budget = Number($("optimize-budget").value);
  if (Number.isFinite(budget) && $("optimize-budget").value !== "") body.budget = budget;
  const heldOut = Number($("optimize-held-out").value);
  if (Number.isFinite(heldOut) && $("optimize-held-out").value !== "") body.held_out_fraction = heldOut / 100;
  const target = $("optimize-target").value.trim();
  if (target) body.target_model = target;
  return body;
}

function showOptimizeProgress(progress) {
  const bar = $("optimize-progress-bar");
  bar.max = Math.max(1, progress.budget || 1);
  bar.value = Math.min(progress.calls || 0, bar.max);
  const spent = progress.budget ? `${progress.calls} of ${progress.budget} calls · ` : "";
  $("optimize-progress-text").textContent = `${spent}${progress.stage}: ${progress.message || ""}`;
  $("optimize-progress").hidden = false;
}

async function startOptimize() {
  const button = $("optimize-button");
  if (button.disabled) return;
  showError("optimize-error", null);
  // Offered as the name to save under: prompt A as it is now, if it is a saved prompt.
  const choice = variantChoice("a");
  const saveName = optimizeSource() === "prompt" && choice.kind === "saved" ? choice.name : "";
  button.disabled = true;
  try {
    const body = await optimizeBody();
    showOptimizeProgress({ calls: 0, budget: body.budget || 0, stage: "sending", message: "" });
    const result = await callTool(OPTIMIZE_PATH, body, showOptimizeProgress);
    showOptimizeProgress({ calls: result.calls, budget: result.budget, stage: "done", message: result.stopped });
    showOptimized(result, saveName);
    historyLoaded = false;
  } catch (error) {
    showError("optimize-error", error instanceof ApiError ? error : new ApiError("connection_error", String(error.message || error)));
  } finally {
    button.disabled = false;
  }
}

// -- showing the result ------------------------------------------------------------

function scoreCells(score) {
  if (!score) return [element("td", { class: "n" }, "—"), element("td", { class: "n" }, "—")];
  return [
    element("td", { class: "n" }, `${percent(score.pass_rate)} (${score.passed}/${score.cases})`),
    element("td", { class: "n" }, score.score === null ? "—" : score.score.toFixed(2)),
  ];
}

function renderOptimizeScores(result) {
  const head = element("tr", {}, element("th", { scope: "col" }, "Prompt"));
  for (const title of ["Training pass rate", "Training score", "Held-out pass rate", "Held-out score"]) {
    head.append(element("th", { scope: "col" }, title));
  }
  const row = (label, train, heldOut) =>
    element("tr", {}, element("th", { scope: "row" }, label), ...scoreCells(train), ...scoreCells(heldOut));
  const body = element(
    "tbody",
    {},
    row(`Best: ${result.label}`, result.train, result.held_out),
    row("Original", result.original_train, result.original_held_out),
  );
  $("optimize-scores").replaceChildren(
    element("caption", {}, `Scores on ${result.split.train.length} training and ${result.split.held_out.length} held-out cases`),
    element("thead", {}, head),
    body,
  );
}

function signed(value) {
  if (value === null || value === undefined) return "—";
  return `${value > 0 ? "+" : ""}${value.toFixed(2)}`;
}

function renderCandidates(result) {
  const head = element("tr", {});
  for (const title of ["Candidate", "Kind", "Training pass rate", "Original on the same cases", "Gain", "Model calls"]) {
    head.append(element("th", { scope: "col" }, title));
  }
  const body = element("tbody");
  for (const candidate of result.candidates) {
    const chosen = candidate.label === result.label;
    const name = element("th", { scope: "row" }, candidate.label);
    if (chosen) name.append(" ", element("span", { class: "badge ok" }, "best"));
    if (candidate.error) name.append(element("span", { class: "cell-error candidate-error" }, candidate.error));
    if (candidate.stopped_early) {
      name.append(" ", element("span", { class: "badge", title: "Winning every case left could not have made it the best" }, "stopped early"));
    }
    const train = candidate.train;
    const original = candidate.original_train;
    body.append(
      element(
        "tr",
        { class: chosen ? "chosen" : "", dataset: { kind: candidate.kind } },
        name,
        element("td", {}, candidate.kind.replace("_", "-")),
        element("td", { class: "n" }, train ? `${percent(train.pass_rate)} (${train.passed}/${train.cases})` : "—"),
        element("td", { class: "n" }, original ? `${percent(original.pass_rate)} (${original.passed}/${original.cases})` : "—"),
        element("td", { class: "n" }, signed(candidate.gain)),
        element("td", { class: "n" }, String(candidate.proposal_calls + candidate.evaluation_calls)),
      ),
    );
  }
  $("optimize-candidates").replaceChildren(
    element("caption", {}, `Candidates tried (${result.candidates.length})`),
    element("thead", {}, head),
    body,
  );
}

// Show a result; `saveName` is the name "Save as new version" offers ("" asks for one).
function showOptimized(result, saveName = "") {
  optimizeResult = result;
  const badge = $("optimize-badge");
  badge.textContent = result.improved ? "improved" : "original kept";
  badge.className = `badge ${result.improved ? "ok" : ""}`;
  renderOptimizeScores(result);
  $("optimize-meta").textContent =
    `${result.calls} of ${result.budget} model calls used; proposing stopped: ${result.stopped}.`;
  renderResult($("optimize-output"), { ...result.prompt, usage: result.usage }, null);
  renderCandidates(result);
  $("optimize-save-name").value = saveName;
  $("optimize-save-status").textContent = "";
  $("optimize-results").hidden = false;
}

async function saveOptimized(event) {
  event.preventDefault();
  if (!optimizeResult) return;
  const status = $("optimize-save-status");
  const name = $("optimize-save-name").value.trim();
  if (!name) return;
  const button = $("optimize-save-button");
  button.disabled = true;
  status.classList.remove("failed");
  try {
    const { messages, system } = optimizeResult.prompt;
    const saved = await apiCall("POST", `${PM}/prompts`, { name, messages, system: system || "" });
    const version = saved.body;
    status.textContent =
      saved.status === 201
        ? `Saved as ${version.name}, version ${version.number}`
        : `Unchanged: already ${version.name}, version ${version.number}`;
    await loadEvalLists(); // the new version appears in the prompt lists at once
  } catch (error) {
    status.classList.add("failed");
    status.textContent = `${error.type || "error"}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function setupOptimize() {
  for (const radio of document.querySelectorAll('input[name="optimize-source"]')) {
    radio.addEventListener("change", () => {
      $("optimize-task-field").hidden = optimizeSource() !== "task";
    });
  }
  $("optimize-button").addEventListener("click", startOptimize);
  $("optimize-save-form").addEventListener("submit", saveOptimized);
}

document.addEventListener("DOMContentLoaded", setupOptimize);
