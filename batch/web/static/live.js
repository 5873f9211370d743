// The live refresh: every 2 s ask which jobs changed since the cursor, and patch those tiles in
// place (the same elements, so focus, selection, scroll and an open viewer stay where they are).
// Also: the summary line, export and re-run from the page.
(function () {
  'use strict';
  var nb = window.nbSheet;
  var grid = nb.grid;
  var summary = document.getElementById('summary');
  var cursor = summary.dataset.cursor;
  var KEEP = {tabindex: 1, 'aria-selected': 1};

  function patch(old, fresh) {
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!KEEP[a.name] && !fresh.hasAttribute(a.name)) { old.removeAttribute(a.name); }
    });
    Array.prototype.forEach.call(fresh.attributes, function (a) {
      if (!KEEP[a.name] && old.getAttribute(a.name) !== a.value) { old.setAttribute(a.name, a.value); }
    });
    if (old.innerHTML !== fresh.innerHTML) { old.innerHTML = fresh.innerHTML; }
    nb.show(old);
  }

  function lastOf(job) {
    var found = grid.querySelectorAll('.tile[data-job="' + job + '"]');
    return found.length ? found[found.length - 1] : null;
  }

  // false when a tile has no place on this page yet (a new group): the page then says so
  function place(change) {
    var box = document.createElement('template');
    box.innerHTML = change.html;  // rendered (and escaped) by the server's templates
    var ok = true;
    Array.prototype.slice.call(box.content.querySelectorAll('.tile')).forEach(function (fresh) {
      var old = grid.querySelector('.tile[data-tile="' + fresh.dataset.tile + '"]');
      if (old) { patch(old, fresh); return; }
      fresh.tabIndex = -1;
      fresh.setAttribute('aria-selected', 'false');
      var prev = lastOf(change.job) || (change.after !== null ? lastOf(change.after) : null);
      if (prev && prev.parentElement.closest('.group').dataset.group === change.group) { prev.after(fresh); return; }
      var section = Array.prototype.find.call(grid.querySelectorAll('.group'), function (g) {
        return g.dataset.group === change.group;
      });
      if (section) { section.querySelector('[role=row]').prepend(fresh); } else { ok = false; }
    });
    return ok;
  }

  function summarize() {
    return fetch('/api/batches/' + nb.batchId, {credentials: 'same-origin'}).then(function (r) { return r.json(); })
      .then(function (b) {
        summary.querySelector('.done').textContent = b.finished + '/' + b.total + ' done';
        summary.querySelector('.spend').textContent = '$' + b.cost_usd.toFixed(2) +
          (b.budget_usd === null ? '' : ' of $' + b.budget_usd.toFixed(2));
        summary.querySelector('.events').textContent = b.events.map(function (e) { return ' · ' + e; }).join('');
        var o = b.outputs;
        summary.querySelector('.reviews').textContent = (o.approved + o.rejected) + ' of ' + o.outputs +
          ' reviewed (' + o.approved + ' approved, ' + o.rejected + ' rejected)';
        document.getElementById('workers').textContent = b.workers || '';
      });
  }

  function refresh() {
    nb.refreshStarts += 1;
    var started = nb.refreshStarts;
    var url = new URL('/api/batches/' + nb.batchId + '/changes', location.href);
    new URL(location.href).searchParams.forEach(function (v, k) { url.searchParams.set(k, v); });
    url.searchParams.set('since', cursor);
    return fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (answer) {
      cursor = answer.cursor;
      document.getElementById('workers').textContent = answer.workers || '';
      if (answer.reload) { nb.say('the page is out of date: reload it'); return; }
      if (!answer.tiles) { return; }
      var placed = answer.tiles.map(place).every(Boolean);
      if (!placed) { nb.say('new images belong on this page: reload to see them'); }
      nb.reapply(started);
      return summarize();
    });
  }
  nb.refresh = refresh;

  function poll() {
    refresh().catch(function () {}).finally(function () { setTimeout(poll, nb.interval || 2000); });
  }
  setTimeout(poll, 2000);
  summarize().catch(function () {});

  document.getElementById('rerun').addEventListener('click', function () {
    var append = window.prompt('Text to add to the prompts of the new jobs (optional):', '');
    if (append === null) { return; }
    var path = '/api/batches/' + nb.batchId + '/rerun';
    nb.post(path, {confirm: false, prompt_append: append}).then(function (plan) {
      if (!plan.jobs) { nb.say(plan.message); return null; }
      if (!window.confirm(plan.message + '. Queue them?')) { return null; }
      return nb.post(path, {confirm: true, prompt_append: append});
    }).then(function (done) {
      if (done) { nb.say(done.queued + ' jobs queued; ' + done.hint); refresh(); }
    }).catch(function (e) { nb.say('rerun failed: ' + e.message); });
  });

  document.getElementById('export').addEventListener('click', function () {
    var dest = window.prompt('Folder to copy the approved images to (export.csv lists them):',
                             '~/nanobatch-export-' + nb.batchId);
    if (!dest) { return; }
    nb.post('/api/batches/' + nb.batchId + '/export', {dest: dest}).then(function (done) {
      nb.say('exported ' + done.files + ' approved images to ' + done.dest);
    }).catch(function (e) { nb.say('export failed: ' + e.message); });
  });
}());
