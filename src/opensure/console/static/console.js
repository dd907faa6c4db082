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
  // The survey builder: "Move up"/"Move down" move the question in the page (the form sends
  // questions in page order), and the field the server asks for gets the focus.
  const builder = document.querySelector("form.builder");
  if (builder) {
    const list = builder.querySelector("#questions");
    const renumber = () => {
      const cards = [...list.children];
      cards.forEach((card, i) => {
        const up = card.querySelector("[data-move=up]");
        const down = card.querySelector("[data-move=down]");
        if (up) up.disabled = i === 0;
        if (down) down.disabled = i === cards.length - 1;
        const legend = card.querySelector("legend");
        if (legend && legend.firstChild && legend.firstChild.nodeType === Node.TEXT_NODE) {
          legend.firstChild.textContent = `Question ${i + 1} `;
        }
      });
    };
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-move]");
      if (!button) return;
      event.preventDefault();
      const card = button.closest("li");
      const other = button.dataset.move === "up" ? card.previousElementSibling : card.nextElementSibling;
      if (!other) return;
      if (button.dataset.move === "up") list.insertBefore(card, other);
      else list.insertBefore(other, card);
      renumber();
      (button.disabled ? card.querySelector("[data-move]:not([disabled])") : button).focus();
    });
    const focus = builder.dataset.focus && document.getElementById(builder.dataset.focus);
    if (focus && !focus.disabled) focus.focus();
  }
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
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
