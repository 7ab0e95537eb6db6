// Marks the glossary's terms where they appear in the page: a dotted underline, the
// definition on hover (the title) and on tap or keyboard focus (a small box under the term).
// The terms come first in this file, from the one list in wb_reports::glossary; the page
// reads the same without this script, and the "How to read" page lists every term.
(function () {
  "use strict";
  var terms = window.WB_GLOSSARY || [];
  if (!terms.length || !document.querySelector) return;
  var byForm = {};
  var forms = [];
  terms.forEach(function (t) {
    t.forms.forEach(function (f) {
      byForm[f] = t;
      forms.push(f);
    });
  });
  // Longest first, so "closed loop" wins over a shorter form inside it.
  forms.sort(function (a, b) { return b.length - a.length; });
  var escape = function (s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); };
  var pattern = new RegExp("(^|[^A-Za-z0-9_-])(" + forms.map(escape).join("|") + ")(?![A-Za-z0-9_])");
  var SKIP = { A: 1, ABBR: 1, BUTTON: 1, CODE: 1, DFN: 1, INPUT: 1, KBD: 1, LABEL: 1, OPTION: 1,
    PRE: 1, SCRIPT: 1, SELECT: 1, STYLE: 1, SVG: 1, TEXTAREA: 1, TITLE: 1, H1: 1, NAV: 1 };
  var BLOCK = "p, li, td, th, dd, dt, figcaption, summary, h2, h3, h4, blockquote, div";

  function skipped(node) {
    for (var n = node.parentNode; n && n !== document.body; n = n.parentNode) {
      if (SKIP[n.nodeName.toUpperCase()]) return true;
      if (n.classList && (n.classList.contains("term") || n.classList.contains("glossary"))) return true;
    }
    return false;
  }

  function mark(text, term) {
    var abbr = document.createElement("abbr");
    abbr.className = "term";
    abbr.tabIndex = 0;
    abbr.title = term.definition;
    abbr.setAttribute("data-definition", term.definition);
    abbr.setAttribute("data-term", term.anchor);
    abbr.textContent = text;
    return abbr;
  }

  var main = document.getElementById("main") || document.body;
  var walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, null);
  var nodes = [];
  for (var n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.nodeValue.trim() && !skipped(n)) nodes.push(n);
  }
  // Each block marks a term once: its first appearance there.
  var done = new Map();
  nodes.forEach(function (node) {
    var block = node.parentNode.closest ? node.parentNode.closest(BLOCK) || main : main;
    var seen = done.get(block);
    if (!seen) { seen = {}; done.set(block, seen); }
    var rest = node;
    for (;;) {
      var text = rest.nodeValue;
      var m = pattern.exec(text);
      if (!m) break;
      var term = byForm[m[2]];
      var at = m.index + m[1].length;
      if (seen[term.anchor]) {
        // Already marked in this block: look further along the same text.
        rest = rest.splitText(at + m[2].length);
        continue;
      }
      seen[term.anchor] = true;
      var word = rest.splitText(at);
      var after = word.splitText(m[2].length);
      word.parentNode.replaceChild(mark(m[2], term), word);
      rest = after;
    }
  });
})();
