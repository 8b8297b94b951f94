// "Sign in with Google" on /login and /signup: Google Identity Services draws its button into
// #google-button; the ID token it hands back is posted by the hidden #google-credential form,
// which carries this page's CSRF token like every other form of the site.
(function () {
  "use strict";

  function start() {
    var holder = document.getElementById("google-button");
    var form = document.getElementById("google-credential");
    var gis = window.google && window.google.accounts && window.google.accounts.id;
    if (!holder || !form || !gis || holder.getAttribute("data-started")) {
      return; // not this page, or Google's script not loaded yet (it calls us when it is)
    }
    holder.setAttribute("data-started", "yes");
    gis.initialize({
      client_id: holder.getAttribute("data-client-id"),
      callback: function (response) {
        form.elements.namedItem("credential").value = response.credential;
        form.submit();
      },
      ux_mode: "popup",
      auto_select: false,
    });
    gis.renderButton(holder, {
      type: "standard",
      theme: "outline",
      size: "large",
      text: holder.getAttribute("data-text") || "signin_with",
      shape: "rectangular",
    });
  }

  // Google's script calls this once it has loaded; if it loaded before this script ran,
  // start() below finds it already there.
  window.onGoogleLibraryLoad = start;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
