-- Drives the real editor: waits for diagnostics, checks a UTF-16 position, edits the buffer (incremental sync
-- from Neovim's own change tracking), waits for the new finding, asks for a hover. Writes a JSON report to
-- $TUNELINE_NVIM_REPORT and exits non-zero (cquit) on any failure.
local report = { ok = false, steps = {} }
local out = os.getenv("TUNELINE_NVIM_REPORT")

local function finish(ok, message)
  report.ok = ok
  report.message = message
  vim.fn.writefile({ vim.fn.json_encode(report) }, out)
  if ok then
    vim.cmd("qa!")
  else
    vim.cmd("cquit 1")
  end
end

local function by_code(code)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.code == code then
      table.insert(found, d)
    end
  end
  return found
end

local ok, err = pcall(function()
  -- 1. diagnostics arrive
  if not vim.wait(20000, function() return #by_code("TL105") > 0 end, 50) then
    return finish(false, "no TL105 diagnostic within 20 s")
  end
  local role = by_code("TL105")[1]
  local line = vim.api.nvim_buf_get_lines(0, role.lnum, role.lnum + 1, false)[1]
  local byte = string.find(line, '"assitant"', 1, true) - 1
  table.insert(report.steps, { step = "diagnostics", count = #vim.diagnostic.get(0), lnum = role.lnum, col = role.col,
    expected_col = byte, source = role.source, message = role.message })
  if role.col ~= byte then
    return finish(false, "TL105 at byte " .. role.col .. ", expected " .. byte .. " (UTF-16 conversion)")
  end

  -- 2. a quick fix, applied by Neovim itself (its own workspace-edit code and its own didChange)
  local uri = vim.uri_from_bufnr(0)
  -- what Neovim 0.7's own vim.lsp.buf.code_action() sends as context
  local lsp_diagnostics = vim.lsp.diagnostic.get_line_diagnostics(0, role.lnum)
  local action_params = {
    textDocument = { uri = uri },
    range = { start = { line = role.lnum, character = 0 }, ["end"] = { line = role.lnum, character = 0 } },
    context = { diagnostics = lsp_diagnostics },
  }
  local actions = vim.lsp.buf_request_sync(0, "textDocument/codeAction", action_params, 10000)
  local chosen
  for _, response in pairs(actions or {}) do
    for _, action in ipairs(response.result or {}) do
      if string.find(action.title, "Change role to 'assistant'", 1, true) then chosen = action end
    end
  end
  if not chosen then
    return finish(false, "no 'Change role' quick fix")
  end
  vim.lsp.util.apply_workspace_edit(chosen.edit, "utf-16")
  local fixed = vim.api.nvim_buf_get_lines(0, role.lnum, role.lnum + 1, false)[1]
  if not string.find(fixed, '"role": "assistant"', 1, true) then
    return finish(false, "the quick fix did not change the role: " .. fixed)
  end
  if not vim.wait(20000, function() return #by_code("TL105") == 0 end, 50) then
    return finish(false, "TL105 still reported after the fix")
  end
  table.insert(report.steps, { step = "quickfix", title = chosen.title })

  -- 3. an edit in the editor: break line 3 (0-based 2); Neovim sends an incremental didChange
  vim.api.nvim_buf_set_lines(0, 2, 3, false, { '{"messages": [' })
  if not vim.wait(20000, function()
    for _, d in ipairs(by_code("TL001")) do
      if d.lnum == 2 then return true end
    end
    return false
  end, 50) then
    return finish(false, "no TL001 on line 3 after the edit")
  end
  table.insert(report.steps, { step = "edit", count = #vim.diagnostic.get(0) })

  -- 4. hover over the first example
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 0, character = 2 } }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/hover", params, 10000)
  local value
  for _, response in pairs(responses or {}) do
    if response.result and response.result.contents then
      value = response.result.contents.value
    end
  end
  table.insert(report.steps, { step = "hover", value = value })
  if not value or not string.find(value, "**Example 1**", 1, true) then
    return finish(false, "no hover for the first example")
  end
  -- 5. document symbols (one per example; the broken line 3 is not one) and the code lens
  local symbols = vim.lsp.buf_request_sync(0, "textDocument/documentSymbol", { textDocument = { uri = uri } }, 10000)
  local names = {}
  for _, response in pairs(symbols or {}) do
    for _, symbol in ipairs(response.result or {}) do table.insert(names, symbol.name) end
  end
  table.insert(report.steps, { step = "symbols", count = #names, first = names[1] })
  if #names ~= 11 then
    return finish(false, "expected 11 document symbols, got " .. #names)
  end
  local lenses = vim.lsp.buf_request_sync(0, "textDocument/codeLens", { textDocument = { uri = uri } }, 10000)
  local title
  for _, response in pairs(lenses or {}) do
    for _, lens in ipairs(response.result or {}) do
      if lens.command and lens.command.command == "tuneline.stats" then title = lens.command.title end
    end
  end
  table.insert(report.steps, { step = "codelens", title = title })
  if not title or not string.find(title, "11 examples", 1, true) then
    return finish(false, "no summary code lens")
  end
  finish(true, "diagnostics, a quick fix, an incremental edit, a hover, symbols and the code lens all work")
end)
if not ok then
  finish(false, "error: " .. tostring(err))
end
