// The contact sheet: roving focus, keyboard review by output id, selection, undo, the viewer and help.
// A key acts on the image under focus when it is pressed: its output id is read then, and the
// live refresh (live.js) patches tiles in place, so nothing it does moves a decision or the focus.
(function () {
  'use strict';
  var batchId = document.getElementById('summary').dataset.batch;
  var grid = document.getElementById('grid');
  var viewer = document.getElementById('viewer');
  var help = document.getElementById('help');
  var message = document.getElementById('message');
  var nb = window.nbSheet = {batchId: batchId, grid: grid, pending: {}, undo: [], refreshStarts: 0, inflight: 0};
  var current = null;   // the tile with the grid's tab stop (focused, or last focused)
  var anchor = null;    // where a Shift range starts
  var opener = null;    // what had focus before a dialog opened

  function tiles() { return Array.prototype.slice.call(grid.querySelectorAll('.tile')); }
  function say(text) { message.textContent = text; }
  nb.say = say;

  var post = window.nbPostJSON;
  nb.post = post;

  function byOut(id) { return grid.querySelectorAll('.tile[data-out="' + id + '"]'); }

  function mark(tile, decision, note) {
    var d = decision === 'cleared' ? '' : decision;
    tile.dataset.decision = d;
    tile.dataset.note = note || '';
    tile.classList.remove('d-approved', 'd-rejected', 'd-none');
    tile.classList.add('d-' + (d || 'none'));
    var badge = tile.querySelector('.badge');
    if (badge) { badge.textContent = d === 'approved' ? '✓ approved' : (d === 'rejected' ? '✗ rejected' : ''); }
    var label = tile.getAttribute('aria-label') || '';
    tile.setAttribute('aria-label', label.replace(/, [^,]*$/, '') + ', ' + (d || 'unreviewed'));
    nb.show(tile);
  }
  nb.mark = mark;

  // after a refresh patched tiles: decisions not yet known to the answer it carried are shown again
  nb.reapply = function (started) {
    Object.keys(nb.pending).forEach(function (out) {
      var p = nb.pending[out];
      if (p.doneAt !== null && started > p.doneAt) { delete nb.pending[out]; return; }
      Array.prototype.forEach.call(byOut(out), function (t) { mark(t, p.decision, p.note); });
    });
    if (current && !grid.contains(current)) { current = null; }
    if (!current) { current = tiles()[0] || null; }
    roving();
  };

  // record ``decision`` on these outputs: [{out, decision, note}] are what they had before (for undo)
  function record(items, decision, note, undoable) {
    if (!items.length) { say('nothing to review there yet'); return Promise.resolve(); }
    items.forEach(function (it) {
      nb.pending[it.out] = {decision: decision, note: note, doneAt: null};
      Array.prototype.forEach.call(byOut(it.out), function (t) { mark(t, decision, note); });
    });
    if (undoable) { nb.undo.push(items); }
    var ids = items.map(function (it) { return Number(it.out); });
    nb.inflight += 1;
    return post('/api/batches/' + batchId + '/review', {outputs: ids, decision: decision, note: note || null})
      .then(function (answer) {
        items.forEach(function (it) { if (nb.pending[it.out]) { nb.pending[it.out].doneAt = nb.refreshStarts; } });
        say(answer.recorded + ' ' + decision);
      }).catch(function (e) {
        items.forEach(function (it) {
          delete nb.pending[it.out];
          Array.prototype.forEach.call(byOut(it.out), function (t) { mark(t, it.decision, it.note); });
        });
        if (undoable) { nb.undo.splice(nb.undo.indexOf(items), 1); }
        say('not saved: ' + e.message);
      }).finally(function () { nb.inflight -= 1; });
  }
  nb.record = record;

  function before(list) {
    return list.filter(function (t) { return t.dataset.out; }).map(function (t) {
      return {out: t.dataset.out, decision: t.dataset.decision || 'cleared', note: t.dataset.note};
    });
  }

  function undo() {
    var items = nb.undo.pop();
    if (!items) { say('nothing to undo'); return; }
    var groups = {};
    items.forEach(function (it) {
      var k = it.decision + '\u0000' + (it.note || '');
      (groups[k] = groups[k] || []).push(it);
    });
    Object.keys(groups).forEach(function (k) {
      var first = groups[k][0];
      record(groups[k].map(function (it) { return {out: it.out, decision: 'cleared', note: ''}; }),
             first.decision, first.note, false);
    });
    var back = byOut(items[0].out)[0];
    if (back) { focusTile(back); }
    say('undone: ' + items.length + ' image' + (items.length === 1 ? '' : 's'));
  }

  function roving() {
    tiles().forEach(function (t) { t.tabIndex = t === current ? 0 : -1; });
  }

  function focusTile(tile) {
    if (!tile) { return; }
    current = tile;
    roving();
    tile.focus();
    if (!viewer.hidden) { show(tile); }
  }

  function selected() { return tiles().filter(function (t) { return t.getAttribute('aria-selected') === 'true'; }); }
  function select(list) {
    tiles().forEach(function (t) { t.setAttribute('aria-selected', list.indexOf(t) >= 0 ? 'true' : 'false'); });
  }

  function step(delta, extend) {
    var all = tiles();
    var i = all.indexOf(current);
    var next = all[Math.max(0, Math.min(all.length - 1, (i < 0 ? 0 : i + delta)))];
    if (extend) {
      var a = all.indexOf(anchor || current), b = all.indexOf(next);
      anchor = anchor || current;
      select(all.slice(Math.min(a, b), Math.max(a, b) + 1));
    } else { anchor = next; }
    focusTile(next);
  }

  // the tile drawn above or below this one (groups sit side by side, so not a fixed column count)
  function vertical(down) {
    if (!current) { return null; }
    var here = current.getBoundingClientRect(), x = here.left + here.width / 2;
    var best = null, bestRow = null, bestDx = 0;
    tiles().forEach(function (t) {
      var box = t.getBoundingClientRect();
      var beyond = down ? box.top >= here.bottom - 1 : box.bottom <= here.top + 1;
      if (!beyond) { return; }
      var row = down ? box.top : -box.bottom, dx = Math.abs(box.left + box.width / 2 - x);
      if (bestRow === null || row < bestRow - 1 || (Math.abs(row - bestRow) <= 1 && dx < bestDx)) {
        best = t; bestRow = row; bestDx = dx;
      }
    });
    return best;
  }

  function nextUnreviewed(from) {
    var all = tiles(), i = all.indexOf(from);
    for (var n = i + 1; n < all.length; n += 1) {
      if (all[n].dataset.out && !all[n].dataset.decision) { return all[n]; }
    }
    return null;
  }

  function fill(tile) {  // the viewer's words about the image: what a refresh may change
    document.getElementById('v-key').textContent = tile.dataset.key;
    document.getElementById('v-state').textContent = tile.dataset.state;
    var d = document.getElementById('v-decision');
    d.textContent = (tile.dataset.decision || 'unreviewed') + (tile.dataset.note ? ': ' + tile.dataset.note : '');
    d.className = tile.dataset.decision || '';
    document.getElementById('v-redoes').textContent = tile.dataset.redoes ? 'redoes ' + tile.dataset.redoes : '';
    document.getElementById('v-prompt').textContent = tile.dataset.prompt;
  }

  function show(tile) {
    current = tile;
    fill(tile);
    var out = document.getElementById('v-out'), inp = document.getElementById('v-in');
    out.src = tile.dataset.out ? '/files/' + tile.dataset.out : '';
    inp.src = tile.dataset.hasInput === '1' ? '/thumb/in/' + tile.dataset.job + '/0?s=full' : '';
    nb.viewer.reset(tiles()[tiles().indexOf(tile) + 1], tile);
    document.getElementById('v-file').href = tile.dataset.out ? '/files/' + tile.dataset.out : '#';
    document.getElementById('v-input').href = tile.dataset.input || '#';
    if (viewer.hidden) { viewer.hidden = false; document.getElementById('v-close').focus(); }
  }
  // a refresh patched this tile: the viewer, open on it, updates its words and keeps zoom and pan
  nb.show = function (tile) { if (!viewer.hidden && tile === current) { fill(tile); } };

  function close() {
    if (!viewer.hidden) { viewer.hidden = true; if (current) { current.focus(); } }
  }

  function openHelp() { opener = document.activeElement; help.hidden = false; document.getElementById('help-close').focus(); }
  function closeHelp() { help.hidden = true; if (opener && opener.focus) { opener.focus(); } }

  function review(tile, decision, ask) {
    var list = viewer.hidden && selected().length ? selected() : [tile];
    var box = document.getElementById('v-note');
    var note = ask ? window.prompt('Note for ' + tile.dataset.key + ' (' + decision + ')', '') : box.value;
    if (note === null) { return; }
    var items = before(list);
    box.value = '';
    if (list.length > 1) { select([]); }
    else {  // on at once: the next key acts on the next image even while this one is being saved
      var mode = document.getElementById('mode').checked;
      var next = mode ? nextUnreviewed(tile) : tiles()[tiles().indexOf(tile) + 1];
      if (next) { focusTile(next); anchor = next; }
    }
    record(items, decision, decision === 'cleared' ? '' : note, true);
  }

  function trap(ev, box) {  // Tab stays inside an open dialog
    var items = Array.prototype.slice.call(box.querySelectorAll('a[href], button, input'))
      .filter(function (el) { return !el.disabled && el.offsetParent !== null; });
    if (!items.length) { return; }
    var first = items[0], last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) { last.focus(); ev.preventDefault(); }
    else if (!ev.shiftKey && document.activeElement === last) { first.focus(); ev.preventDefault(); }
  }

  document.addEventListener('keydown', function (ev) {
    var key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key.toLowerCase();
    if (!help.hidden) {
      if (key === 'escape' || key === '?') { closeHelp(); ev.preventDefault(); }
      else if (key === 'tab') { trap(ev, help); }
      return;
    }
    if (key === 'tab' && !viewer.hidden) { trap(ev, viewer); return; }
    var tag = ev.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || ev.target.isContentEditable) {
      if (key === 'escape') { close(); }
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && key === 'z' && !ev.shiftKey) { undo(); ev.preventDefault(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    // the image a key acts on: the viewer's, else the focused tile; never one hidden behind a button
    var onTile = ev.target.closest ? ev.target.closest('#grid .tile') : null;
    var tile = !viewer.hidden ? current : onTile;
    var onControl = !tile && (tag === 'A' || tag === 'BUTTON' || tag === 'SUMMARY');
    if (key === '?') { openHelp(); ev.preventDefault(); return; }
    if (key === 'escape') { if (!viewer.hidden) { close(); } else { select([]); } return; }
    if (key === 'u') { undo(); ev.preventDefault(); return; }
    if (!viewer.hidden && nb.viewer.key(ev.key)) { ev.preventDefault(); return; }
    if ((key === 'arrowdown' || key === 'arrowup') && viewer.hidden && tile) {
      var other = vertical(key === 'arrowdown');
      if (other) { var all = tiles(); step(all.indexOf(other) - all.indexOf(tile), ev.shiftKey); }
      ev.preventDefault(); return;
    }
    var moves = {arrowright: 1, arrowleft: -1, j: 1, k: -1};
    if (key in moves) {
      if (onControl) { return; }
      if (!tile && current) { focusTile(current); ev.preventDefault(); return; }  // the first press lands on it
      step(moves[key], ev.shiftKey && viewer.hidden); ev.preventDefault(); return;
    }
    if (key === 'a' || key === 'r' || key === 'c') {
      if (!tile) { if (!onControl) { say('move to an image first (arrow keys)'); } return; }
      review(tile, {a: 'approved', r: 'rejected', c: 'cleared'}[key], ev.shiftKey && key !== 'c');
      ev.preventDefault();
    } else if (key === 'n') {
      var next = nextUnreviewed(tile || current);
      if (next) { focusTile(next); } else { say('no unreviewed image further on this page'); }
      ev.preventDefault();
    } else if (key === 'enter' && tile && viewer.hidden) { show(tile); ev.preventDefault(); }
  });

  grid.addEventListener('focusin', function (ev) {
    var tile = ev.target.closest('.tile');
    if (tile && tile !== current) { current = tile; roving(); }
  });

  grid.addEventListener('click', function (ev) {
    var bulk = ev.target.closest('.bulk');
    if (bulk) { approveGroup(bulk.closest('.group')); return; }
    var tile = ev.target.closest('.tile');
    if (!tile) { return; }
    if (ev.shiftKey) {
      var all = tiles(), a = all.indexOf(anchor || tile), b = all.indexOf(tile);
      select(all.slice(Math.min(a, b), Math.max(a, b) + 1)); anchor = anchor || tile; focusTile(tile); return;
    }
    if (ev.ctrlKey || ev.metaKey) {
      tile.setAttribute('aria-selected', tile.getAttribute('aria-selected') === 'true' ? 'false' : 'true');
      focusTile(tile); return;
    }
    anchor = tile; focusTile(tile); show(tile);
  });

  function approveGroup(section) {
    var by = document.querySelector('#filters select[name=group]').value;
    var body = {by: by, key: section.dataset.group, decision: 'approved'};
    post('/api/batches/' + batchId + '/group', body).then(function (count) {
      if (!count.outputs) { say('nothing to review in this group yet'); return null; }
      if (count.rejected && !window.confirm(count.rejected + ' of the ' + count.outputs + ' images of this group ' +
          'are rejected. Approve all ' + count.outputs + ', the rejected ones too?')) { return null; }
      body.rejected_seen = count.rejected;
      return post('/api/batches/' + batchId + '/group', body);
    }).then(function (done) {
      if (!done) { return; }
      done.before.forEach(function (it) {
        Array.prototype.forEach.call(byOut(it.output), function (t) { mark(t, 'approved', ''); });
      });
      nb.undo.push(done.before.map(function (it) { return {out: String(it.output), decision: it.decision, note: it.note}; }));
      say(done.recorded + ' approved');
    }).catch(function (e) { say('not saved: ' + e.message); });
  }

  document.getElementById('v-close').addEventListener('click', close);
  document.getElementById('help-open').addEventListener('click', openHelp);
  document.getElementById('help-close').addEventListener('click', closeHelp);

  var size = document.getElementById('size');
  function resize() { grid.style.setProperty('--tile', size.value + 'px'); }
  try { size.value = localStorage.getItem('nb-tile') || size.value; } catch (e) { /* storage off */ }
  size.addEventListener('input', function () {
    resize();
    try { localStorage.setItem('nb-tile', size.value); } catch (e) { /* storage off */ }
  });
  resize();

  current = tiles()[0] || null;
  roving();
}());
