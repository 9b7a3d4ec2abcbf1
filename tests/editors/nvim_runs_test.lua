-- Headless Neovim test of :StepwiseRuns (editors/nvim/lua/stepwise/runs.lua), run by tests/editors/nvim.sh
-- against the real server and the local fake provider: the buffer shows the run's steps and attempts
-- folded by indent, <CR> jumps to the step, `o` opens its output, `r` re-runs it on its own provider and `p`
-- with the provider picked in vim.ui.select; the buffer follows (stepwise/runsChanged).
-- Environment as nvim_test.lua (STEPWISE_PACKROOT, STEPWISE_EXAMPLES, STEPWISE_FAKE_URL).
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check, lines_of = T.log, T.check, T.lines_of

local function find(buf, pat)
  for i, l in ipairs(lines_of(buf)) do
    if l:find(pat) then
      return i, l
    end
  end
end
local function count(buf, pat)
  local n = 0
  for _, l in ipairs(lines_of(buf)) do
    if l:find(pat) then
      n = n + 1
    end
  end
  return n
end
local function press(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'x', false)
end

local RUN_LINE = '^%S+ %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d'

local function main()
  local examples = assert(os.getenv('STEPWISE_EXAMPLES'))
  local fake_url = assert(os.getenv('STEPWISE_FAKE_URL'), 'STEPWISE_FAKE_URL not set')
  vim.opt.packpath:prepend(assert(os.getenv('STEPWISE_PACKROOT')))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  stepwise.setup({
    env = {
      OPENAI_API_KEY = 'sk-test-not-a-real-key',
      OPENAI_BASE_URL = fake_url,
      ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key',
      ANTHROPIC_BASE_URL = fake_url:gsub('/v1$', ''),
    },
  })
  vim.cmd.edit(vim.fn.fnameescape(examples .. '/launch-brief.flow.yaml'))
  local source = vim.api.nvim_get_current_buf()
  local client
  vim.wait(10000, function()
    client = stepwise.client(source)
    return client ~= nil and (client.initialized or client:is_stopped())
  end, 10)
  if not check('client attached', client ~= nil and client.initialized) then
    return
  end
  local step_line = vim.fn.search('^  - id: summarize', 'n')

  local ran = false
  stepwise.execute('stepwise.runStep', { step = 'summarize', provider = 'openai', model = 'gpt-4o' }, source, function(err)
    ran = err == nil
  end)
  check('the step runs on the fake provider', vim.wait(20000, function()
    return ran
  end, 20))

  vim.cmd('StepwiseRuns')
  local view = vim.api.nvim_get_current_buf()
  check(':StepwiseRuns opens a runs buffer', view ~= source and vim.bo[view].filetype == 'stepwise-runs', vim.bo[view].filetype)
  local shown = vim.wait(5000, function()
    return find(view, '^  ✓ summarize  openai/gpt%-4o') ~= nil
  end, 20)
  check('the buffer shows the step that ran ✓ with the provider/model it ran on', shown, table.concat(lines_of(view), '\n'))
  local first_run, run_text = find(view, RUN_LINE)
  check('runs are listed with when and status', first_run ~= nil and run_text:find('completed', 1, true) ~= nil, run_text)
  check('steps not run show as not run', find(view, '^  · ideas') ~= nil)
  check('attempts are listed under their step', find(view, '^    #1 ✓ completed  openai/gpt%-4o') ~= nil)
  check('the tree folds by indent', vim.wo.foldmethod == 'indent' and vim.fn.foldlevel(first_run + 1) == 1)
  local runs_before = count(view, RUN_LINE)

  -- <CR> on the step: the workflow's window, cursor on the step.
  local at = find(view, '^  ✓ summarize')
  vim.api.nvim_win_set_cursor(0, { at, 0 })
  press('<CR>')
  check('<CR> jumps to the step in the workflow', vim.api.nvim_get_current_buf() == source and vim.api.nvim_win_get_cursor(0)[1] == step_line, ('%d:%d (want %d)'):format(vim.api.nvim_get_current_buf(), vim.api.nvim_win_get_cursor(0)[1], step_line))

  -- o: the step's output in a scratch buffer.
  vim.api.nvim_set_current_win(vim.fn.bufwinid(view))
  vim.api.nvim_win_set_cursor(0, { at, 0 })
  press('o')
  local out = vim.api.nvim_get_current_buf()
  local text = table.concat(lines_of(out), '\n')
  check('o opens the output in a scratch buffer', out ~= view and vim.bo[out].buftype == 'nofile' and text:find('Fake answer', 1, true) ~= nil, text)
  vim.cmd.close()

  -- r: re-run; the buffer follows with a new run.
  vim.api.nvim_set_current_win(vim.fn.bufwinid(view))
  vim.api.nvim_win_set_cursor(0, { at, 0 })
  press('r')
  -- The newest run comes first; wait for the re-run itself (on the step's own provider), not
  -- just any new run.
  local rerun = vim.wait(20000, function()
    return count(view, RUN_LINE) > runs_before and find(view, '^  ✓ summarize  anthropic/claude%-sonnet%-4%-5') ~= nil
  end, 50)
  check('r re-runs the step and the buffer shows the new run (stepwise/runsChanged)', count(view, RUN_LINE) > runs_before, table.concat(lines_of(view), '\n'))
  check('the re-run ran on the step\'s own provider (no one-time override)', rerun, table.concat(lines_of(view), '\n'))

  -- p: re-run with the provider picked in vim.ui.select.
  local offered
  vim.ui.select = function(items, _, on_choice)
    offered = items
    on_choice(vim.tbl_contains(items, 'openai') and 'openai' or nil)
  end
  local runs_now = count(view, RUN_LINE)
  vim.api.nvim_win_set_cursor(0, { (find(view, '^  ✓ summarize')), 0 })
  press('p')
  check('p offers the other available providers', offered ~= nil and vim.tbl_contains(offered, 'openai') and not vim.tbl_contains(offered, 'anthropic'), vim.inspect(offered))
  local with = vim.wait(20000, function()
    return count(view, RUN_LINE) > runs_now and find(view, '^  ✓ summarize  openai/') ~= nil
  end, 50)
  check('the re-run with the chosen provider shows who answered', with, table.concat(lines_of(view), '\n'))
end

T.run('nvim runs', main)
