// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The account switcher submits itself when a new account is chosen.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  // Buttons that ask before a change (cancel a request, remove something).
  for (const button of document.querySelectorAll("[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  // The template editor's preview follows the typing (without this file: the Preview button).
  const editor = document.querySelector("form[data-preview]");
  const area = document.getElementById("preview-area");
  if (editor && area) {
    let timer = null;
    let latest = 0;
    const refresh = async () => {
      const mine = ++latest;
      const data = new URLSearchParams();
      for (const name of ["csrf_token", "subject", "body"]) {
        data.set(name, editor.elements[name].value);
      }
      data.set("fragment", "1");
      try {
        const response = await fetch(editor.dataset.preview, {
          method: "POST", body: data, credentials: "same-origin",
        });
        const html = await response.text();
        if (response.ok && mine === latest) area.innerHTML = html;
      } catch (error) {
        // Offline or signed out: the Preview button still shows it.
      }
    };
    editor.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  }
});
