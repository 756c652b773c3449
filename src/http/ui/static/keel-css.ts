/**
 * The UI's one stylesheet, served as /ui/static/keel.css. Kept as a module rather than a .css
 * file so the TypeScript build carries it into dist/ with no copy step (the container image
 * and `npm start` run dist/ only). No inline styles anywhere: the CSP forbids them.
 */
export const KEEL_CSS = `
:root { color-scheme: light dark; --fg: #1d232b; --muted: #5b6673; --bg: #ffffff; --panel: #f4f6f8; --line: #d9dee4; --accent: #0b5cad; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e8ec; --muted: #9aa5b1; --bg: #14181d; --panel: #1d232b; --line: #2d3540; --accent: #6cb0f5; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: 0.6rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; font-size: 1.15rem; color: var(--fg); letter-spacing: 0.02em; }
header.top nav { display: flex; gap: 1rem; flex: 1; }
header.top nav a.current { font-weight: 600; color: var(--fg); }
header.top .sign-in { color: var(--muted); font-size: 0.9rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1.25rem 1.5rem 3rem; }
h1 { font-size: 1.4rem; margin: 0.2rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 0.6rem; }
.crumbs { color: var(--muted); font-size: 0.9rem; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 0.4rem 0; }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 0.85rem; }
td.num, th.num { text-align: right; white-space: nowrap; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1.2rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.88em; }
.digest { word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; }
.pull { display: flex; align-items: center; gap: 0.5rem; margin: 0.3rem 0; }
.pull code { flex: 1; padding: 0.35rem 0.6rem; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; word-break: break-all; }
.pull .tool { width: 4.5rem; color: var(--muted); }
button.copy { display: none; padding: 0.3rem 0.7rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); cursor: pointer; }
html.js button.copy { display: inline-block; }
button.copy.copied { border-color: var(--accent); color: var(--accent); }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.pager { margin-top: 1rem; }
.badge { display: inline-block; padding: 0 0.45rem; border: 1px solid var(--line); border-radius: 999px; font-size: 0.8rem; color: var(--muted); }
details summary { cursor: pointer; color: var(--accent); }
.error-page { padding: 2rem 0; }
nav.tabs { display: flex; gap: 0.2rem; border-bottom: 1px solid var(--line); margin-bottom: 0.8rem; }
nav.tabs a { padding: 0.4rem 0.9rem; border: 1px solid transparent; border-bottom: none; border-radius: 4px 4px 0 0; }
nav.tabs a.current { border-color: var(--line); background: var(--panel); color: var(--fg); font-weight: 600; }
form.search { display: flex; gap: 0.5rem; align-items: center; margin: 0.6rem 0 0.8rem; }
form.search input[type=search] { flex: 0 1 24rem; padding: 0.35rem 0.6rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
form.search button { padding: 0.35rem 0.8rem; border: 1px solid var(--line); border-radius: 4px; background: var(--panel); color: var(--fg); cursor: pointer; }
a.sort.current { color: var(--fg); font-weight: 600; }
th a.sort { color: inherit; }
td.name a.namespace { color: var(--muted); }
p.sorts a.sort { margin-left: 0.3rem; }
header.top .sign-in { display: flex; gap: 0.6rem; align-items: center; }
form.sign-out { display: inline; margin: 0; }
form.sign-out button, form.confirm-delete button, form.sign-in-form button { padding: 0.3rem 0.8rem; border: 1px solid var(--line); border-radius: 4px; background: var(--panel); color: var(--fg); cursor: pointer; }
form.sign-in-form { display: grid; gap: 0.7rem; max-width: 22rem; }
form.sign-in-form label { display: grid; gap: 0.2rem; }
form.sign-in-form input { padding: 0.35rem 0.6rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
.danger, button.danger { color: #b3261e; }
button.danger { border-color: #b3261e; }
p.actions { margin: 0.6rem 0; }
p.actions a { margin-right: 1rem; }
p.error { color: #b3261e; }
p.warning { padding: 0.6rem 0.8rem; border: 1px solid #d9a400; border-radius: 4px; }
`;
