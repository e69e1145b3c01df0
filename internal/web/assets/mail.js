// mailgrid webmail: progressive enhancement only (every action is a plain form without
// this file). Served from this origin; the page CSP allows no inline script.

// mailT is a text this script writes, in the page's language (<body data-lang>; the
// server's catalogue is i18n_zh.go, these are the script's own few texts).
function mailT(s) {
  'use strict';
  var zh = {
    'Draft saved at %s.': '草稿已于 %s 保存。',
    'Remove': '移除',
    'The upload failed (connection lost); nothing was sent. Try again.': '上传失败（连接中断），未发送任何内容。请重试。',
  };
  return (document.body && document.body.getAttribute('data-lang') === 'zh-CN' && zh[s]) || s;
}
(function () {
  'use strict';
  var body = document.body;
  var csrf = body.getAttribute('data-csrf') || '';

  // Confirmation for destructive buttons and forms (data-confirm).
  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-confirm]');
    if (b && !window.confirm(b.getAttribute('data-confirm'))) { e.preventDefault(); }
  });
  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.hasAttribute('data-confirm') && !window.confirm(f.getAttribute('data-confirm'))) { e.preventDefault(); }
  });

  // Select all, and row highlighting.
  var all = document.getElementById('select-all');
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll('table.messages input[name=uid]')); }
  function mark(cb) { var tr = cb.closest('tr'); if (tr) { tr.classList.toggle('selected', cb.checked); } }
  if (all) {
    all.addEventListener('change', function () { boxes().forEach(function (cb) { cb.checked = all.checked; mark(cb); }); });
  }
  boxes().forEach(function (cb) { cb.addEventListener('change', function () { mark(cb); }); });

  // Drag messages onto a folder: posts the same form as the Move button.
  var listForm = document.getElementById('list-form');
  function selectedValues(row) {
    var checked = boxes().filter(function (cb) { return cb.checked; }).map(function (cb) { return cb.value; });
    var own = row.querySelector('input[name=uid]');
    if (own && checked.indexOf(own.value) < 0) { return [own.value]; }
    return checked;
  }
  document.querySelectorAll('table.messages tr.row').forEach(function (tr) {
    tr.addEventListener('dragstart', function (e) {
      e.dataTransfer.setData('application/x-mailgrid-uids', JSON.stringify(selectedValues(tr)));
      e.dataTransfer.effectAllowed = 'move';
    });
  });
  document.querySelectorAll('nav.folders a[data-folder-id]').forEach(function (a) {
    a.addEventListener('dragover', function (e) {
      if (Array.prototype.indexOf.call(e.dataTransfer.types, 'application/x-mailgrid-uids') >= 0) {
        e.preventDefault(); a.classList.add('drop-target');
      }
    });
    a.addEventListener('dragleave', function () { a.classList.remove('drop-target'); });
    a.addEventListener('drop', function (e) {
      e.preventDefault(); a.classList.remove('drop-target');
      var uids;
      try { uids = JSON.parse(e.dataTransfer.getData('application/x-mailgrid-uids')); } catch (err) { return; }
      if (!listForm || !uids || !uids.length) { return; }
      var f = document.createElement('form');
      f.method = 'post'; f.action = '/mail/act';
      function field(n, v) { var i = document.createElement('input'); i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); }
      field('csrf_token', csrf); field('op', 'move'); field('dest', a.getAttribute('data-folder-id'));
      field('mb', listForm.querySelector('input[name=mb]').value);
      field('back', listForm.querySelector('input[name=back]').value);
      uids.forEach(function (u) { field('uid', u); });
      body.appendChild(f); f.submit();
    });
  });

  // Keyboard shortcuts: c compose, / search, j/k move, o/Enter open, x select,
  // # delete, r reply, a reply all, f forward, u back to the list.
  var rows = Array.prototype.slice.call(document.querySelectorAll('table.messages tr.row'));
  var cur = -1;
  function setCursor(i) {
    if (!rows.length) { return; }
    if (cur >= 0) { rows[cur].classList.remove('cursor'); }
    cur = Math.max(0, Math.min(rows.length - 1, i));
    rows[cur].classList.add('cursor'); rows[cur].scrollIntoView({ block: 'nearest' });
  }
  function go(id) { var el = document.getElementById(id); if (el) { el.click(); } }
  document.addEventListener('keydown', function (e) {
    var t = e.target.tagName;
    if (e.ctrlKey || e.metaKey || e.altKey || t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT' || e.target.isContentEditable) { return; }
    var link;
    switch (e.key) {
    case 'c': go('compose-link'); break;
    case '/': e.preventDefault(); var q = document.getElementById('quick-search'); if (q) { q.focus(); } break;
    case 'j': setCursor(cur + 1); break;
    case 'k': setCursor(cur - 1); break;
    case 'o': case 'Enter':
      if (cur >= 0) { link = rows[cur].querySelector('td.subject a'); if (link) { link.click(); } }
      break;
    case 'x':
      if (cur >= 0) { var cb = rows[cur].querySelector('input[name=uid]'); cb.checked = !cb.checked; mark(cb); }
      break;
    case '#': case 'Delete':
      if (cur >= 0 && !boxes().some(function (b) { return b.checked; })) {
        var c2 = rows[cur].querySelector('input[name=uid]'); c2.checked = true;
      }
      go('trash-button'); break;
    case 'r': go('reply'); break;
    case 'a': go('reply-all'); break;
    case 'f': go('forward'); break;
    case 'u': link = document.querySelector('nav.folders a.current'); if (link) { link.click(); } break;
    case 'n': go('next-page'); break;
    case 'p': go('prev-page'); break;
    default: return;
    }
  });
})();

