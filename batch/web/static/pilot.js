// The pilot page: review each variant's output, choose a variant per style, approve or reject the pilot.
(function () {
  'use strict';
  var batchId = document.getElementById('pilot-summary').dataset.batch;
  var message = document.getElementById('message');

  var post = window.nbPostJSON;

  function failed(err) { message.textContent = 'error: ' + err.message; }

  document.querySelectorAll('button.review').forEach(function (button) {
    button.addEventListener('click', function () {
      var tile = button.closest('.tile');
      post('/api/batches/' + batchId + '/review', {job_ids: [Number(tile.dataset.job)],
                                                   decision: button.dataset.decision})
        .then(function () { window.location.reload(); }, failed);
    });
  });

  function chosen() {
    var variants = {};
    document.querySelectorAll('fieldset.choice').forEach(function (set) {
      var picked = set.querySelector('input:checked');
      if (picked) { variants[set.dataset.style] = picked.value; }
    });
    return variants;
  }

  function decide(body) {
    post('/api/batches/' + batchId + '/pilot', body).then(function (answer) {
      var verdict = 'pilot ' + (body.decision === 'approve' ? 'approved' : 'rejected');
      document.getElementById('pilot-summary').textContent = verdict;
      message.textContent = verdict + ': ' +
        answer.released + ' jobs released, ' + answer.cancelled + ' cancelled unpaid' +
        (answer.hint ? '; ' + answer.hint : '');
      document.querySelectorAll('#pilot-decision button, #pilot-decision input').forEach(function (el) {
        el.disabled = true;
      });
    }, failed);
  }

  var approve = document.getElementById('pilot-approve');
  if (approve) { approve.addEventListener('click', function () { decide({decision: 'approve', variants: chosen()}); }); }
  var reject = document.getElementById('pilot-reject');
  if (reject) { reject.addEventListener('click', function () { decide({decision: 'reject'}); }); }
}());
