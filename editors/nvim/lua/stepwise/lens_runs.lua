-- Code lenses that run steps take the same path as the user commands: Neovim hands a lens's
-- command to a client-side handler when one is registered, so `▶ Run` on a workflow with a
-- required input asks for it with vim.ui.input (prefilled with the value last used) and runs
-- again, exactly as :StepwiseRunStep does.
local L = {}

--- Client-side handlers for the run commands, keyed by command name, for the `commands` field of
--- the client's config. `stepwise` is the plugin module (its `commands` and `run`).
function L.handlers(stepwise)
  local handlers = {}
  for _, name in ipairs({ 'run_step', 'run_from', 'run_workflow', 'resume' }) do
    local command = stepwise.commands[name]
    handlers[command] = function(cmd, ctx)
      local args = vim.deepcopy((cmd.arguments or {})[1] or {})
      stepwise.run(command, args, ctx and ctx.bufnr)
    end
  end
  return handlers
end

return L
