-- stepwise.toml and persona files in Neovim, run by tests/editors/nvim.sh: opening a broken
-- stepwise.toml attaches the server (filetype toml.stepwise) and shows each mistake at its line;
-- a persona file gets its own diagnostics. Env: STEPWISE_PACKROOT, `stepwise` on PATH.
-- Exit code = number of failures.
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check = T.log, T.check

local function write(path, text)
  local f = assert(io.open(path, 'w'))
  f:write(text)
  f:close()
end

--- The diagnostics of `buf` once one with `code` arrives (or what there is after 10 s).
local function wait_for_code(buf, code)
  local found
  vim.wait(10000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == code then
        found = d
        return true
      end
    end
    return false
  end, 20)
  return found
end

local function main()
  vim.opt.packpath:prepend(assert(os.getenv('STEPWISE_PACKROOT')))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  stepwise.setup({})

  check('filetype rule: stepwise.toml', vim.filetype.match({ filename = 'a/stepwise.toml' }) == 'toml.stepwise')
  check('filetype rule: personas/x.yaml', vim.filetype.match({ filename = 'a/personas/x.yaml' }) == 'yaml.stepwise')
  check('other toml stays toml', vim.filetype.match({ filename = 'Cargo.toml' }) == 'toml')

  local root = vim.fn.tempname()
  vim.fn.mkdir(root .. '/personas', 'p')
  write(root .. '/stepwise.toml', 'default_provider = "anthropic"\nconcurency = 4\n')
  write(root .. '/review.flow.yaml', 'version: 1\nname: Review\nsteps:\n  - id: a\n    prompt: hi\n')
  write(root .. '/personas/critic.yaml', 'name: Critic\nsytem: Be harsh.\n')

  vim.cmd.edit(vim.fn.fnameescape(root .. '/stepwise.toml'))
  local toml = vim.api.nvim_get_current_buf()
  check('stepwise.toml has filetype toml.stepwise', vim.bo[toml].filetype == 'toml.stepwise', vim.bo[toml].filetype)
  local attached = vim.wait(10000, function()
    return stepwise.client(toml) ~= nil
  end, 20)
  check('the server attaches to stepwise.toml', attached)
  local d = wait_for_code(toml, 'unknown-key')
  check('a broken stepwise.toml shows its mistake on its line', d ~= nil and d.lnum == 1, vim.inspect(vim.diagnostic.get(toml)))
  check(
    'with did-you-mean from the schema',
    d ~= nil and d.message:find('did you mean `concurrency`?', 1, true) ~= nil,
    d and d.message
  )

  vim.cmd.edit(vim.fn.fnameescape(root .. '/personas/critic.yaml'))
  local persona = vim.api.nvim_get_current_buf()
  local p = wait_for_code(persona, 'unknown-key')
  check('a persona file shows its own mistake', p ~= nil and p.lnum == 1, vim.inspect(vim.diagnostic.get(persona)))
end

T.run('nvim config', main)
