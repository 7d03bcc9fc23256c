/* global window, document */
// Runs the WebAuthn ceremony of a passkey form (data-passkey="create" or "get") and posts its
// result as the form's code; a failed or cancelled ceremony shows the form's error line.
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
})();
