/* global window, document */
// Runs the WebAuthn ceremony of a passkey form (data-passkey="create" or "get") and posts its
// result as the form's code; a failed or cancelled ceremony shows the form's error line.
// A button data-passkey="add" first asks its data-options-action for a creation request (JSON),
// then posts the ceremony's result to the verify address that came with it.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.dataset.ready === '1') return;
      event.preventDefault();
      var error = form.querySelector('[data-passkey-error]');
      if (error) error.hidden = true;
      var optionsJSON;
      try {
        optionsJSON = JSON.parse(form.dataset.options);
      } catch {
        if (error) error.hidden = false;
        return;
      }
      var ceremony = form.dataset.passkey === 'create' ? lib.startRegistration({ optionsJSON: optionsJSON }) : lib.startAuthentication({ optionsJSON: optionsJSON });
      ceremony.then(
        function (result) {
          form.querySelector('input[name="code"]').value = JSON.stringify(result);
          form.dataset.ready = '1';
          form.submit();
        },
        function () {
          if (error) error.hidden = false;
        },
      );
    });
  });

  document.querySelectorAll('button[data-passkey="add"]').forEach(function (button) {
    var form = button.form;
    var error = form.querySelector('[data-passkey-error]');
    // The page's own words (in its language) unless the server said what was wrong.
    var fallback = error.textContent;
    var show = function (message) {
      error.textContent = message || fallback;
      error.hidden = false;
    };
    // Without a live, recent sign-in the answer is a redirect, and a sign-in that moved on a 409:
    // the plain form post then shows the right page.
    var submitPlain = function () {
      form.dataset.ready = '1';
      form.submit();
    };
    form.addEventListener('submit', function (event) {
      if (form.dataset.ready === '1') return;
      event.preventDefault();
      error.hidden = true;
      button.disabled = true;
      var body = new URLSearchParams(new FormData(form));
      window
        .fetch(button.dataset.optionsAction, { method: 'POST', body: body, headers: { Accept: 'application/json' }, credentials: 'same-origin', redirect: 'manual' })
        .then(function (res) {
          if (res.type === 'opaqueredirect' || res.status === 409) return submitPlain();
          return res.json().then(function (answer) {
            if (!res.ok) return show(answer.message);
            form.querySelector('input[name="previous"]').value = answer.deviceId || '';
            return lib.startRegistration({ optionsJSON: answer.options }).then(
              function (result) {
                form.querySelector('input[name="code"]').value = JSON.stringify(result);
                form.action = answer.verifyAction;
                submitPlain();
              },
              function () {
                show();
              },
            );
          });
        })
        .catch(function () {
          show();
        })
        .finally(function () {
          button.disabled = false;
        });
    });
  });
})();
