// /api/docs: starts Swagger UI (served from node_modules/swagger-ui-dist) on our OpenAPI document.
// No validator badge (it would load an image from validator.swagger.io, which the CSP forbids).
(function () {
  "use strict";
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
  });
})();
