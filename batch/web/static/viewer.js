// The viewer's comparison: input and output zoomed and panned together, a before/after flip on one
// key, keyboard zoom, and the next image fetched ahead. sheet.js opens it and passes it keys.
(function () {
  'use strict';
  var nb = window.nbSheet;
  var pair = document.querySelector('#viewer .vpair');
  var panes = Array.prototype.slice.call(pair.querySelectorAll('figure'));
  var imgs = [document.getElementById('v-in'), document.getElementById('v-out')];
  var LEVELS = [0, 1, 2, 4];  // 0: fit the pane; else times the image's own size
  var level = 0;
  var syncing = false;
  var ahead = new Image();

  function apply(fx, fy) {
    imgs.forEach(function (img) {
      if (level === 0 || !img.naturalWidth) { img.classList.remove('zoom'); img.style.width = ''; return; }
      img.classList.add('zoom');
      img.style.width = (img.naturalWidth * level) + 'px';
    });
    pair.dataset.zoom = String(level);
    panes.forEach(function (pane) {  // the point looked at stays in the middle of both panes
      pane.scrollLeft = fx * pane.scrollWidth - pane.clientWidth / 2;
      pane.scrollTop = fy * pane.scrollHeight - pane.clientHeight / 2;
    });
  }

  function zoom(step, fx, fy) {
    var i = LEVELS.indexOf(level);
    level = LEVELS[Math.max(0, Math.min(LEVELS.length - 1, i + step))];
    apply(fx === undefined ? 0.5 : fx, fy === undefined ? 0.5 : fy);
  }

  panes.forEach(function (pane) {
    pane.addEventListener('scroll', function () {  // panned together
      if (syncing) { return; }
      syncing = true;
      var fx = pane.scrollLeft / Math.max(1, pane.scrollWidth - pane.clientWidth);
      var fy = pane.scrollTop / Math.max(1, pane.scrollHeight - pane.clientHeight);
      panes.forEach(function (other) {
        if (other === pane) { return; }
        other.scrollLeft = fx * (other.scrollWidth - other.clientWidth);
        other.scrollTop = fy * (other.scrollHeight - other.clientHeight);
      });
      syncing = false;
    });
  });

  pair.addEventListener('click', function (ev) {
    if (ev.target.tagName !== 'IMG' || !ev.target.src) { return; }
    var box = ev.target.getBoundingClientRect();
    var fx = (ev.clientX - box.left) / box.width, fy = (ev.clientY - box.top) / box.height;
    level = level === 0 ? 1 : 0;  // a click: 100% at the point clicked, or back to fit
    apply(fx, fy);
    ev.stopPropagation();
  });

  var strip = document.getElementById('v-attempts');

  // every attempt at this image's job (the rejected original, each rerun), the one shown marked
  function attempts(tile) {
    strip.textContent = '';
    fetch('/api/batches/' + nb.batchId + '/attempts/' + tile.dataset.job, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); }).then(function (list) {
        if (list.length < 2) { return; }
        list.forEach(function (job) {
          job.outputs.forEach(function (out) {
            var item = document.createElement('figure');
            item.className = 'attempt' + (String(out.id) === tile.dataset.out ? ' shown' : '');
            var img = document.createElement('img');
            img.src = '/thumb/out/' + out.id;
            img.alt = job.key;
            var cap = document.createElement('figcaption');
            cap.textContent = job.key + ': ' + (out.decision || 'unreviewed') + (out.note ? ' (' + out.note + ')' : '');
            item.appendChild(img); item.appendChild(cap); strip.appendChild(item);
          });
        });
      }).catch(function () {});
  }

  nb.viewer = {
    reset: function (next, tile) {
      if (tile) { attempts(tile); }
      level = 0;
      delete pair.dataset.show;
      apply(0.5, 0.5);
      if (next && next.dataset.out) { ahead.src = '/files/' + next.dataset.out; }  // the next one, ready
    },
    key: function (key) {
      if (key === '+' || key === '=') { zoom(1); return true; }
      if (key === '-') { zoom(-1); return true; }
      if (key === '0') { level = 0; apply(0.5, 0.5); return true; }
      if (key === 'b') {  // before/after in one pane: the input in the output's place, and back
        var before = pair.dataset.show !== 'before';
        pair.dataset.show = before ? 'before' : 'after';
        nb.say(before ? 'before: the input (b: the output; B: side by side)' : 'after: the output');
        return true;
      }
      if (key === 'B') { delete pair.dataset.show; nb.say('side by side'); return true; }
      return false;
    }
  };
}());
