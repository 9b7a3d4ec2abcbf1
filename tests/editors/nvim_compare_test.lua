-- Comparing a step in Neovim against the real server and the local fake provider, run by nvim.sh:
-- :StepwiseCompare with three targets opens the side-by-side scratch buffer, `u` on a target sets the
-- step's provider/model, `f` adds a target to its fallback list, and the `⇄ Compare` lens asks for the
-- targets (vim.ui.select, answered here) and compares them.
-- Env: STEPWISE_PACKROOT, STEPWISE_WORKDIR (an empty folder), STEPWISE_FAKE_ROOT (http://127.0.0.1:PORT).
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check, text_of = T.log, T.check, T.text_of

local FLOW = [[
version: 1
name: Compare
provider: openai
model: gpt-4o
steps:
  - id: tagline
    prompt: A tagline for rocket skates.
]]

local function main()
  local dir = assert(os.getenv('STEPWISE_WORKDIR'))
  local root = assert(os.getenv('STEPWISE_FAKE_ROOT'))
  vim.fn.writefile(vim.split(FLOW, '\n'), dir .. '/compare.flow.yaml')
  vim.fn.writefile({}, dir .. '/stepwise.toml')
  vim.opt.packpath:prepend(os.getenv('STEPWISE_PACKROOT'))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  local compare = require('stepwise.compare')
  stepwise.setup({
    env = {
      OPENAI_API_KEY = 'sk-test-openai-key',
      OPENAI_BASE_URL = root .. '/v1',
      ANTHROPIC_API_KEY = 'sk-test-anthropic-key',
      ANTHROPIC_BASE_URL = root,
    },
    progress = false,
  })
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/compare.flow.yaml'))
  local buf = vim.api.nvim_get_current_buf()
  local client
  vim.wait(10000, function()
    client = stepwise.client(buf)
    return client ~= nil and client.initialized
  end, 20)
  if not check('server attached', client and client.initialized) then
    return
  end
  check(':StepwiseCompare exists', vim.fn.exists(':StepwiseCompare') == 2)

  vim.api.nvim_win_set_cursor(0, { 7, 4 })
  compare.last = nil
  vim.cmd('StepwiseCompare openai/gpt-4o openai/gpt-4o-mini anthropic/claude-haiku-4-5')
  vim.wait(15000, function()
    return compare.last ~= nil
  end, 20)
  if not check('the comparison opens in a scratch buffer', compare.last ~= nil) then
    return
  end
  local out = text_of(compare.last.buf)
  check('three targets side by side', out:find('## 1. openai/gpt-4o', 1, true) and out:find('## 2. openai/gpt-4o-mini', 1, true)
    and out:find('## 3. anthropic/claude-haiku-4-5', 1, true), out)
  local _, answers = out:gsub('Fake answer from the local test provider%.', '')
  check('each target answered', answers == 3, out)
  -- A cost too small for four decimals reads `< $0.0001`.
  local _, priced = out:gsub('completed · %d+ ms · 7 in / 8 out tokens · <? ?%$0%.%d%d%d%d', '')
  check('status, latency, tokens and cost per target', priced == 3, out)
  check('a cost too small for four decimals is not shown as free', compare.usd(0.00002) == '< $0.0001'
    and compare.usd(0.0021) == '$0.0021', compare.usd(0.00002))
  check('the record is named', out:find('record: .*comparisons/.*%.json') ~= nil, out)

  -- `u` on target 2: the step now runs on it.
  local lines = vim.api.nvim_buf_get_lines(compare.last.buf, 0, -1, false)
  local function line_of(pat)
    for i, l in ipairs(lines) do
      if l:find(pat, 1, true) then
        return i
      end
    end
  end
  vim.api.nvim_win_set_cursor(0, { line_of('## 2.') + 1, 0 })
  vim.api.nvim_feedkeys('u', 'x', false)
  vim.wait(5000, function()
    return text_of(buf):find('model: gpt%-4o%-mini') ~= nil
  end, 20)
  check('"use for this step" sets provider and model', text_of(buf):find('    provider: openai\n    model: gpt%-4o%-mini\n') ~= nil, text_of(buf))
  vim.api.nvim_win_set_cursor(0, { line_of('## 3.') + 2, 0 })
  vim.api.nvim_feedkeys('f', 'x', false)
  vim.wait(5000, function()
    return text_of(buf):find('fallback:') ~= nil
  end, 20)
  check('"add to fallback" adds the target', text_of(buf):find('fallback: %[anthropic/claude%-haiku%-4%-5%]') ~= nil, text_of(buf))
  vim.cmd('close')

  -- The ⇄ Compare lens: pick the first candidate, then "Compare", then the step's own persona.
  local lens
  vim.wait(5000, function()
    vim.lsp.codelens.refresh({ bufnr = buf })
    for _, l in ipairs(vim.lsp.codelens.get(buf)) do
      if l.command and l.command.title == '⇄ Compare' then
        lens = l
      end
    end
    return lens ~= nil
  end, 100)
  if not check('a ⇄ Compare lens on the step', lens ~= nil) then
    return
  end
  local answers_given = { 2, 1, 1 }
  local prompts = {}
  vim.ui.select = function(items, opts, on_choice)
    prompts[#prompts + 1] = opts.prompt .. ' ' .. table.concat(items, ' | ')
    local idx = table.remove(answers_given, 1)
    on_choice(items[idx], idx)
  end
  compare.last = nil
  vim.lsp.commands[lens.command.command](lens.command, { bufnr = buf, client_id = client.id })
  vim.wait(15000, function()
    return compare.last ~= nil
  end, 20)
  check('the lens asks for targets from the server', prompts[1] and prompts[1]:find('openai/gpt-4o-mini (current)', 1, true) ~= nil,
    vim.inspect(prompts))
  check('the lens compares the picked target', compare.last and text_of(compare.last.buf):find('## 1. openai/gpt-4o-mini', 1, true) ~= nil,
    compare.last and text_of(compare.last.buf) or 'no comparison')
end

T.run('nvim compare', main)
