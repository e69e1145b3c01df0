// A corpus of hostile mail opened in the webmail: script, event handlers, javascript: and
// data: URLs, SVG and MathML tricks, CSS url() beacons, mutation-XSS patterns, meta
// refresh, base href, hostile subjects, names and attachment file names. For every
// message: no dialog opens (every snippet calls alert), no request reaches the loopback
// beacon, and no page logs an error (lib.mjs fails the spec on any console error). The
// attachment is served so that no browser renders it in our origin.
import { run, env, login, expectText, assert, goto, beacon, smtpSend } from '../lib.mjs';

const corpus = (B) => [
  `<script>alert(1)</script>`,
  `<SCRIPT SRC=${B}/x.js></SCRIPT>`,
  `<img src=x onerror=alert(1)>`,
  `<img src="${B}/pixel.gif" onload="alert(1)">`,
  `<body onload=alert(1)>hi</body>`,
  `<a href="javascript:alert(1)">a</a><a href="JaVaScRiPt:alert(1)">b</a><a href="jav&#x09;ascript:alert(1)">c</a>`,
  `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>`,
  `<img src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4=">`,
  `<iframe src="javascript:alert(1)"></iframe><iframe srcdoc="<script>alert(1)</script>"></iframe>`,
  `<object data="${B}/x.swf"></object><embed src="${B}/x.swf">`,
  `<svg onload=alert(1)><circle r=10 /></svg><svg><script>alert(1)</script></svg>`,
  `<svg><a xlink:href="javascript:alert(1)"><text y="20">svg link</text></a></svg>`,
  `<svg><style>@import url(${B}/svg.css)</style></svg><svg><image href="${B}/svg.png"/></svg>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>`,
  `<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">m</maction></math>`,
  `<form action="${B}/steal"><input name=p type=password><button>go</button></form><button formaction="javascript:alert(1)">f</button>`,
  `<meta http-equiv="refresh" content="0;url=${B}/refresh">`,
  `<base href="${B}/"><img src="rel.png"><a href="/x">rel</a>`,
  `<link rel=stylesheet href="${B}/s.css"><link rel=prefetch href="${B}/prefetch">`,
  `<style>body{background:url(${B}/bg.png)}</style><style>@import '${B}/i.css';</style>`,
  `<div style="background-image:url(${B}/bg2.png)">bg</div><div style="list-style-image:url(${B}/l.png)">li</div>`,
  `<div style="color:red;background:u\\rl(${B}/esc)">esc</div><div style="width:expression(alert(1))">ex</div>`,
  `<table background="${B}/t.png"><tr><td background="${B}/td.png">td</td></tr></table>`,
  `<img srcset="${B}/1x.png 1x"><picture><source srcset="${B}/src.png"></picture>`,
  `<video poster="${B}/p.png" src="${B}/v.mp4"></video><audio src="${B}/a.mp3" autoplay></audio>`,
  `<input type="image" src="${B}/i.png"><isindex action="javascript:alert(1)">`,
  `<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>`,
  `<noscript><style></noscript><img src=x onerror=alert(1)></style>`,
  `<title><img src=x onerror=alert(1)></title><textarea><img src=x onerror=alert(1)></textarea>`,
  `<template><img src=x onerror=alert(1)></template><xmp><img src=x onerror=alert(1)></xmp>`,
  `<!--<img src="--><img src=x onerror=alert(1)//">`,
  `<p>plain</p><scr<script>ipt>alert(1)</scr</script>ipt>`,
  `<a href="https://example.test/" ping="${B}/ping">ping</a><details open ontoggle=alert(1)>d</details>`,
  `<marquee onstart=alert(1)>m</marquee><frameset><frame src="${B}/f"></frameset>`,
  `<img src="//127.0.0.1:${B.split(':').pop()}/protocol-relative.png">`,
];

run(async (b) => {
  const bk = await beacon();
  const B = `http://127.0.0.1:${bk.port}`;
  const msgs = corpus(B).map((html, i) => ({
    from: 'evil@sender.test', to: env.USER, data: `From: "<img src=x onerror=alert(1)>" <evil@sender.test>
To: ${env.USER}
Subject: hostile ${String(i).padStart(2, '0')} <script>alert(1)</script>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/html; charset=utf-8

<p>case ${i}</p>
${html}
--b
Content-Type: text/html
Content-Disposition: attachment; filename="<img src=x onerror=alert(1)>.html"

<script>alert('attachment')</script>
--b--
` }));
  await b.step(`${msgs.length} hostile messages arrive over SMTP`, async () => { await smtpSend(msgs); });

  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });
  await expectText(page, 'hostile 00');

  for (let i = 0; i < msgs.length; i++) {
    const name = `hostile ${String(i).padStart(2, '0')}`;
    await b.step(`open ${name}`, async () => {
      await goto(page, '/mail/');
      await page.click(`text=${name}`);
      await page.frameLocator('#body-frame').getByText(`case ${i}`).waitFor();
      await expectText(page, '<img src=x onerror=alert(1)>.html', { within: 'ul.attachments' });
      const href = await page.locator('ul.attachments a').first().getAttribute('href');
      const att = await page.request.get(href);
      const h = att.headers();
      assert.match(h['content-disposition'], /^attachment;/);
      assert.equal(h['content-type'], 'application/octet-stream');
      assert.equal(h['x-content-type-options'], 'nosniff');
      assert.match(h['content-security-policy'], /^sandbox/);
    });
  }
  await new Promise((r) => setTimeout(r, 1000)); // anything delayed would have fired
  assert.deepEqual(bk.hits, [], `requests reached the beacon: ${bk.hits.join(', ')}`);
  assert.deepEqual(b.dialogs, [], `dialogs opened: ${b.dialogs.join(', ')}`);
  bk.srv.close();
});
