// Compose: swap the signature when the From identity changes (mail_signature.go). Each
// From option carries its default signature in data-sig; the form carries the first
// line of the quote (data-quote-head), above which a signature goes. In rich-text mode
// (mail_richtext.js: one <div> per line of the text) the lines are swapped in the
// editor, which then updates the form's fields itself.
(() => {
  const form = document.getElementById('compose-form');
  const from = document.getElementById('from');
  const body = document.getElementById('body');
  if (!form || !from || !body) return;
  const editor = document.getElementById('rt-editor');
  const mode = document.getElementById('compose-mode');
  const block = (opt) => (opt && opt.dataset.sig ? '-- \n' + opt.dataset.sig : '');

  function plainSwap(current, next) {
    const text = body.value;
    if (current && text.includes(current)) {
      if (next) {
        body.value = text.replace(current, () => next);
      } else {
        const at = text.indexOf(current);
        const start = text.slice(0, at).replace(/\n*$/, '').length;
        body.value = text.slice(0, start) + text.slice(at + current.length);
      }
    } else if (next) {
      const head = form.dataset.quoteHead;
      const at = head ? text.indexOf('\n\n' + head) : -1;
      body.value = at >= 0 ? text.slice(0, at) + '\n\n' + next + text.slice(at) : text.replace(/\n*$/, '') + '\n\n' + next;
    }
    body.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function line(l) {
    const d = document.createElement('div');
    if (l === '') d.appendChild(document.createElement('br'));
    else d.textContent = l;
    return d;
  }

  function richSwap(current, next) {
    const divs = Array.from(editor.children);
    const old = current ? current.split('\n') : [];
    const lines = next ? next.split('\n') : [];
    let at = -1;
    for (let i = 0; old.length && i + old.length <= divs.length && at < 0; i++) {
      if (old.every((l, j) => divs[i + j].textContent === l)) at = i;
    }
    if (at >= 0) {
      const anchor = divs[at + old.length] || null;
      for (let j = 0; j < old.length; j++) divs[at + j].remove();
      if (!next) { // the blank lines before it go too
        let prev = anchor ? anchor.previousElementSibling : editor.lastElementChild;
        while (prev && prev.textContent === '') { const p = prev.previousElementSibling; prev.remove(); prev = p; }
      }
      for (const l of lines) editor.insertBefore(line(l), anchor);
    } else if (next) {
      const head = form.dataset.quoteHead;
      const anchor = (head && divs.find((d) => d.textContent === head)) || null;
      for (const l of anchor ? [...lines, ''] : ['', ...lines]) editor.insertBefore(line(l), anchor);
    }
    editor.dispatchEvent(new Event('input', { bubbles: true }));
  }

  let current = block(from.selectedOptions[0]);
  from.addEventListener('change', () => {
    const next = block(from.selectedOptions[0]);
    if (editor && mode && mode.value === 'rich') richSwap(current, next);
    else plainSwap(current, next);
    current = next;
  });
})();
