// The comparison panel's page: `npm test`.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { CompareResult, compareHtml, usd } from "../src/compare_view";

const result: CompareResult = {
  step: "summarize",
  repeat: 1,
  prompts: ["Summarize <skates>"],
  record: "/w/.stepwise/runs/x/comparisons/1.json",
  targets: [
    {
      label: "openai/gpt-4o",
      provider: "openai",
      model: "gpt-4o",
      latency: { min_ms: 420, median_ms: 420, max_ms: 420 },
      cost_usd: 0.0021,
      samples: [{ status: "completed", duration_ms: 420, usage: { input_tokens: 7, output_tokens: 8 }, output: "a <b> & c" }],
    },
    {
      label: "anthropic/claude-haiku-4-5",
      provider: "anthropic",
      model: "claude-haiku-4-5",
      latency: null,
      samples: [{ status: "failed", duration_ms: 3, usage: { input_tokens: 0, output_tokens: 0 }, error: { message: "overloaded" } }],
    },
  ],
};

test("the comparison page has one column per target with its numbers and buttons", () => {
  const html = compareHtml(result, "n0nce");
  assert.equal(html.match(/<section class="target">/g)?.length, 2);
  assert.match(html, /openai\/gpt-4o<\/h2>[\s\S]*420 ms[\s\S]*7 \/ 8/);
  assert.match(html, /a &lt;b&gt; &amp; c/, "outputs are escaped");
  assert.match(html, /<th>cost<\/th><td>\$0\.0021</);
  assert.match(html, /<th>cost<\/th><td>no price</, "a target without a price says so");
  assert.match(html, /Summarize &lt;skates&gt;/);
  assert.match(html, /class="bad">failed</);
  assert.match(html, /✗ overloaded/);
  assert.equal(html.match(/data-action="use"/g)?.length, 2);
  assert.equal(html.match(/data-action="fallback" data-index="1"/g)?.length, 1);
  assert.match(html, /script-src 'nonce-n0nce'/);
});

test("a cost too small for four decimals is not shown as free", () => {
  assert.equal(usd(0.00002), "< $0.0001");
  assert.equal(usd(0.00005), "$0.0001");
  assert.equal(usd(0), "$0.0000");
  assert.equal(usd(0.0021), "$0.0021");
  assert.equal(usd(12.5), "$12.50");
  const tiny = { ...result, targets: [{ ...result.targets[0], cost_usd: 0.00002 }] };
  assert.match(compareHtml(tiny, "n0nce"), /<th>cost<\/th><td>&lt; \$0\.0001</, "escaped in the page");
});
