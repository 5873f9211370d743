// The contact sheet: keyboard review, the full-size viewer, bulk approval, reruns and live refresh.
(function () {
  'use strict';
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var batchId = document.getElementById('summary').dataset.batch;
  var grid = document.getElementById('grid');
  var viewer = document.getElementById('viewer');
  var message = document.getElementById('message');
  var current = null;  // the tile shown in the viewer, or focused in the grid

  function tiles() { return Array.prototype.slice.call(grid.querySelectorAll('.tile')); }
  function say(text) { message.textContent = text; }

  function post(path, body) {
    return fetch(path, {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) { return r.text().then(function (t) { throw new Error(t || r.statusText); }); }
      return r.json();
    });
  }

  function mark(tile, decision, note) {
    tile.dataset.note = note || '';
    tile.classList.remove('d-approved', 'd-rejected', 'd-none');
    tile.classList.add('d-' + decision);
    tile.dataset.decision = decision;
  }

  function decide(list, decision, note) {
    var ids = list.filter(function (t) { return t.dataset.out; }).map(function (t) { return Number(t.dataset.job); });
    if (!ids.length) { say('nothing to review there yet'); return Promise.resolve(); }
    return post('/api/batches/' + batchId + '/review', {job_ids: ids, decision: decision, note: note || null})
      .then(function (answer) {
        list.forEach(function (t) { if (t.dataset.out) { mark(t, decision, note); } });
        say(answer.recorded + ' ' + decision);
      }).catch(function (e) { say('not saved: ' + e.message); });
  }

  function focusTile(tile) {
    if (!tile) { return; }
    current = tile;
    tile.focus();
    if (!viewer.hidden) { show(tile); }
  }

  function step(delta) {
    var all = tiles();
    var i = all.indexOf(current);
    focusTile(all[Math.max(0, Math.min(all.length - 1, (i < 0 ? 0 : i + delta)))]);
  }

  function columns() {
    var all = tiles();
    if (all.length < 2) { return 1; }
    var top = all[0].offsetTop, n = 0;
    while (n < all.length && all[n].offsetTop === top) { n += 1; }
    return Math.max(n, 1);
  }

  function show(tile) {
    current = tile;
    document.getElementById('v-key').textContent = tile.dataset.key;
    document.getElementById('v-state').textContent = tile.dataset.state;
    var d = document.getElementById('v-decision');
    d.textContent = (tile.dataset.decision || 'unreviewed') + (tile.dataset.note ? ': ' + tile.dataset.note : '');
    document.getElementById('v-redoes').textContent = tile.dataset.redoes ? 'redoes ' + tile.dataset.redoes : '';
    d.className = tile.dataset.decision || '';
    document.getElementById('v-prompt').textContent = tile.dataset.prompt;
    var out = document.getElementById('v-out'), inp = document.getElementById('v-in');
    out.classList.remove('zoom'); inp.classList.remove('zoom');
    out.src = tile.dataset.out ? '/files/' + tile.dataset.out : '';
    inp.src = tile.dataset.hasInput === '1' ? '/thumb/in/' + tile.dataset.job + '/0?s=lg' : '';
    var file = document.getElementById('v-file');
    file.href = tile.dataset.out ? '/files/' + tile.dataset.out : '#';
    document.getElementById('v-input').href = tile.dataset.input || '#';
    viewer.hidden = false;
  }

  function close() { viewer.hidden = true; if (current) { current.focus(); } }

  function review(decision, ask) {
    if (!current) { return; }
    var box = document.getElementById('v-note');
    var note = ask ? window.prompt('Note for ' + current.dataset.key + ' (' + decision + ')', '') : box.value;
    if (note === null) { return; }
    var tile = current;
    box.value = '';
    step(1);  // on at once: the next key acts on the next tile even while this decision is being saved
    decide([tile], decision, note);
  }

  document.addEventListener('keydown', function (ev) {
    if (ev.target.tagName === 'INPUT' || ev.target.tagName === 'SELECT' || ev.ctrlKey || ev.metaKey || ev.altKey) {
      if (ev.key === 'Escape' && !viewer.hidden) { close(); }
      return;
    }
    var key = ev.key.toLowerCase();
    var moves = {arrowright: 1, arrowleft: -1, j: 1, k: -1};
    if (key in moves) { step(moves[key]); ev.preventDefault(); return; }
    if (viewer.hidden && (key === 'arrowdown' || key === 'arrowup')) {
      step(key === 'arrowdown' ? columns() : -columns()); ev.preventDefault(); return;
    }
    if (key === 'a' || key === 'r') { review(key === 'a' ? 'approved' : 'rejected', ev.shiftKey); ev.preventDefault(); }
    else if (key === 'enter' && current) { show(current); ev.preventDefault(); }
    else if (key === 'escape') { close(); }
  });

  grid.addEventListener('click', function (ev) {
    var bulk = ev.target.closest('.bulk');
    if (bulk) {
      var group = bulk.closest('.group');
      decide(Array.prototype.slice.call(group.querySelectorAll('.tile')), 'approved', null);
      return;
    }
    var tile = ev.target.closest('.tile');
    if (tile) { focusTile(tile); show(tile); }
  });
  document.getElementById('v-close').addEventListener('click', close);
  viewer.addEventListener('click', function (ev) {
    if (ev.target.tagName === 'IMG' && ev.target.src) { ev.target.classList.toggle('zoom'); }
  });

  document.getElementById('rerun').addEventListener('click', function () {
    var append = window.prompt('Text to add to the prompts of the new jobs (optional):', '');
    if (append === null) { return; }
    post('/api/batches/' + batchId + '/rerun', {confirm: false, prompt_append: append}).then(function (plan) {
      if (!plan.jobs) { say(plan.message); return null; }
      if (!window.confirm(plan.message + '. Queue them?')) { return null; }
      return post('/api/batches/' + batchId + '/rerun', {confirm: true, prompt_append: append});
    }).then(function (done) {
      if (done) { say(done.queued + ' jobs queued; ' + done.hint); refresh(); }
    }).catch(function (e) { say('rerun failed: ' + e.message); });
  });

  function refresh() {
    var url = new URL(location.href);
    url.searchParams.set('fragment', '1');
    var keep = current ? current.dataset.job : null;
    return fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.text(); }).then(function (html) {
      grid.innerHTML = html;  // rendered (and escaped) by the server's templates
      if (keep) { current = grid.querySelector('.tile[data-job="' + keep + '"]'); }
    });
  }

  var last = null;
  function poll() {
    fetch('/api/batches/' + batchId, {credentials: 'same-origin'}).then(function (r) { return r.json(); })
      .then(function (b) {
        var seen = JSON.stringify(b.counts);
        var summary = document.getElementById('summary');
        summary.querySelector('.done').textContent = b.finished + '/' + b.total + ' done';
        summary.querySelector('.spend').textContent = '$' + b.cost_usd.toFixed(2) +
          (b.budget_usd === null ? '' : ' of $' + b.budget_usd.toFixed(2));
        summary.querySelector('.events').textContent = b.events.map(function (e) { return ' · ' + e; }).join('');
        summary.querySelector('.reviews').textContent =
          (b.reviews.approved || 0) + ' approved, ' + (b.reviews.rejected || 0) + ' rejected';
        if (last !== null && seen !== last) { refresh(); }
        last = seen;
      }).catch(function () {}).finally(function () { setTimeout(poll, 2000); });
  }
  poll();
  var first = tiles()[0];
  if (first) { current = first; }
}());
