// The dashboard's only script: custom dates are offered only while "Custom" is picked.
(() => {
  "use strict";
  const form = document.getElementById("filters");
  if (!form) return;
  const sync = () => {
    const custom = form.querySelector('input[name="range"][value="custom"]')?.checked;
    for (const input of form.querySelectorAll('input[type="date"]')) input.disabled = !custom;
  };
  form.addEventListener("change", sync);
  sync();
})();
