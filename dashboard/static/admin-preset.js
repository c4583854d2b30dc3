"use strict";
/* Provider admin: picking a preset fills the form at once, before saving.

   The preset values come from the select's data-preset-fields attribute (providers/admin.py,
   from providers/presets.py), so there is no request and no inline script (CSP script-src 'self').
   Rule: kind, base URL, auth type, auth header, headers, options and max tokens cap take the
   preset's values, except a field edited by hand on this page, which keeps what was typed.
   Secrets (API key, service-account JSON, "clear key") are never touched. */
(function () {
  const FIELDS = ["kind", "base_url", "auth_type", "auth_header", "headers", "options", "max_tokens_cap"];

  function asText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value, null, 2);
    return String(value);
  }

  function setup() {
    const select = document.getElementById("id_preset");
    if (!select || !select.dataset.presetFields) return;
    const form = select.form;
    const presets = JSON.parse(select.dataset.presetFields);
    const touched = new Set();
    // Only the user's typing fires these; the values set below do not.
    form.addEventListener("input", (event) => touched.add(event.target.name));
    form.addEventListener("change", (event) => { if (event.target !== select) touched.add(event.target.name); });

    select.addEventListener("change", () => {
      const fields = presets[select.value];
      if (!fields) return;
      const filled = [];
      for (const name of FIELDS) {
        const input = form.elements.namedItem(name);
        if (!input || touched.has(name) || !(name in fields)) continue;
        input.value = asText(fields[name]);
        filled.push(name);
      }
      if (fields.kind === "vertex" && fields.options && fields.options.region) {
        const region = form.elements.namedItem("vertex_region");
        if (region && !touched.has("vertex_region")) region.value = fields.options.region;
      }
      select.dataset.filled = filled.join(" ");  // what the last pick changed (read by the browser test)
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
