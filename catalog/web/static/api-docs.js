// Starts Swagger UI on /api/docs over the OpenAPI document the page names. A file, not an inline
// script, so the page keeps the Content-Security-Policy of every page.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // never send the document to a third party to be checked
    // "Try it out" with the login cookie: an API write needs the session's CSRF token too.
    requestInterceptor: function (req) {
      if (csrf && req.method && req.method.toUpperCase() !== "GET") {
        req.headers["X-CSRF-Token"] = csrf.getAttribute("content");
      }
      return req;
    },
  });
})();
