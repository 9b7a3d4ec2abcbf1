-- What every headless Neovim test shares: PASS/FAIL lines and their counts, a few buffer
-- helpers, and the end that prints the summary and exits with the number of failures.
-- A test loads it with: dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local T = { failures = 0, passes = 0, skips = 0 }

function T.log(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end

function T.check(name, ok, detail)
  if ok then
    T.passes = T.passes + 1
    T.log('PASS ' .. name)
  else
    T.failures = T.failures + 1
    T.log('FAIL ' .. name .. (detail and (': ' .. detail) or ''))
  end
  return ok
end

function T.skip(name, why)
  T.skips = T.skips + 1
  T.log('SKIP ' .. name .. ': ' .. why)
end

--- An inlay hint's or lens's label as plain text (a string or a list of parts).
function T.label_text(label)
  if type(label) == 'string' then
    return label
  end
  local s = {}
  for _, part in ipairs(label or {}) do
    s[#s + 1] = part.value
  end
  return table.concat(s)
end

function T.lines_of(buf)
  return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

function T.text_of(buf)
  return table.concat(T.lines_of(buf), '\n')
end

--- Runs `main`, counts an error in it as a failure, prints `TITLE: n passed, m failed` and
--- exits Neovim with the number of failures.
function T.run(title, main)
  local ok, err = pcall(main)
  if not ok then
    T.failures = T.failures + 1
    T.log('FAIL (error) ' .. tostring(err))
  end
  local skipped = T.skips > 0 and (', %d skipped'):format(T.skips) or ''
  T.log(('%s: %d passed, %d failed%s'):format(title, T.passes, T.failures, skipped))
  vim.cmd('cquit ' .. T.failures)
end

return T
