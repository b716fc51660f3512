-- Minimal Neovim (0.7+) setup for tuneline, used by the end-to-end check. The README shows the same for users.
vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  pattern = "*.jsonl",
  callback = function(args)
    vim.bo[args.buf].filetype = "jsonl"
  end,
})

vim.api.nvim_create_autocmd("FileType", {
  pattern = "jsonl",
  callback = function(args)
    local python = os.getenv("TUNELINE_PYTHON") or "python3"
    local client_id = vim.lsp.start_client({
      name = "tuneline",
      cmd = { python, "-m", "tuneline", "serve", "--stdio" },
      root_dir = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(args.buf), ":p:h"),
      init_options = { settings = { model = "gpt-4o-mini" } },
      settings = { tuneline = { inlayHints = true } },
    })
    if client_id then
      vim.lsp.buf_attach_client(args.buf, client_id)
    end
  end,
})
