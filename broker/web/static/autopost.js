// autopost.js submits the form of the auto-post page (SAML HTTP-POST binding) as
// soon as the page is parsed. It is a file, not an inline script, because the
// Content-Security-Policy allows scripts from our origin only. Without JavaScript
// the page's visible "Continuer" button does the same.
(function () {
  "use strict";
  function submit() {
    var form = document.getElementById("autopost");
    if (form) {
      form.submit();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submit);
  } else {
    submit();
  }
})();
