"""The talk's high-contrast look, shared by the app page and the exported file.

Black on white, bold table rules, large type: ``--talk-font`` is the body size (never below 24 px);
everything else is a multiple of it, so one variable scales a slide to the screen.
"""

PANEL_CSS = """
.talk-text, .talk-text p, .talk-text li, .talk-note, .talk-presenter {
  font-size: var(--talk-font, 24px); line-height: 1.3; color: #000; }
.talk-text p, .talk-note { margin: 0 0 0.45em 0; }
.talk-text ul, .talk-text ol { margin: 0; padding-left: 1.2em; }
.talk-text li { margin-bottom: 0.4em; }
.talk-text code, .talk-note code { font-size: 0.9em; }
.talk-presenter { font-weight: 700; margin-top: 1em; }
.talk-note { font-style: italic; color: #222; }
.talk-table { border-collapse: collapse; font-size: var(--talk-font, 24px); color: #000; margin-bottom: 0.4em; }
.talk-table caption { caption-side: top; text-align: left; font-weight: 700; padding-bottom: 0.2em; }
.talk-table { line-height: 1.15; }
.talk-table th, .talk-table td { padding: 0.02em 0.45em; border-bottom: 2px solid #000; text-align: right;
  white-space: nowrap; }
.talk-table tbody th { text-align: left; font-weight: 400; }
.talk-table thead th { border-bottom: 3px solid #000; white-space: normal; vertical-align: bottom; }
.talk-table tr.hl { background: #ffe45c; font-weight: 700; }
.talk-table tr.hl th { font-weight: 700; }
.talk-gallery { border-collapse: collapse; font-size: var(--talk-font, 24px); color: #000; }
.talk-gallery th { text-align: left; padding-right: 0.5em; }
.talk-gallery td { padding: 0.12em 0.4em; }
.talk-gallery td.talk-thumbs { white-space: nowrap; }
.talk-thumb { height: var(--talk-thumb, 60px); width: auto; image-rendering: pixelated; margin-right: 0.25em;
  border: 1px solid #000; vertical-align: middle; }
.talk-code { color: #000; }
.talk-code-title { font-size: var(--talk-font, 24px); font-weight: 700; margin-bottom: 0.2em; }
.talk-code pre { margin: 0; background: #f2f2f2; border-left: 6px solid #0072B2; padding: 0.4em 0.6em;
  font-size: calc(var(--talk-font, 24px) * 0.72); line-height: 1.12; white-space: pre-wrap; overflow: hidden; }
.talk-live-image { margin: 0; text-align: center; font-size: var(--talk-font, 24px); color: #000; }
.talk-live-image img { width: 100%; max-width: 16em; image-rendering: pixelated; border: 2px solid #000; }
"""
