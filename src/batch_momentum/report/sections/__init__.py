"""The report's sections, one module each: a function returning a dict with id, title, text, html
(a table) and figures ({fig, caption}); `extra` figures are saved under reports/figures only."""
