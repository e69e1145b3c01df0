// Compose address completion (mail_contacts.go): the To, Cc and Bcc fields offer the
// address books' matches for the address being typed (after the last comma) in a
// <datalist>; choosing one replaces that address. The words are the page's language:
// the script tag's data-group-label is the group label's format ("%s" the group's name,
// "%d" its member count), rendered through the catalogue (i18n.go).
(function () {
  "use strict";
  var script = document.currentScript;
  var groupLabel = (script && script.dataset.groupLabel) || "%s (group, %d)";
  function group(it) {
    return groupLabel.replace(/%[sd]/g, function (v) { return v === "%s" ? it.name : String(it.members); });
  }
  var fields = ["to", "cc", "bcc"];
  fields.forEach(function (id) {
    var input = document.getElementById(id);
    if (!input) { return; }
    var list = document.createElement("datalist");
    list.id = "complete-" + id;
    document.body.appendChild(list);
    input.setAttribute("list", list.id);
    input.setAttribute("autocomplete", "off");
    var timer = null, seq = 0;
    function parts() {
      var v = input.value, i = v.lastIndexOf(",");
      return { head: i < 0 ? "" : v.slice(0, i + 1) + " ", word: v.slice(i + 1).trim() };
    }
    input.addEventListener("input", function () {
      var p = parts();
      if (timer) { clearTimeout(timer); }
      if (p.word.length < 1 || p.word.indexOf("@") > 0 && p.word.indexOf(">") > 0) { return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch("/mail/contacts/complete?q=" + encodeURIComponent(p.word), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            if (mine !== seq) { return; }
            list.replaceChildren();
            items.forEach(function (it) {
              var o = document.createElement("option");
              o.value = p.head + it.value;
              o.label = it.group ? group(it) : it.name ? it.name + " <" + it.email + ">" : it.email;
              list.appendChild(o);
            });
          })
          .catch(function () { /* completion is optional */ });
      }, 150);
    });
  });
})();
