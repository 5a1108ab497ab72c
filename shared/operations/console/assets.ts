/**
 * The console's static assets, shipped inside the app's build as strings (no file to copy, nothing
 * fetched from elsewhere): one style sheet and one small script. Served by `GET api/console/assets/{name}`.
 */

export const CONSOLE_CSS = `
:root { --fg: #1c2430; --muted: #5b6675; --line: #d8dee6; --bg: #f6f8fa; --card: #fff; --accent: #1f5fa8;
  --ok: #1d7a3a; --ok-bg: #e6f4ea; --bad: #b42318; --bad-bg: #fdecea; --warn: #8a5a00; --warn-bg: #fff4d6; --idle: #5b6675; --idle-bg: #eef1f4; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover, a:focus { text-decoration: underline; }
header.top { background: #16324f; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; align-items: center; gap: .4rem 1.2rem; }
header.top .brand { font-weight: 600; color: #fff; margin-right: .6rem; }
header.top nav { display: flex; flex-wrap: wrap; gap: .2rem .9rem; }
header.top nav a { color: #cfe0f3; padding: .15rem 0; }
header.top nav a.active { color: #fff; border-bottom: 2px solid #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.45rem; margin: .2rem 0 .8rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
p { margin: .4rem 0; }
.muted { color: var(--muted); }
.small { font-size: .86rem; }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .85em; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: .8rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; min-width: 0; }
.card h2 { margin: 0 0 .5rem; font-size: 1rem; }
.card dl { margin: 0; display: grid; grid-template-columns: 1fr auto; gap: .15rem .8rem; }
.card dt { color: var(--muted); }
.card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f6; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
tr.total td { font-weight: 600; background: #f3f6f9; }
tr.diff td { background: var(--bad-bg); }
tr.missing td { background: var(--warn-bg); }
td.bad { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; white-space: nowrap; background: var(--idle-bg); color: var(--idle); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.notice { border-left: 4px solid var(--accent); background: var(--card); padding: .6rem .9rem; margin: .8rem 0; border-radius: 4px; }
.notice.bad { border-color: var(--bad); background: var(--bad-bg); }
.notice.ok { border-color: var(--ok); background: var(--ok-bg); }
.notice.warn { border-color: var(--warn); background: var(--warn-bg); }
.notice ul { margin: .3rem 0 0; padding-left: 1.2rem; }
ol.timeline { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: .5rem; }
ol.timeline li { background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--idle); border-radius: 6px; padding: .5rem .6rem; min-width: 0; }
ol.timeline li.done { border-top-color: var(--ok); }
ol.timeline li.waiting { border-top-color: var(--warn); }
ol.timeline li.error { border-top-color: var(--bad); }
ol.timeline .step { font-weight: 600; display: block; }
ol.timeline .detail { font-size: .84rem; color: var(--muted); overflow-wrap: anywhere; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem .8rem; align-items: flex-end; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: .82rem; color: var(--muted); gap: .15rem; min-width: 0; }
input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid #b9c3ce; border-radius: 6px; background: #fff; color: var(--fg); max-width: 100%; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button[disabled] { opacity: .6; cursor: default; }
form.inline { display: inline; margin: 0; }
details > summary { cursor: pointer; color: var(--accent); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f3f5f7; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; margin: .3rem 0; max-height: 18rem; overflow: auto; font-size: .8rem; }
.pager { display: flex; gap: 1rem; margin: .8rem 0; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem 1rem; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; overflow-wrap: anywhere; }
.replay-result { display: block; font-size: .82rem; margin-top: .2rem; }
footer { max-width: 1240px; margin: 1.5rem auto; padding: 0 1rem; color: var(--muted); font-size: .82rem; }
@media (max-width: 640px) {
  body { font-size: 14px; }
  main { padding: .6rem; }
  h1 { font-size: 1.2rem; }
  .kv { grid-template-columns: 1fr; }
  .kv dd { margin-bottom: .3rem; }
  th, td { padding: .35rem .45rem; }
  ol.timeline { grid-template-columns: 1fr; }
  form.filters label, form.filters input, form.filters select { width: 100%; }
}
`;

/**
 * The one script: replay buttons post to the JSON route with the function key the page was opened
 * with (as x-functions-key), show the answer, and reload. Without script the form posts itself.
 */
export const CONSOLE_JS = `
(function () {
  'use strict';
  var key = new URLSearchParams(window.location.search).get('code');
  function show(target, text, ok) {
    target.textContent = text;
    target.className = 'replay-result ' + (ok ? 'ok' : 'bad');
  }
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-replay')) return;
    event.preventDefault();
    var button = form.querySelector('button');
    var result = form.querySelector('.replay-result');
    if (button) button.disabled = true;
    var headers = { 'accept': 'application/json', 'x-requested-by': 'console' };
    if (key) headers['x-functions-key'] = key;
    fetch(form.action, { method: 'POST', headers: headers, credentials: 'same-origin' })
      .then(function (response) {
        return response.text().then(function (text) {
          var body = {};
          try { body = JSON.parse(text); } catch (e) { body = { detail: text }; }
          if (response.ok) {
            show(result, 'Replayed as message ' + (body.messageId || '?') + ' on ' + (body.queue || '?') + '; reloading…', true);
            window.setTimeout(function () { window.location.reload(); }, 900);
          } else {
            show(result, 'Not replayed (' + response.status + '): ' + (body.detail || text), false);
            if (button) button.disabled = false;
          }
        });
      })
      .catch(function (error) {
        show(result, 'Not replayed: ' + error, false);
        if (button) button.disabled = false;
      });
  });
})();
`;

export const CONSOLE_ASSETS: Readonly<Record<string, { contentType: string; body: string }>> = {
  'console.css': { contentType: 'text/css; charset=utf-8', body: CONSOLE_CSS },
  'console.js': { contentType: 'text/javascript; charset=utf-8', body: CONSOLE_JS },
};
