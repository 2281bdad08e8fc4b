// Starts Swagger UI on this server's own schema. A file rather than an inline script,
// so the page's Content-Security-Policy can allow scripts from 'self' only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No badge fetched from validator.swagger.io: the page talks to this server only.
  validatorUrl: null,
});