// Live updates (Server-Sent Events from /mail/events): on a folder list, a change reloads
// the page once the user has been idle for a few seconds with nothing selected and no
// field focused; otherwise a notice offers the reload.
(function () {
  'use strict';
  if (!window.EventSource || !document.getElementById('list-form') || !document.body.hasAttribute('data-folder')) { return; }
  var lastInput = Date.now();
  ['keydown', 'mousedown', 'change', 'dragstart'].forEach(function (t) {
    document.addEventListener(t, function () { lastInput = Date.now(); }, true);
  });
  var pending = null;
  function busy() {
    var a = document.activeElement;
    return Date.now() - lastInput < 3000 ||
      document.querySelector('table.messages input[name=uid]:checked') !== null ||
      document.querySelector('#reading-pane article') !== null ||
      (a && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName));
  }
  function refresh() {
    if (busy()) {
      var n = document.getElementById('live-notice');
      if (n) { n.hidden = false; }
      pending = setTimeout(refresh, 3000);
      return;
    }
    window.location.reload();
  }
  var es = new EventSource('/mail/events');
  function changed() { if (!pending) { pending = setTimeout(refresh, 300); } }
  es.addEventListener('change', changed);
  es.addEventListener('resync', changed);
  window.addEventListener('pagehide', function () { es.close(); });
})();

// Draft auto-save: every 30 s, when the compose form changed since the last save, post
// it as a draft (without its files: drafts keep text only) and remember the new draft,
// so the next save or the send replaces it.
(function () {
  'use strict';
  var form = document.getElementById('compose-form');
  if (!form || !window.fetch || !window.FormData) { return; }
  function snapshot() {
    return ['to', 'cc', 'bcc', 'subject', 'body'].map(function (n) { return form.elements[n].value; }).join('\u0000');
  }
  var saved = snapshot();
  var saving = false;
  setInterval(function () {
    var now = snapshot();
    if (saving || now === saved || (form.elements.to.value + form.elements.subject.value + form.elements.body.value).trim() === '') { return; }
    var data = new FormData(form);
    data.delete('attachment');
    data.set('op', 'draft');
    saving = true;
    fetch('/mail/compose', { method: 'POST', body: data, credentials: 'same-origin' }).then(function (r) {
      var m = /[?&]draft=(\d+\/\d+)/.exec(r.url);
      if (r.ok && m) {
        form.elements.draft.value = m[1];
        saved = now;
        var n = document.getElementById('autosave-status');
        if (n) { n.textContent = mailT('Draft saved at %s.').replace('%s', new Date().toLocaleTimeString()); }
      }
    }).catch(function () {}).then(function () { saving = false; });
  }, 30000);
})();

