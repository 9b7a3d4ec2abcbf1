-- Code lenses run through the plugin's run path: `▶ Run` on a step of a workflow with a required
-- input asks for it with vim.ui.input and runs with it (the real server, the fake provider). Run
-- by nvim.sh on a fresh copy of examples/. Env: STEPWISE_PACKROOT, STEPWISE_EXAMPLES,
-- STEPWISE_FAKE_URL, `stepwise` on PATH. Exit code = failures.
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check, label_text = T.log, T.check, T.label_text

local function main()
  vim.opt.packpath:prepend(assert(os.getenv('STEPWISE_PACKROOT')))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  stepwise.setup({
    env = { OPENAI_API_KEY = 'sk-test-not-a-real-key', OPENAI_BASE_URL = assert(os.getenv('STEPWISE_FAKE_URL')) },
  })
  vim.cmd.edit(vim.fn.fnameescape(assert(os.getenv('STEPWISE_EXAMPLES')) .. '/support-triage.flow.yaml'))
  local buf = vim.api.nvim_get_current_buf()
  local client
  vim.wait(10000, function()
    client = stepwise.client(buf)
    return client ~= nil and client.initialized
  end, 10)
  if not check('client attached', client and client.initialized) then
    return
  end
  local line
  for i, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l:match('^  %- id: classify') then
      line = i - 1
    end
  end
  local run_lens
  vim.wait(10000, function()
    for _, lens in ipairs(vim.lsp.codelens.get(buf)) do
      if lens.range.start.line == line and lens.command and lens.command.title == '▶ Run' then
        run_lens = lens
      end
    end
    return run_lens ~= nil
  end, 20)
  if not check('a ▶ Run lens on classify', run_lens ~= nil, vim.inspect(vim.lsp.codelens.get(buf))) then
    return
  end

  local asked = {}
  vim.ui.input = function(opts, on_confirm)
    asked[#asked + 1] = opts.prompt
    on_confirm('my skates squeak')
  end
  -- The line has other lenses too (preview, compare): pick ▶ Run where Neovim asks which.
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      if title == '▶ Run' then
        return on_choice(item, i)
      end
    end
    on_choice(nil, nil)
  end
  vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
  vim.lsp.codelens.run()
  local ran = vim.wait(20000, function()
    for _, h in ipairs(vim.lsp.inlay_hint.get({ bufnr = buf })) do
      if h.inlay_hint.position.line == line and label_text(h.inlay_hint.label):find('✓', 1, true) then
        return true
      end
    end
  end, 50)
  check(
    'the ▶ Run lens asks for the missing input (vim.ui.input) and runs with it',
    ran and #asked == 1 and asked[1]:find("message (The customer's message", 1, true) ~= nil,
    vim.inspect(asked)
  )
end

T.run('nvim lens', main)
