/**
 * The UI's one script, served as /ui/static/copy.js (no inline script: the CSP allows only
 * scripts from Keel itself). It marks the page as scripted (so the copy buttons show; without
 * JavaScript the commands are plain selectable text) and makes each `button.copy` copy the
 * text of the `<code>` its `data-copy-target` names: with navigator.clipboard where the page
 * may use it (a secure context: https or localhost), otherwise by selecting the text and
 * asking the browser to copy the selection, which leaves it selected for Ctrl+C if even that
 * is refused. Plain ES5-level JavaScript: no build step.
 */
export const COPY_JS = `(function () {
  'use strict';
  document.documentElement.classList.add('js');
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return selection;
  }
  function fallback(node) {
    selectText(node);
    try { return document.execCommand('copy'); } catch (e) { return false; }
  }
  function done(button, ok) {
    button.textContent = ok ? 'Copied' : 'Select + Ctrl+C';
    button.classList.toggle('copied', ok);
    setTimeout(function () { button.textContent = 'Copy'; button.classList.remove('copied'); }, 2000);
  }
  document.addEventListener('click', function (event) {
    var button = event.target instanceof Element ? event.target.closest('button.copy') : null;
    if (!button) return;
    var node = document.getElementById(button.getAttribute('data-copy-target') || '');
    if (!node) return;
    var text = node.textContent || '';
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(button, true); }, function () { done(button, fallback(node)); });
    } else {
      done(button, fallback(node));
    }
  });
})();
`;