// Attachments: the chosen files with their sizes and a remove button, a warning past the
// size limit, and an upload progress bar (the form is then posted with XMLHttpRequest;
// without files, or without this script, it is a plain form post).
(function () {
  'use strict';
  var form = document.getElementById('compose-form');
  var input = document.getElementById('attachment');
  if (!form || !input || !window.DataTransfer) { return; }
  var list = document.getElementById('attachment-list');
  var bar = document.getElementById('upload-progress');
  var max = Number(form.getAttribute('data-max') || 0);
  function fmt(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.ceil(n / 1024) + ' kB'; }
  function render() {
    list.textContent = '';
    var total = 0;
    Array.prototype.forEach.call(input.files, function (f, i) {
      total += f.size;
      var li = document.createElement('li');
      li.textContent = f.name + ' (' + fmt(f.size) + ') ';
      var rm = document.createElement('button');
      rm.type = 'button'; rm.textContent = mailT('Remove'); rm.className = 'remove-attachment';
      rm.addEventListener('click', function () {
        var dt = new DataTransfer();
        Array.prototype.forEach.call(input.files, function (g, j) { if (j !== i) { dt.items.add(g); } });
        input.files = dt.files; render();
      });
      li.appendChild(rm); list.appendChild(li);
    });
    var warn = document.getElementById('size-warning');
    warn.hidden = !(max > 0 && total > max);
  }
  input.addEventListener('change', render);
  form.addEventListener('submit', function (e) {
    if (e.defaultPrevented || !input.files.length || !window.XMLHttpRequest) { return; }
    e.preventDefault();
    var data = new FormData(form);
    if (e.submitter && e.submitter.name) { data.set(e.submitter.name, e.submitter.value); }
    var xhr = new XMLHttpRequest();
    // A button's own formaction ("Send as SMS") is where the form goes, as without script.
    xhr.open('POST', e.submitter && e.submitter.hasAttribute('formaction') ? e.submitter.formAction : form.action);
    bar.hidden = false; bar.value = 0;
    xhr.upload.addEventListener('progress', function (p) { if (p.lengthComputable) { bar.max = p.total; bar.value = p.loaded; } });
    xhr.addEventListener('load', function () {
      // Success redirects to a page whose URL carries a flash key; a refusal is the
      // compose page again, with the message: show it as the page.
      if (/[?&]done=/.test(xhr.responseURL)) { window.location.assign(xhr.responseURL); return; }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener('error', function () {
      bar.hidden = true;
      var warn = document.getElementById('size-warning');
      warn.textContent = mailT('The upload failed (connection lost); nothing was sent. Try again.');
      warn.hidden = false;
    });
    xhr.send(data);
  });
})();

// Layout "list and reading pane" (Preferences): a message opened from the list (or a
// link to a message inside the pane, e.g. "show images") is fetched and its article
// shown beside the list; its forms return to the list. Without this script, or on any
// failure, the link opens the message page as in the list layout.
(function () {
  'use strict';
  var pane = document.getElementById('reading-pane');
  if (!pane || document.body.getAttribute('data-layout') !== 'pane' || !window.fetch || !window.DOMParser) { return; }
  var back = window.location.pathname + window.location.search;
  function open(href, row) {
    fetch(href, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text();
    }).then(function (t) {
      var art = new DOMParser().parseFromString(t, 'text/html').querySelector('article.message');
      if (!art) { window.location.assign(href); return; }
      art = document.importNode(art, true);
      art.querySelectorAll('input[name=back]').forEach(function (i) { i.value = back; });
      pane.textContent = '';
      pane.appendChild(art);
      document.querySelectorAll('table.messages tr.open').forEach(function (tr) { tr.classList.remove('open'); });
      if (row) { row.classList.remove('unseen'); row.classList.add('open'); }
    }).catch(function () { window.location.assign(href); });
  }
  document.addEventListener('click', function (e) {
    var a = e.target.closest('a');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) { return; }
    var href = a.getAttribute('href') || '';
    if (!/^\/mail\/m\/\d+\/\d+(\?[^#]*)?$/.test(href)) { return; }
    if (!a.closest('table.messages td.subject') && !pane.contains(a)) { return; }
    e.preventDefault();
    open(href, a.closest('tr.row'));
  });
})();

// Preferences: offer the browser's time zone (the stored zone is UTC until chosen).
(function () {
  'use strict';
  var box = document.getElementById('tz-browser');
  var use = document.getElementById('tz-use');
  var tz = document.getElementById('tz');
  if (!box || !use || !tz || !window.Intl) { return; }
  var zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (err) { return; }
  if (!zone) { return; }
  use.textContent = zone;
  box.hidden = false;
  use.addEventListener('click', function () { tz.value = zone; });
})();
