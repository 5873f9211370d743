// The batches page: refresh each row's progress from /api/batches every 2 s (no reload).
(function () {
  'use strict';
  function text(el, value) { if (el) { el.textContent = value; } }
  function money(v) { return '$' + Number(v).toFixed(2); }
  function chips(cell, counts) {
    cell.replaceChildren();
    Object.keys(counts).sort().forEach(function (s) {
      var chip = document.createElement('span');
      chip.className = 'chip s-' + s;
      chip.textContent = s + ' ' + counts[s];
      cell.appendChild(chip);
    });
  }
  function update(b) {
    var row = document.getElementById('batch-' + b.id);
    if (!row) { return; }
    row.querySelector('.fill').style.width = (b.total ? 100 * b.finished / b.total : 0) + '%';
    text(row.querySelector('.done'), b.finished + '/' + b.total);
    chips(row.querySelector('.counts'), b.counts);
    text(row.querySelector('.eta'), b.rate + ' · ' + b.eta);
    text(row.querySelector('.spend'), money(b.cost_usd) + (b.budget_usd === null ? '' : ' / ' + money(b.budget_usd)));
    text(row.querySelector('.reviews'), (b.reviews.approved || 0) + ' ✓ · ' + (b.reviews.rejected || 0) + ' ✗');
    var events = row.querySelector('.events');
    events.replaceChildren();
    b.events.forEach(function (e) { var d = document.createElement('div'); d.textContent = e; events.appendChild(d); });
  }
  function poll() {
    fetch('/api/batches', {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        if (list.some(function (b) { return !document.getElementById('batch-' + b.id); })) { location.reload(); return; }
        list.forEach(update);
      }).catch(function () {}).finally(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
}());
