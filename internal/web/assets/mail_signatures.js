// Compose: swap the signature when the From identity changes (mail_signature.go). Each
// From option carries its default signature in data-sig; the form carries the first
// line of the quote (data-quote-head), above which a signature goes.
(() => {
  const form = document.getElementById('compose-form');
  const from = document.getElementById('from');
  const body = document.getElementById('body');
  if (!form || !from || !body) return;
  const block = (opt) => (opt && opt.dataset.sig ? '-- \n' + opt.dataset.sig : '');
  let current = block(from.selectedOptions[0]);
  from.addEventListener('change', () => {
    const next = block(from.selectedOptions[0]);
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
    current = next;
    body.dispatchEvent(new Event('input', { bubbles: true }));
  });
})();
