/** The dashboard's stylesheet, served as /ui/assets/app.css (a string module: no copy step). */
export const APP_STYLE = `
:root { color-scheme: light; --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f9fafb; }
header { display: flex; align-items: center; gap: 1.25rem; padding: 0.6rem 1.25rem; background: #111827; color: #fff; }
header .brand { font-weight: 700; letter-spacing: 0.02em; }
header nav { display: flex; gap: 0.9rem; flex: 1; flex-wrap: wrap; }
header nav a { color: #d1d5db; text-decoration: none; }
header nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #60a5fa; }
header form { margin: 0; }
header button { background: transparent; color: #d1d5db; border: 1px solid #4b5563; border-radius: 4px; padding: 0.2rem 0.6rem; cursor: pointer; }
main { padding: 1.25rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.35rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.6rem; }
.muted { color: var(--muted); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 0.75rem; margin-bottom: 1rem; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem 0.8rem; }
.tile .label { color: var(--muted); font-size: 0.8rem; }
.tile .value { font-size: 1.35rem; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 0.75rem; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem 0.8rem; }
.chart h3 { margin: 0 0 0.3rem; font-size: 0.9rem; }
.chart canvas { width: 100%; height: 170px; display: block; }
.legend { font-size: 0.8rem; color: var(--muted); margin-top: 0.2rem; }
.legend-item { margin-right: 0.8rem; white-space: nowrap; }
.legend-item i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 0.8rem; color: var(--muted); font-weight: 600; background: #f3f4f6; }
td.wrap { max-width: 520px; overflow-wrap: anywhere; }
.state { font-weight: 600; }
.state-closed, .status-delivered, .alert-resolved { color: #15803d; }
.state-open, .status-bounced, .status-failed, .status-expired, .alert-firing { color: #b91c1c; }
.state-half-open, .status-deferred, .status-sending, .status-queued { color: #b45309; }
form.inline { display: inline; }
form[hidden], [hidden] { display: none; }
progress { width: 220px; height: 14px; vertical-align: middle; }
#campaigns progress { width: 110px; }
#campaigns td { white-space: nowrap; }
#campaigns td:first-child { white-space: normal; overflow-wrap: anywhere; }
tr.winner td { font-weight: 600; color: #15803d; }
.campaign-sending, .campaign-scheduled { color: #2563eb; }
.campaign-paused { color: #b45309; font-weight: 600; }
.campaign-cancelled { color: #b91c1c; }
.campaign-sent { color: #15803d; }
form.bar { display: flex; gap: 0.5rem; margin-bottom: 1rem; flex-wrap: wrap; }
select { padding: 0.4rem 0.55rem; border: 1px solid #d1d5db; border-radius: 4px; font: inherit; max-width: 320px; }
input[type=text], input[type=email], input[type=password], input[type=search] { padding: 0.4rem 0.55rem; border: 1px solid #d1d5db; border-radius: 4px; min-width: 260px; font: inherit; }
button, .button { padding: 0.4rem 0.8rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; font: inherit; text-decoration: none; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: #b91c1c; border-color: #b91c1c; }
.notice { padding: 0.6rem 0.8rem; border-radius: 6px; margin-bottom: 1rem; background: #eff6ff; border: 1px solid #bfdbfe; }
.error { background: #fef2f2; border-color: #fecaca; color: #991b1b; }
.login { max-width: 380px; margin: 10vh auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1.5rem; }
.login input { width: 100%; margin: 0.4rem 0 1rem; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; background: #fff; border: 1px solid var(--line); padding: 0.8rem; border-radius: 6px; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; overflow-wrap: anywhere; }
iframe.mail { width: 100%; height: 480px; border: 1px solid var(--line); background: #fff; border-radius: 6px; }
pre { background: #fff; border: 1px solid var(--line); padding: 0.8rem; border-radius: 6px; overflow: auto; max-height: 420px; white-space: pre-wrap; overflow-wrap: anywhere; }
`;
