-- Headless Neovim test of the request preview (editors/nvim/lua/stepwise/preview.lua), run by
-- tests/editors/nvim.sh against the real server on a temp copy of examples/:
--   nvim --headless --clean -S tests/editors/nvim_preview_test.lua
-- Exit code = number of failures.
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check, text_of = T.log, T.check, T.text_of

local KEY = 'sk-test-nvim-preview-Key123'

local function buffer_named(name)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) == name then
      return b
    end
  end
end

--- Waits until buffer `name` exists and its text contains `needle`; returns the buffer and text.
local function wait_text(name, needle)
  local buf, text = nil, ''
  vim.wait(8000, function()
    buf = buffer_named(name)
    text = buf and text_of(buf) or ''
    return text:find(needle, 1, true) ~= nil
  end, 20)
  return buf, text
end

local function main()
  local examples = assert(os.getenv('STEPWISE_EXAMPLES'), 'STEPWISE_EXAMPLES not set')
  vim.opt.packpath:prepend(assert(os.getenv('STEPWISE_PACKROOT')))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  stepwise.setup({ env = { ANTHROPIC_API_KEY = KEY } })

  vim.cmd.edit(vim.fn.fnameescape(examples .. '/launch-brief.flow.yaml'))
  local src = vim.api.nvim_get_current_buf()
  local client
  vim.wait(10000, function()
    client = stepwise.client(src)
    return client ~= nil and (client.initialized or client:is_stopped())
  end, 10)
  if not check('client attached and initialized', client ~= nil and client.initialized and not client:is_stopped()) then
    return
  end

  -- :StepwisePreview ID opens the preview beside the workflow, read-only.
  local wins = #vim.api.nvim_list_wins()
  vim.cmd('StepwisePreview summarize')
  local name = 'stepwise://preview/summarize'
  local buf, text = wait_text(name, 'POST https://api.anthropic.com/v1/messages')
  check(':StepwisePreview opens the request of the step', buf ~= nil, text)
  check('the preview opens in a new window beside the workflow', #vim.api.nvim_list_wins() == wins + 1)
  check('the preview buffer is read-only', buf ~= nil and not vim.bo[buf].modifiable)
  check('the key header shows ***', text:find('x-api-key: ***', 1, true) ~= nil, text)
  check('the key itself is nowhere in the preview', text:find(KEY, 1, true) == nil)
  check('the params show their sources', text:find('temperature: 0.3 (workflow)', 1, true) ~= nil, text)

  -- Editing the workflow (unsaved) refreshes the preview.
  local lines = vim.api.nvim_buf_get_lines(src, 0, -1, false)
  local row
  for i, l in ipairs(lines) do
    if l:find('in five bullet points', 1, true) then
      row = i - 1
    end
  end
  local edited = lines[row + 1]:gsub('five bullet points', 'three bullet points')
  vim.api.nvim_buf_set_lines(src, row, row + 1, false, { edited })
  -- A headless session never waits for typed keys, where Neovim fires TextChanged: fire it as it would.
  vim.api.nvim_exec_autocmds('TextChanged', { buffer = src })
  local _, refreshed = wait_text(name, 'in three bullet points')
  check('an edit of the workflow refreshes the preview', refreshed:find('in three bullet points', 1, true) ~= nil, refreshed)
  check('the refresh keeps one preview window', #vim.api.nvim_list_wins() == wins + 1)

  -- `yc` in the preview copies the curl line, the key as its variable.
  vim.api.nvim_set_current_win(vim.fn.bufwinid(buf))
  vim.fn.setreg('"', '')
  vim.api.nvim_feedkeys('yc', 'x', false)
  local curl = vim.fn.getreg('"')
  check('yc copies the curl line', curl:match('^curl ') ~= nil, curl)
  check('the curl line names $ANTHROPIC_API_KEY, not the key', curl:find('$ANTHROPIC_API_KEY', 1, true) ~= nil
    and curl:find(KEY, 1, true) == nil, curl)

  -- The code lens "Preview request" of a fan-out step opens its preview.
  vim.api.nvim_set_current_win(vim.fn.bufwinid(src))
  local lens
  vim.wait(5000, function()
    pcall(vim.lsp.codelens.refresh, { bufnr = src })
    for _, l in ipairs(vim.lsp.codelens.get(src)) do
      if l.command and l.command.command == 'stepwise.previewRequest' and l.command.arguments[1].step == 'ideas' then
        lens = l
      end
    end
    return lens ~= nil
  end, 50)
  if check('each step has a "Preview request" lens', lens ~= nil) then
    client:exec_cmd(lens.command, { bufnr = src })
    local _, ideas = wait_text('stepwise://preview/ideas', 'POST https://api.openai.com/v1/chat/completions')
    check('the lens opens the preview of its step', ideas:find('openai', 1, true) ~= nil, ideas)
    check('a fan-out preview says which item of how many', ideas:find('item 1 of 1 (for_each)', 1, true) ~= nil, ideas)
    check('an upstream step without output is a placeholder', ideas:find('⟨steps.summarize.output: not run yet⟩', 1, true) ~= nil, ideas)
  end

  client:stop()
  vim.wait(2000, function()
    return client:is_stopped()
  end, 10)
end

T.run('nvim preview', main)
