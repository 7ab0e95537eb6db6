// The live page of a run: progress from server-sent events (polling if they fail), and the
// charts fetched again, drawn by the server, each time a step ends. No framework, no build.
(function () {
  'use strict';
  var root = document.getElementById('live');
  if (!root) { return; }
  function el(id) { return document.getElementById(id); }

  var lastDone = Number(root.getAttribute('data-done') || '0');
  var wasFinished = root.getAttribute('data-finished') === 'true';
  var source = null;
  var polling = null;

  function duration(secs) {
    secs = Math.max(0, Math.round(secs));
    if (secs < 60) { return secs + ' s'; }
    if (secs < 3600) { return Math.floor(secs / 60) + ' min ' + String(secs % 60).padStart(2, '0') + ' s'; }
    return Math.floor(secs / 3600) + ' h ' + String(Math.floor(secs / 60) % 60).padStart(2, '0') + ' min';
  }

  function fraction(p) {
    if (!p.steps_total) { return p.finished ? 1 : 0; }
    var partial = (p.step && !p.finished) ? Math.min(Math.max(p.step_fraction, 0), 1) : 0;
    return Math.min((p.steps_done + partial) / p.steps_total, 1);
  }

  function setBar(bar, label, value) {
    var pct = Math.round(value * 100);
    el(bar).value = pct;
    el(bar).textContent = pct + '%';
    el(label).textContent = pct + '%';
  }

  function refreshCharts() {
    fetch(root.getAttribute('data-charts'), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { el('live-charts').innerHTML = html; })
      .catch(function () { /* the next step will try again */ });
  }

  function render(p) {
    setBar('run-bar', 'run-pct', fraction(p));
    setBar('step-bar', 'step-pct', p.finished ? 1 : (p.step ? p.step_fraction : 0));
    var badge = el('status-badge');
    badge.textContent = p.status;
    badge.className = 'status ' + p.status;
    el('step-text').textContent = p.step
      ? 'Step ' + (p.step.index + 1) + ' of ' + p.steps_total + ': ' + p.step.engine + ' · ' +
        p.step.workload + ' · ' + p.step.level + ' ' + p.step.unit
      : (p.finished ? 'No step running.' : 'Waiting for the next step.');
    var status = 'Run ' + p.status + ': ' + p.steps_done + ' of ' + p.steps_total +
      ' steps done, ' + duration(p.elapsed_secs) + ' elapsed of about ' +
      duration(p.estimated_secs) + '.';
    if (p.message) { status += ' ' + p.message; }
    if (el('status').textContent !== status) { el('status').textContent = status; }
    if (p.last_step) { el('last-step').textContent = 'Last step: ' + p.last_step; }
    if (p.steps_done !== lastDone) {
      lastDone = p.steps_done;
      refreshCharts();
    }
    if (p.finished) {
      if (!wasFinished) { wasFinished = true; refreshCharts(); }
      el('done').hidden = false;
      var cancel = el('cancel-form');
      if (cancel) { cancel.hidden = true; }
      stop();
    }
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (polling) { clearInterval(polling); polling = null; }
  }

  function poll() {
    if (polling) { return; }
    polling = setInterval(function () {
      fetch(root.getAttribute('data-progress'), { credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(render)
        .catch(function () { /* keep trying */ });
    }, 1000);
  }

  if (wasFinished) { return; }
  if (window.EventSource) {
    source = new EventSource(root.getAttribute('data-events'));
    source.addEventListener('progress', function (e) { render(JSON.parse(e.data)); });
    source.onerror = function () {
      // The stream ends after the last event; if it broke earlier, fall back to polling.
      if (source) { source.close(); source = null; }
      if (!wasFinished) { poll(); }
    };
  } else {
    poll();
  }
}());
