// Unit tests of the run view's words and documents: `npm test`.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Attempt, attemptDocument, attemptLabel, callLabel, liveDocument, runLabel, stepLabel, utcTime } from "../src/runsLogic";

const attempt = (over: Partial<Attempt> = {}): Attempt => ({
  status: "completed",
  provider: { value: "anthropic", source: "workflow" },
  model: { value: "claude-sonnet-4-5", source: "workflow" },
  persona: null,
  one_time: false,
  calls: [],
  usage: { input_tokens: 5, output_tokens: 2 },
  started_at: 0,
  duration_ms: 1234,
  answered_by: { provider: "anthropic", model: "claude-sonnet-4-5" },
  output: "one\ntwo",
  ...over,
});

test("fan-out items are separated and numbered like the server's document", () => {
  assert.equal(attemptDocument(attempt({ outputs: ["a", "b"] })), "── item 1 ──\na\n\n── item 2 ──\nb\n");
  assert.equal(attemptDocument(attempt()), "one\ntwo");
  assert.equal(liveDocument(new Map([[1, "About "], [0, "About one"]])), "── item 1 ──\nAbout one\n\n── item 2 ──\nAbout \n");
});

test("a step shows who answered, a fallback attempt who was asked and who answered", () => {
  const fallback = attempt({ answered_by: { provider: "openai", model: "gpt-4o-mini" }, one_time: true });
  assert.deepEqual(stepLabel({ id: "c", status: "completed", attempts: [fallback] }).label, "✓ c");
  assert.match(stepLabel({ id: "c", status: "completed", attempts: [fallback] }).description, /^openai\/gpt-4o-mini · 1\.2s/);
  assert.match(attemptLabel(fallback, 0).description, /anthropic\/claude-sonnet-4-5 · answered by openai\/gpt-4o-mini · one-time/);
  assert.equal(stepLabel({ id: "b", status: "stale", attempts: [attempt()] }).label, "stale b");
});

test("a failed request names its item, class, status and the wait", () => {
  const label = callLabel({
    provider: "anthropic",
    model: "m",
    item: 1,
    duration_ms: 3,
    error: { class: "overloaded", status: 529, message: "Overloaded" },
    retry_after_ms: 30,
  });
  assert.equal(label, "! anthropic/m item 2 overloaded (529) · retried after 30 ms");
});

test("a run says when, how it ended and its step counts", () => {
  const l = runLabel({
    id: "r",
    status: "failed",
    counts: { done: 2, failed: 1, stale: 0, other: 0 },
    duration_ms: 2500,
    cost: { usd: 0.0123, unpriced: false },
    started_at: Date.UTC(2026, 11, 1, 11, 37, 47),
    inputs: { who: "Ada" },
    steps: [],
  });
  assert.equal(l.label, "✗ 2026-12-01 11:37:47");
  assert.equal(l.description, "failed · 2 done, 1 failed · $0.0123 · 2.5s");
  assert.equal(l.tooltip, "run r\nwho = Ada");
  assert.equal(utcTime(0), "1970-01-01 00:00:00");
});
