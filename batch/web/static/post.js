// One POST for every page of the app: a JSON body with the page's CSRF token; the JSON answer, or an
// Error carrying the server's text.
window.nbPostJSON = function (path, body) {
  'use strict';
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  return fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body)
  }).then(function (r) {
    if (!r.ok) { return r.text().then(function (t) { throw new Error(t || r.statusText); }); }
    return r.json();
  });
};
