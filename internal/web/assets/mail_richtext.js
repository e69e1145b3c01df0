// mailgrid webmail: the rich-text editor of compose (our own; no library). A plain
// contenteditable element with a toolbar (bold, italic, underline, lists, quote, link).
// Its HTML travels in the hidden "html" field with mode=rich, and its text is kept in
// the textarea (so auto-save notices changes and a server without this script still has
// the text). The server sanitises the HTML and makes the text/plain part itself
// (mail_richtext.go). Without this script compose is plain text only.
(function () {
  'use strict';
  var form = document.getElementById('compose-form');
  var editor = document.getElementById('rt-editor');
  if (!form || !editor || !document.execCommand) { return; }
  var toggle = document.getElementById('format-toggle');
  var toolbar = document.getElementById('rt-toolbar');
  var body = document.getElementById('body');
  var mode = document.getElementById('compose-mode');
  var html = document.getElementById('compose-html');
  var linkURL = document.getElementById('rt-link-url');

  function escapeHTML(s) {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  }
  // textToHTML keeps the plain text's lines when switching to rich text.
  function textToHTML(t) {
    return t.split('\n').map(function (l) { return '<div>' + (l === '' ? '<br>' : escapeHTML(l)) + '</div>'; }).join('');
  }
  function sync() {
    if (mode.value !== 'rich') { return; }
    html.value = editor.innerHTML;
    body.value = editor.innerText;
  }
  function setMode(m) {
    if (m === 'rich') {
      // A rich draft's sanitised HTML, else the plain text typed so far.
      editor.innerHTML = html.value !== '' ? html.value : textToHTML(body.value);
      mode.value = 'rich';
      editor.hidden = false; toolbar.hidden = false; body.hidden = true;
      sync();
    } else {
      if (mode.value === 'rich') { body.value = editor.innerText; }
      mode.value = 'plain'; html.value = '';
      editor.hidden = true; toolbar.hidden = true; body.hidden = false;
    }
  }

  toggle.hidden = false;
  toggle.addEventListener('change', function (e) {
    if (e.target.name === 'format') { setMode(e.target.value); }
  });
  editor.addEventListener('input', sync);
  // The selection in the editor, kept while the link address field has the focus.
  // selectionchange is dispatched later, as a task: a selection made by keyboard and
  // followed at once by a click in the address field could be missed, so the editor's
  // own key, mouse and focus-leaving events keep it too (they run while the selection
  // is still the editor's).
  var saved = null;
  function keep() {
    var sel = window.getSelection();
    if (sel.rangeCount && editor.contains(sel.getRangeAt(0).commonAncestorContainer)) { saved = sel.getRangeAt(0).cloneRange(); }
  }
  document.addEventListener('selectionchange', keep);
  ['keyup', 'mouseup', 'focusout'].forEach(function (t) { editor.addEventListener(t, keep); });
  function restore() {
    editor.focus();
    if (saved) { var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(saved); }
  }
  // Capture at the form: runs before the attachment upload's submit handler reads it.
  form.addEventListener('submit', sync, true);

  // Toolbar buttons keep the editor's selection (no focus change on mousedown).
  toolbar.addEventListener('mousedown', function (e) {
    if (e.target.closest('button')) { e.preventDefault(); }
  });
  toolbar.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-cmd]');
    if (!b) { return; }
    var cmd = b.getAttribute('data-cmd');
    restore();
    switch (cmd) {
    case 'blockquote':
      document.execCommand('formatBlock', false, 'blockquote');
      break;
    case 'createLink':
      var u = (linkURL.value || '').trim();
      // Only web and mail links; the server's sanitiser enforces the same.
      if (!/^(https?:\/\/|mailto:)/i.test(u)) { linkURL.focus(); return; }
      document.execCommand('createLink', false, u);
      linkURL.value = '';
      break;
    default:
      document.execCommand(cmd, false, null);
    }
    sync();
  });

  // The page posts plain text until this script switches it (a rich draft without
  // JavaScript is edited and sent as its text).
  if (mode.getAttribute('data-initial') === 'rich') { setMode('rich'); }
})();
