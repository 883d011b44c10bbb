// Every htmx request carries this page's CSRF token (the server refuses unsafe requests without it).
document.addEventListener("htmx:config:request", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.ctx.request.headers["x-csrftoken"] = token;
});
